"""What the Python API hands back: a run as its directory holds it (`RunRecord`), the runs of one
experiment (`Experiment`), and `load_runs`, which reads run directories into experiments.

Plain dataclasses and lists over a run directory's own records: the resolved config
(config/schema.Config), summary.json (runs/records.Summary) and metrics.jsonl (one
records.EpochRecord per epoch). An experiment is the runs whose configs share one identity
(config/identity.py: the resolved config less seed, repeats, device and name), so the seeds
of a config are one experiment, and a `--set epochs=1` trial of it is another.
Its statistics are nnbook/statistics.py's, over its finished runs, as `nnbook report` counts
them. `to_frame()` makes a pandas DataFrame where pandas is installed; nnbook does not depend
on it. Reads only; never trains; no torch.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

from nnbook.analysis.report import expand_paths
from nnbook.config import Config
from nnbook.config.identity import differences, identity_key
from nnbook.errors import ConfigError, NnbookError
from nnbook.records import FINISHED, EpochRecord
from nnbook.runs import directory as runs
from nnbook.runs.records import Summary
from nnbook.statistics import Spread, best_by_validation, has_result, results_of, spread

Paths = Union[str, Path, Sequence[Union[str, Path]]]


@dataclass
class RunRecord:
    """One run: its directory, resolved config, summary and per-epoch metrics (epochs from 1)."""

    path: Path
    config: Config
    summary: Summary
    metrics: list[EpochRecord]

    @property
    def seed(self) -> Optional[int]:
        return self.summary.seed

    @property
    def status(self) -> Optional[str]:
        return self.summary.status

    @property
    def best_validation_accuracy(self) -> Optional[float]:
        return self.summary.best_validation_accuracy

    @property
    def test_accuracy(self) -> Optional[float]:
        """At the best validation epoch (a fraction): nnbook's figure of merit."""
        return self.summary.test_accuracy

    def rows(self) -> list[dict]:
        """One dict per epoch: the run, its seed, then the epoch's metrics.jsonl line."""
        return [{"run": self.path.name, "seed": self.seed, **record.to_json()} for record in self.metrics]

    def to_frame(self):
        """rows() as a pandas DataFrame (pandas is not a dependency of nnbook)."""
        return data_frame(self.rows())


@dataclass
class Experiment:
    """The runs of one experiment (one identity), in the order their directories were given."""

    name: str  # the runs' config name (a sweep point's is `name@key=value`)
    key: str  # identity_key: equal for the runs of one experiment
    runs: list[RunRecord]
    # The name, and how the experiment differs from a same-named one read beside it: depends on
    # what else was read, so not part of equality.
    label: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.label = self.label or self.name

    @property
    def config(self) -> Config:
        """The first run's config (the others differ from it in seed only)."""
        return self.runs[0].config

    @property
    def finished(self) -> list[RunRecord]:
        """The runs that count in the statistics: finished, with a result (statistics.py)."""
        return [r for r in self.runs if r.status in FINISHED and has_result(r)]

    @property
    def best(self) -> Optional[RunRecord]:
        """The finished run with the best validation accuracy: its test accuracy is the book's
        chapter 6 figure ("the best of 3 runs")."""
        return best_by_validation(self.finished)

    @property
    def test_accuracy(self) -> Spread:
        """The finished runs' test accuracies at their best validation epochs: n, mean, std, range."""
        return spread(results_of(self.finished))

    def rows(self) -> list[dict]:
        """Every run's rows() (one per epoch)."""
        return [row for run in self.runs for row in run.rows()]

    def to_frame(self):
        """rows() as a pandas DataFrame: one row per run and epoch."""
        return data_frame(self.rows())

    def summary_rows(self) -> list[dict]:
        """One dict per run: its directory, seed, status, epochs, best validation accuracy and epoch,
        the test accuracy there and the seconds it trained."""
        return [{"run": r.path.name, "seed": r.seed, "status": r.status, "epochs": r.summary.epochs_completed,
                 "best_validation_accuracy": r.best_validation_accuracy, "best_epoch": r.summary.best_epoch,
                 "test_accuracy": r.test_accuracy, "seconds": r.summary.seconds} for r in self.runs]

    def summary_frame(self):
        """summary_rows() as a pandas DataFrame: one row per run."""
        return data_frame(self.summary_rows())

    def __repr__(self) -> str:
        tests = self.test_accuracy
        result = "" if not tests.n else f", test {100 * tests.mean:.2f}%" + (
            f" ± {100 * tests.std:.2f} (mean ± std of {tests.n})" if tests.std is not None else "")
        return f"<Experiment {self.label}: {len(self.runs)} run{'s' if len(self.runs) != 1 else ''}{result}>"


def data_frame(rows: list[dict]):
    try:
        import pandas
    except ImportError:
        raise NnbookError("to_frame() needs pandas, which nnbook does not install: pip install pandas "
                          "(rows() gives the same data as a list of dicts)") from None
    return pandas.DataFrame(rows)


def load_runs(paths: Paths) -> list[Experiment]:
    """The runs under `paths` grouped by experiment, in the order first met. `paths`: a run
    directory, a folder of them (a results root such as runs/), a glob ("runs/ch6_shallow-*"),
    or a list of these. What is not a run directory (an ensemble's or a plot's folder) is passed
    over; a path or glob that names nothing is a ConfigError."""
    return experiments_of(run_paths(paths))


def run_paths(paths: Paths) -> list[Path]:
    """The run directories `paths` name (globs expanded, folders opened), each once."""
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    found: list[Path] = []
    for path in given:
        text = os.path.expanduser(str(path))
        if any(c in text for c in "*?[") and not Path(text).exists():
            matches = sorted(glob.glob(text))
            if not matches:
                raise ConfigError(runs.no_such_path(Path(text)))
            found += map(Path, matches)
        else:
            found.append(Path(text))
    return list(dict.fromkeys(p for p in expand_paths(found) if runs.is_run_dir(p)))


def experiments_of(paths: list[Path]) -> list[Experiment]:
    """Read each run directory and group the runs by their config's identity."""
    groups: dict[str, list[RunRecord]] = {}
    for path in paths:
        record = RunRecord(path, runs.read_config(path), runs.read_summary(path), runs.read_metrics(path))
        groups.setdefault(identity_key(record.config), []).append(record)
    experiments = [Experiment(records[0].config.name, key, records) for key, records in groups.items()]
    first_of_name: dict[str, Experiment] = {}
    for experiment in experiments:  # same-named experiments are told apart by how they differ
        first = first_of_name.setdefault(experiment.name, experiment)
        if first is not experiment:
            experiment.label = f"{experiment.name} ({', '.join(differences(experiment.config, first.config))})"
    return experiments
