"""A config's repeats: the seeds of its runs, and each run's own config.

`repeats: N` trains N runs of one config, seeded seed, seed+1, ..., seed+N-1; each run's
directory records the config resolved for it alone (its seed, one repeat), which is what
`nnbook train RUN/config.yaml` reruns. How a seed becomes the run's generators is
nnbook/seeds.py's.
"""

from __future__ import annotations

import json
from typing import Optional

from nnbook.config.schema import Config


def seeds_of(config: Config, count: Optional[int] = None) -> list[int]:
    """The seeds of the config's runs: seed, seed+1, ... (`count` of them; default its repeats)."""
    return [config.seed + i for i in range(config.repeats if count is None else count)]


def run_config(config: Config, seed: int) -> Config:
    """The resolved config of one run: its own seed, a single repeat."""
    return config.model_copy(update={"seed": seed, "repeats": 1})


# What the members of one stack (one StackedNet) may differ in: their run's name, seed and
# the hyperparameters the update rule takes per member. Everything else is the stack's:
# the layers, the data, the epochs, the schedule's shape, the device and dtype.
PER_MEMBER = ("name", "seed", "repeats", "eta", "lmbda", "mu")


def stack_key(config: Config) -> str:
    """Configs with the same key can train as members of one stack, each the run it would be
    alone (the same arithmetic; the last bits may round differently beside other members).
    Momentum on or off is the stack's: a member without momentum beside one with it would take
    the momentum arithmetic (the same rule, rounded differently)."""
    shared = config.model_dump(mode="json", exclude=set(PER_MEMBER))
    shared["momentum"] = config.mu > 0
    return json.dumps(shared, sort_keys=True)
