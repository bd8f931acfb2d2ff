"""The plan of a sweep: which runs are already done, and the jobs left to train.

A rerun skips the runs already done: a run directory whose summary has the
point's name and seed, a finished status (or diverged), and the same resolved
config, the device aside. An interrupted sweep therefore resumes where it
stopped. What is left becomes jobs: the consecutive seeds of one point, which
train together as one `StackedNet`.

Reads run directories only through runs/; trains nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from nnbook.config import Config
from nnbook.errors import NnbookError
from nnbook.runs.directory import is_run_dir, read_config, read_summary
from nnbook.records import DIVERGED, FINISHED
from nnbook.sweep.grid import Point, Sweep

# A diverged run is a result too (that point's eta or lmbda is too large); training
# it again would diverge again, so a rerun skips it as it skips finished runs.
DONE = FINISHED + (DIVERGED,)


@dataclass
class Job:
    """One batch of runs: seeds of one point that train together as one StackedNet."""

    point: Point
    seeds: list[int]  # consecutive

    @property
    def config(self) -> Config:
        return self.point.config.model_copy(update={"seed": self.seeds[0], "repeats": len(self.seeds)})

    @property
    def seeds_text(self) -> str:
        return str(self.seeds[0]) if len(self.seeds) == 1 else f"{self.seeds[0]}-{self.seeds[-1]}"


def experiment_of(config: Config) -> dict:
    """What a run was asked to do: its resolved config without `device` (where it
    trained does not change the experiment, and a Ray worker may pick another)."""
    return config.model_copy(update={"repeats": 1}).model_dump(mode="json", exclude={"device"})


def done_runs(sweep: Sweep, runs_dir: Path) -> dict[tuple[str, int], Path]:
    """(point name, seed) -> the run directory that already did it (the latest, if several)."""
    points = {p.name: p for p in sweep.points}
    found: dict[tuple[str, int], Path] = {}
    if not Path(runs_dir).is_dir():
        return found
    for path in sorted(Path(runs_dir).iterdir()):  # names end in a timestamp: sorted is oldest first
        if not is_run_dir(path):
            continue
        try:
            summary = read_summary(path)
            point = points.get(summary.name)
            if point is None or summary.status not in DONE:
                continue
            asked = experiment_of(point.config.model_copy(update={"seed": summary.seed}))
            if experiment_of(read_config(path)) == asked:
                found[(point.name, summary.seed)] = path
        except (OSError, ValueError, TypeError, AttributeError, NnbookError):
            continue  # unreadable, or an older schema: not a match, so it is trained again
    return found


def plan(sweep: Sweep, runs_dir: Path) -> tuple[list[Job], dict[tuple[str, int], Path]]:
    """The jobs still to train (one per point, or one per gap in its seeds) and the runs already done."""
    done = done_runs(sweep, runs_dir)
    jobs = []
    for point in sweep.points:
        todo = [s for s in point.seeds if (point.name, s) not in done]
        for _, group in itertools.groupby(enumerate(todo), key=lambda pair: pair[1] - pair[0]):
            jobs.append(Job(point, [s for _, s in group]))
    return jobs, done
