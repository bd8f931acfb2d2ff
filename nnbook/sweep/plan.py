"""The plan of a sweep: which runs are already done, and the jobs left to train.

A rerun skips the runs already done: a run directory whose summary has the
point's name and seed, a finished status (or diverged), and the same resolved
config, the device aside. An interrupted sweep therefore resumes where it
stopped. What is left becomes jobs, each trained as one `StackedNet`: the
consecutive seeds of one point or, when packing (`stack`), up to that many runs
of any points whose configs differ only in what a stack takes per member (eta,
lmbda, mu, seed: config.stack_key), so the nine points of a lambda sweep train as
one stack.

Reads run directories only through runs/; trains nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.config import Config, run_config, stack_key
from nnbook.errors import ConfigError, NnbookError
from nnbook.experiments.schedule import split
from nnbook.runs.directory import is_run_dir, read_config, read_summary
from nnbook.records import DIVERGED, FINISHED
from nnbook.sweep.grid import Point, Sweep

# A diverged run is a result too (that point's eta or lmbda is too large); training
# it again would diverge again, so a rerun skips it as it skips finished runs.
DONE = FINISHED + (DIVERGED,)


@dataclass
class Job:
    """One batch of runs that train together as one StackedNet: (point, seed) pairs; or, with `resume`,
    a stopped group's runs (its leader's directory), continued from their checkpoints."""

    members: list[tuple[Point, int]]
    resume: Optional[Path] = None

    @property
    def point(self) -> Point:
        return self.members[0][0]

    @property
    def points(self) -> list[Point]:
        return list({p.name: p for p, _ in self.members}.values())

    @property
    def seeds(self) -> list[int]:
        return [s for _, s in self.members]

    @property
    def configs(self) -> list[Config]:
        """Each member's own run config: its point's, with its seed."""
        return [run_config(p.config, s) for p, s in self.members]

    @property
    def config(self) -> Config:
        """What the members share, as one config: the first point's, with the job's repeats."""
        return self.point.config.model_copy(update={"seed": self.seeds[0], "repeats": len(self.members)})

    @property
    def seeds_text(self) -> str:
        return seeds_text(sorted(set(self.seeds)))

    @property
    def label(self) -> str:
        """The job's point(s) and seeds, in words."""
        points = self.points
        if len(points) == 1:
            resumed = ", resumed" if self.resume else ""
            return (f"{points[0].label or points[0].name} (seed{'s' if len(self.seeds) > 1 else ''} "
                    f"{self.seeds_text}{resumed})")
        return f"{len(points)} points packed: {'; '.join(p.label for p in points)} (seeds {self.seeds_text})"


def seeds_text(seeds: list[int]) -> str:
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


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


def plan(sweep: Sweep, runs_dir: Path, stack: Optional[int] = None,
         done: Optional[dict[tuple[str, int], Path]] = None) -> tuple[list[Job], dict[tuple[str, int], Path]]:
    """The jobs still to train and the runs already done. stack None: one job per point (or per
    gap in its seeds); stack N: packed, up to N runs of points that share a stack_key per job.
    done: the runs already done, when the caller has read them (done_runs)."""
    done = done_runs(sweep, runs_dir) if done is None else done
    todo = [(point, s) for point in sweep.points for s in point.seeds if (point.name, s) not in done]
    if stack is None:
        jobs = []
        for point in sweep.points:
            mine = [s for p, s in todo if p is point]
            for _, group in itertools.groupby(enumerate(mine), key=lambda pair: pair[1] - pair[0]):
                jobs.append(Job([(point, s) for _, s in group]))
        return jobs, done
    if stack < 1:
        raise ConfigError(f"--stack {stack}: give the most runs one stack may train, at least 1")
    buckets: dict[str, list[tuple[Point, int]]] = {}  # in the grid's order
    for point, s in todo:
        buckets.setdefault(stack_key(point.config), []).append((point, s))
    # the same stacks the schedule estimated: as even as `stack` allows (schedule.split)
    return [Job(piece) for members in buckets.values() for piece in split(members, stack)], done
