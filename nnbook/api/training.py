"""`nnbook.train`: train an experiment from Python and get its runs back.

The config is a path, a shipped config's name ("ch6_shallow"), a dict in the YAML's shape or a
`Config`; keyword arguments override its keys as `--set` does, with Python values
(`epochs=1`; a dotted key through a dict: `**{"layers.2.units": 300}`). The runs train as
`nnbook train` trains them (`train_config`, the one path both take, into execution/), write
the same run directories, and come back read from those directories (results.py), so what `train` returns
is what `load_runs` reads later. Quiet unless `verbose`; `on_epoch(seed, record)` is called
after every epoch of every run with the epoch's metrics.jsonl line (an EpochRecord).

A run that diverges is returned with status "diverged" (the command line makes that exit 1);
a mistake in the config raises ConfigError, and Ctrl-C (a notebook's interrupt) raises
Interrupted after keeping every finished epoch (resume with `nnbook train --resume RUN_DIR`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Optional, Union

from nnbook.api.results import Experiment, experiments_of
from nnbook.config import Config, find_config, load_config, seeds_of, set_key, validate
from nnbook.errors import ConfigError
from nnbook.execution.placement import Asked
from nnbook.execution.stack import Dirs
from nnbook.execution.train import Displays
from nnbook.experiments.display import Display, RunResult, Silent
from nnbook.records import EpochRecord

ConfigLike = Union[str, Path, dict, Config]
OnEpoch = Callable[[int, EpochRecord], None]  # (the run's seed, its epoch's record)


def train(config: ConfigLike, *, on_epoch: Optional[OnEpoch] = None, verbose: bool = False,
          runs_dir: Union[str, Path] = "runs", data_dir: Union[str, Path, None] = None,
          **overrides: Any) -> Experiment:
    """Train the config's runs (its `repeats` seeds) and return them as one Experiment: each run's
    directory, resolved config, summary and per-epoch metrics. They train in this process (so
    `on_epoch` sees every epoch and a notebook's interrupt stops them), on torch's threads as the
    caller has them (torch.set_num_threads), in the stacks `nnbook train` would choose."""
    import torch  # deferred: reading runs (load_runs) needs none

    cfg, source = experiment_config(config, overrides)
    shown = Watched(train_display(verbose), on_epoch)
    displays = Displays(training=lambda: shown, pool=lambda: None)  # no worker processes: no pool to show
    asked = Asked(workers=1, threads=torch.get_num_threads())
    results = train_config(cfg, source, Dirs(Path(runs_dir), data_dir and Path(data_dir)), displays, asked)
    [experiment] = experiments_of([r.path for r in results])
    return experiment


def experiment_config(config: ConfigLike, overrides: dict[str, Any]) -> tuple[Config, str]:
    """The validated config and where it came from (for messages)."""
    if isinstance(config, Config):
        config = config.model_dump(mode="json")
    if isinstance(config, dict):
        raw = copy.deepcopy(config)
        for key, value in overrides.items():
            set_key(raw, key, value, origin=f"{key}={value!r}")
        return validate(raw, source="the config given"), "the config given"
    if isinstance(config, (str, Path)):
        path = find_config(config)
        return load_config(path, values=overrides), str(path)
    raise ConfigError(f"config: a {type(config).__name__}; give a path, a shipped config's name "
                      "(nnbook list), a dict or a Config")


def train_config(config: Config, source: str, dirs: Dirs, displays: Displays, asked: Asked = Asked()
                 ) -> list[RunResult]:
    """The one way a config's runs are trained, `nnbook train`'s and nnbook.train's: its seeds where
    `asked` says (execution/), into run directories under `dirs.runs_dir`."""
    from nnbook.execution.train import Runs, train_runs  # deferred: torch (reading runs needs none)

    return train_runs(Runs(config, seeds_of(config), source=source), dirs, displays, asked)


def train_display(verbose: bool) -> Display:
    """What nnbook.train shows: `nnbook train`'s display when asked, else nothing."""
    if not verbose:
        return Silent()
    from nnbook.ui.train_display import TrainDisplay

    return TrainDisplay(quiet=False)


class Watched:
    """A Display that shows what `inner` shows and hands every run's epoch to `on_epoch`."""

    def __init__(self, inner: Display, on_epoch: Optional[OnEpoch]):
        self._inner, self._on_epoch = inner, on_epoch

    def __getattr__(self, name: str):  # start, print, progress, finish, ...: the inner display's
        return getattr(self._inner, name)

    def epoch(self, report) -> None:
        self._inner.epoch(report)
        if self._on_epoch is not None:
            for seed, record in zip(report.seeds, report.records):
                if record is not None:  # None: a member that had stopped before this epoch
                    self._on_epoch(seed, record)
