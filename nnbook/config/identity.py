"""An experiment's identity: what makes two runs the same experiment, defined once.

Two runs are runs of one experiment when their resolved configs agree on everything that
changes what a run computes. Left out, because they do not:
  - `seed`:    the runs of one experiment differ in it (mean, std and vote are over seeds);
  - `repeats`: how many seeds were asked, not what one run computes;
  - `device`:  where it trained (cpu, cuda, ...); the same computation to rounding;
  - `cuda_graph`: whether a GPU replayed the step as a recorded graph or ran it op by op:
               the same kernels on the same numbers;
  - `name`:    a label: a copy of a config under another file name is the same experiment.
Threads and output paths (runs_dir, data_dir, --out) are not config keys: never part of it.
Everything else is: data, train_limit, layers, epochs, eta, lmbda, schedule, mu, dtype, init,
augment, monitor (it decides which diagnostics are recorded, which the report shows), ...

Reports, plots, ensembles, sweep results and resume's "the same experiment" checks all group
and compare runs by `identity` / `identity_key`; `differences` names how two identities differ,
as `key=value` labels (a sweep point's `@key=value`). No torch, no files.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nnbook.config.schema import Config

NOT_IDENTITY = ("seed", "repeats", "device", "cuda_graph", "name")


def identity(config: Config) -> dict:
    """The resolved config as JSON data, less NOT_IDENTITY."""
    return config.model_dump(mode="json", exclude=set(NOT_IDENTITY))


def identity_key(config: Config) -> str:
    """A short fingerprint of `identity(config)`: equal for runs of one experiment."""
    text = json.dumps(identity(config), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def differences(config: Config, reference: Config) -> list[str]:
    """How `config`'s identity differs from `reference`'s, as dotted `key=value` (YAML-style
    values; `key=(absent)` for a key the reference has and this config lacks)."""
    return _leaves_that_differ(identity(config), identity(reference), "")


def _leaves_that_differ(new: Any, old: Any, key: str) -> list[str]:
    if isinstance(new, dict) and isinstance(old, dict):
        return [d for k in list(new) + [k for k in old if k not in new]
                for d in _leaves_that_differ(new.get(k, "(absent)"), old.get(k, "(absent)"),
                                             f"{key}.{k}" if key else k)]
    if isinstance(new, list) and isinstance(old, list) and len(new) == len(old):
        return [d for i, (a, b) in enumerate(zip(new, old)) for d in _leaves_that_differ(a, b, f"{key}.{i}")]
    return [] if new == old else [f"{key}={_yaml_value(new)}"]


def _yaml_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":")).replace('"', "")
    return str(value)
