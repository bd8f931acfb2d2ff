"""`nnbook list`: the shipped experiments at a glance, so a reader can pick one
without opening YAML files.

One `Entry` per config in a configs directory (the shipped ones unless told, shipped.py): its chapter, name, the network in one
line, data, epochs, runs, the book's figure with the statistic it is, and a rough
time per run (execution/timing.py, when asked). Sweep configs are listed with their number
of points. Reads configs only; trains nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.book import FIGURES, STATISTICS
from nnbook.config.loading import read_yaml, validate
from nnbook.config.schema import Config, ConvPoolLayer, SoftmaxLayer
from nnbook.config.shipped import SHIPPED_DIR
from nnbook.errors import ConfigError


@dataclass
class Entry:
    chapter: str  # "1", "3", "5", "6" or "beyond"
    name: str
    path: Path
    config: Config  # for a sweep, its first point
    network: str
    data: str
    runs: int  # repeats x points
    points: int  # 1, or a sweep's number of points
    figure: Optional[float]  # the book's, percent
    statistic: str  # what the figure measures
    seconds_per_run: Optional[float] = None


def chapter_of(name: str) -> str:
    m = re.match(r"ch(\d+)_", name)
    return m.group(1) if m else "beyond"


def describe_network(config: Config) -> str:
    """The layers in one line: '784-100-10' for fully connected nets, else a chain of layers."""
    if not any(isinstance(layer, ConvPoolLayer) for layer in config.layers):
        sizes = "-".join(["784"] + [str(layer.units) for layer in config.layers])
        hidden = sorted({layer.activation for layer in config.layers[:-1]})
        last = config.layers[-1]
        output = "softmax" if isinstance(last, SoftmaxLayer) else config.cost.replace("_", "-")
        drop = sorted({layer.p_dropout for layer in config.layers if layer.p_dropout})
        return (f"{sizes} {'/'.join(hidden)}, {output}"
                + (f", dropout {'/'.join(f'{p:g}' for p in drop)}" if drop else ""))
    parts = []
    for layer in config.layers:  # the book's conv layers are 5x5 with 2x2 pooling: say only otherwise
        if isinstance(layer, ConvPoolLayer):
            shape = "" if (layer.kernel, layer.pool) == (5, 2) else f"@{layer.kernel}x{layer.kernel}/{layer.pool}"
            parts.append(f"conv {layer.filters}{shape}")
        elif isinstance(layer, SoftmaxLayer):
            parts.append("softmax")
        else:
            parts.append(f"fc {layer.units}")
        if getattr(layer, "p_dropout", 0):
            parts[-1] += f" p{layer.p_dropout:g}"
    acts = sorted({layer.activation for layer in config.layers if hasattr(layer, "activation")})
    return ", ".join(parts) + f" ({'/'.join(acts)})"


def describe_data(config: Config) -> str:
    data = {"mnist": "mnist", "mnist_expanded": "expanded"}.get(config.data) or Path(config.data).name
    return data + (f"[:{config.train_limit}]" if config.train_limit else "")


def load_entry(path: Path) -> Entry:
    raw = read_yaml(path)
    grid = raw.pop("sweep", None)
    points = 1
    if isinstance(grid, dict):  # a sweep: the product of its lists (`nnbook sweep --dry-run` lists them)
        for values in grid.values():
            points *= len(values) if isinstance(values, list) else 1
    raw.setdefault("name", path.stem)
    config = validate(raw, source=str(path))
    figure = FIGURES.get(config.name, {})
    return Entry(chapter_of(config.name), config.name, path, config, describe_network(config),
                 describe_data(config), config.repeats * points, points, figure.get("figure"),
                 STATISTICS.get(figure.get("statistic"), ""))


def check_configs_dir(configs_dir: Optional[Path]) -> Path:
    """`configs_dir` (None: the configs shipped with nnbook), or a one-line error when it is not a
    directory."""
    if configs_dir is None:
        return SHIPPED_DIR
    configs_dir = Path(configs_dir)
    if not configs_dir.is_dir():
        raise ConfigError(f"--configs-dir {configs_dir}: no such directory (leave --configs-dir out for the "
                          "configs shipped with nnbook)")
    return configs_dir


def catalogue(configs_dir: Optional[Path] = None, chapter: Optional[str] = None) -> list[Entry]:
    """Every config in `configs_dir` (default: the shipped ones; of `chapter` only, if given), in the
    book's order."""
    where = "the shipped configs" if configs_dir is None else str(configs_dir)
    configs_dir = check_configs_dir(configs_dir)
    entries = [load_entry(p) for p in sorted(configs_dir.glob("*.yaml"))]
    order = {"1": 1, "3": 3, "5": 5, "6": 6, "beyond": 7}
    if chapter is not None:
        chapters = sorted({e.chapter for e in entries}, key=lambda c: order.get(c, 9))
        if str(chapter) not in chapters:
            raise ConfigError(f"--chapter {chapter}: no configs of that chapter in {where}; the chapters "
                              f"there are {', '.join(chapters) or 'none'}")
        entries = [e for e in entries if e.chapter == str(chapter)]
    book_order = {name: i for i, name in enumerate(FIGURES)}
    return sorted(entries, key=lambda e: (order.get(e.chapter, 9), book_order.get(e.name, len(book_order)), e.name))
