"""Run directories grouped by experiment: which experiment (config name and identity,
config/identity.py) each run is, and its label (config/labels.py), for the readers that
show runs side by side (report, plot, ensemble). Reads runs only through runs/."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from nnbook.config import Config
from nnbook.config.labels import Experiment, experiment_key, experiments_of
from nnbook.errors import NnbookError
from nnbook.runs import directory as runs


def config_of(path: Path) -> Optional[Config]:
    """The run's resolved config; None where it no longer validates (such runs of one name form one group)."""
    try:
        return runs.read_config(path)
    except NnbookError:
        return None


def experiment_of_each(paths: list[Path]) -> dict[Path, Experiment]:
    """Each run directory's experiment, labelled against the others given and the shipped configs."""
    named = {path: (runs.read_summary(path).name or path.name, config_of(path)) for path in map(Path, paths)}
    experiments = experiments_of(named.values())
    return {path: experiments[experiment_key(*name_config)] for path, name_config in named.items()}
