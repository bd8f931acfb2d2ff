"""How experiments are told apart on the screen: a config name, and where the runs under one
name are of different experiments (identity.py), the differences as `@key=value` labels.

Runs are grouped by (name, identity key): one group is one experiment. Its label is

    NAME                       the experiment is the shipped config of that name, or the only
                               experiment under that name
    NAME @key=value,key=value  what differs (`--set` overrides): from the shipped config
                               configs/NAME.yaml when there is one, else from the other
                               experiments under that name (the keys on which they disagree)

The name is kept apart from the identity on purpose: a row's name says which of the book's
figures it is set beside, so a copy of a shipped config under another name is its own row.

`scaled_down` names what makes a run a reduced version of a shipped config (another
train_limit, fewer epochs, other data): its numbers are not the book's protocol, and
reports set no difference beside the book's figure for it.

Reads the shipped configs (nnbook's checkout's configs/, where nnbook runs from one); no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

from nnbook.config.identity import differences, identity_key
from nnbook.config.loading import load_config
from nnbook.config.schema import Config
from nnbook.errors import NnbookError
from nnbook.provenance import SOURCE_ROOT

SHIPPED = SOURCE_ROOT / "configs"
# The keys whose change makes a run a reduced copy of the shipped experiment (epochs: fewer only).
SCALING_KEYS = ("train_limit", "data")


@lru_cache(maxsize=None)
def shipped_config(name: Optional[str]) -> Optional[Config]:
    """The config shipped as configs/NAME.yaml, or None (no such file, a sweep, not valid)."""
    path = SHIPPED / f"{name}.yaml"
    if not name or "/" in name or not path.is_file():
        return None
    try:
        return load_config(path)
    except NnbookError:
        return None


@dataclass(eq=False)  # one object per experiment: hashed by identity, a dict key for its runs
class Experiment:
    """One experiment among those shown together: its name, identity key, a config of it and how
    it differs from the shipped config of its name (or from the others under its name)."""

    name: str
    key: str  # identity_key; "" where the config could not be read
    config: Optional[Config]
    differences: list[str] = field(default_factory=list)  # key=value
    scaled_down: list[str] = field(default_factory=list)  # key=value: a reduced shipped protocol

    @property
    def label(self) -> str:
        return self.name + (f" @{','.join(self.differences)}" if self.differences else "")


def experiments_of(named_configs: Iterable[tuple[str, Optional[Config]]]) -> dict[tuple[str, str], Experiment]:
    """(name, identity key) -> its Experiment, for the configs shown together (one per run; None
    for a run whose config cannot be read), in first-seen order."""
    found: dict[tuple[str, str], Experiment] = {}
    for name, config in named_configs:
        found.setdefault(experiment_key(name, config), Experiment(name, experiment_key(name, config)[1], config))
    for e in found.values():
        if e.config is None:
            continue
        reference = shipped_config(e.name)
        if reference is not None:
            e.differences = [short(d) for d in differences(e.config, reference)]
            e.scaled_down = [short(d) for d in scaled_down(e.config, reference)]
        else:
            others = [o.config for o in found.values() if o.name == e.name and o is not e and o.config is not None]
            e.differences = unique(short(d) for o in others for d in differences(e.config, o))
    return found


def experiment_key(name: str, config: Optional[Config]) -> tuple[str, str]:
    """What runs of one experiment share: their name and their identity key ("" unread)."""
    return name, identity_key(config) if config is not None else ""


def scaled_down(config: Config, shipped: Config) -> list[str]:
    """What makes `config` a reduced version of `shipped`: another train_limit or data, fewer epochs."""
    changed = [d for d in differences(config, shipped) if d.split("=", 1)[0] in SCALING_KEYS]
    return changed + ([f"epochs={config.epochs}"] if config.epochs < shipped.epochs else [])


def short(difference: str) -> str:
    """A difference as a label shows it: a data file by its file name, not its whole path."""
    key, _, value = difference.partition("=")
    return f"{key}={Path(value).name}" if key == "data" and "/" in value else difference


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
