"""A config's repeats: the seeds of its runs, and each run's own config.

`repeats: N` trains N runs of one config, seeded seed, seed+1, ..., seed+N-1; each run's
directory records the config resolved for it alone (its seed, one repeat), which is what
`nnbook train RUN/config.yaml` reruns. How a seed becomes the run's generators is
nnbook/seeds.py's.
"""

from __future__ import annotations

from typing import Optional

from nnbook.config.schema import Config


def seeds_of(config: Config, count: Optional[int] = None) -> list[int]:
    """The seeds of the config's runs: seed, seed+1, ... (`count` of them; default its repeats)."""
    return [config.seed + i for i in range(config.repeats if count is None else count)]


def run_config(config: Config, seed: int) -> Config:
    """The resolved config of one run: its own seed, a single repeat."""
    return config.model_copy(update={"seed": seed, "repeats": 1})
