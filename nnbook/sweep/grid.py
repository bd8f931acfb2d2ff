"""Grid sweeps: a config with a `sweep:` block becomes points, each point ordinary runs.

A sweep config is an ordinary experiment config plus a grid:

    sweep:
      lmbda: [0.0, 1.0e-5, 1.0e-4]      # any key, dotted paths reach into lists:
      layers.2.units: [100, 300]        # the same paths as `--set`

The grid is the product of the lists, in the order written. Each point is the
config with those keys set, named `<name>@<key>=<value>[,<key>=<value>...]`
(so `nnbook report`, which groups runs by name, groups them by point), and
trains `repeats` runs (seeds seed, seed+1, ...) into ordinary run directories.

This module owns the grid, its points and their names, and reading a sweep
config. What is already done and what is left is plan.py's; training the jobs
is the placement's (execution/); the grid table and plot are
results.py's; run.py ties them together for `nnbook sweep`.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from nnbook.config import Config, apply_override, find_config, read_yaml, seeds_of, set_key, validate
from nnbook.errors import ConfigError

# Keys a grid may not sweep: the name is the point's, repeats are the point's runs.
RESERVED = ("name", "repeats", "sweep")
# PyYAML reads YAML 1.1, where `1e-5` (no dot) is a string, not a float.
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


# ----------------------------------------------------------------------------- the grid


@dataclass
class Point:
    values: dict[str, Any]  # swept key -> value, in the grid's order
    config: Config  # the point's resolved config: its own name, all its repeats

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def label(self) -> str:
        return point_label(self.values)

    @property
    def seeds(self) -> list[int]:
        return seeds_of(self.config)

    @property
    def value_texts(self) -> dict[str, str]:
        """Each swept value as it appears in the run name (and in the grid's tables)."""
        return {key: format_value(value) for key, value in self.values.items()}


@dataclass
class Sweep:
    name: str  # the base config's name; points are `<name>@<label>`
    source: str  # the config file
    keys: list[str]
    points: list[Point]

    @property
    def n_runs(self) -> int:
        return sum(len(p.seeds) for p in self.points)


def load_sweep(path: str | Path, overrides: list[str] = (), grid: list[str] = (),
               repeats: Optional[int] = None) -> Sweep:
    """Read a config, its `sweep:` block and `--grid` options; validate every point
    before anything trains, so a bad value at point 9 is found at once."""
    path = find_config(path)
    source = str(path)
    raw = read_yaml(path)
    axes = read_grid(raw.pop("sweep", None), source)
    for option in grid:  # --grid replaces that key's values from the file, or adds a key
        key, values = parse_grid_option(option)
        axes[key] = values
    if not axes:
        raise ConfigError(f"{source}: no `sweep:` block and no --grid; give the grid, e.g. "
                          "--grid lmbda=0,0.1,1 (repeat --grid for more keys)")
    raw.setdefault("name", path.stem)
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        if key in axes:
            raise ConfigError(f"--set {key}: {key} is swept; change its values with --grid {key}=V1,V2,...")
        apply_override(raw, assignment)
    if repeats is not None:
        raw["repeats"] = repeats
    base = str(raw["name"])

    points, names = [], {}
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo))
        label = point_label(values)
        point_raw = copy.deepcopy(raw)
        point_raw["name"] = f"{base}@{label}"
        for key, value in values.items():
            set_key(point_raw, key, copy.deepcopy(value), origin=f"{source}: sweep.{key}")
        config = validate(point_raw, source=f"{source} (sweep point {label})")
        if config.name in names:
            raise ConfigError(f"{source}: sweep points {names[config.name]} and {label} would share the run name "
                              f"{config.name!r}; remove the duplicate value")
        names[config.name] = label
        points.append(Point(values, config))
    return Sweep(base, source, list(axes), points)


def read_grid(block: Any, source: str) -> dict[str, list]:
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"{source}: sweep must map keys to lists of values, e.g. sweep: {{lmbda: [0.0, 0.1, 1.0]}}")
    axes = {}
    for key, values in block.items():
        key = str(key)
        check_key(key, f"{source}: sweep.{key}")
        if not isinstance(values, list):
            raise ConfigError(f"{source}: sweep.{key} = {values!r}: must be a list of values, e.g. [{values}, ...]")
        if not values:
            raise ConfigError(f"{source}: sweep.{key} is empty; give at least one value")
        axes[key] = [as_number(v) for v in values]
    return axes


def parse_grid_option(option: str) -> tuple[str, list]:
    """`--grid KEY=V1,V2,...`: each value is YAML (`--grid early_stopping={patience: 5},null` works)."""
    key, sep, text = option.partition("=")
    key = key.strip()
    if not sep or not key or not text.strip():
        raise ConfigError(f"--grid {option!r}: expected KEY=V1,V2,..., e.g. --grid lmbda=0,1e-5,0.1")
    check_key(key, f"--grid {key}")
    try:
        values = yaml.safe_load(f"[{text}]")
    except yaml.YAMLError:
        raise ConfigError(f"--grid {option!r}: the values {text!r} are not a comma-separated YAML list") from None
    return key, [as_number(v) for v in values]


def check_key(key: str, where: str) -> None:
    if key in RESERVED:
        raise ConfigError(f"{where}: {key!r} cannot be swept (the name is the point's; use --repeats for seeds)")


def as_number(value: Any) -> Any:
    return float(value) if isinstance(value, str) and NUMBER.fullmatch(value.strip()) else value


def format_value(value: Any) -> str:
    """A value as it appears in a run name: short, exact, safe in a file name."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = repr(value).removesuffix(".0")  # 0.1, 1e-05, 100
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        text = json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"  # {"patience":2} -> patience_2


def point_label(values: dict[str, Any]) -> str:
    return ",".join(f"{key}={format_value(value)}" for key, value in values.items())
