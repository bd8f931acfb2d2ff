"""One stack, the unit every placement trains: its members, training it, and the stream of them.

A stack is runs trained together as the members of one StackedNet, in one process:
the seeds of one experiment, packed sweep points (configs that differ only in what a
stack takes per member: config.stack_key), or a stopped stack resumed whole from its
leader's directory. `train_stack` trains one with `experiments/experiment.train_experiment`;
a failure does not stop the others: its runs are marked `failed` by
experiments/experiment.py, and its cause (experiments/failures.py) is the stack's
`Outcome`. `stream_stacks` keeps as many stacks in flight as a placement can run (the
worker pool in pool.py, a Ray cluster in ray_cluster.py) and reports each one as it
finishes. The display comes from the command; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Optional, Protocol

from nnbook.config import Config, run_config
from nnbook.errors import Interrupted
from nnbook.experiments.failures import describe_failure
from nnbook.runs.directory import read_summary
from nnbook.runs.layout import Dirs  # noqa: F401 - the placements import it from here too
from nnbook.runs.records import Summary
from nnbook.stacks import seeds_text

INTERRUPTED_SWEEP = ("sweep interrupted; every finished epoch is kept: run the same `nnbook sweep` again to "
                     "continue (stopped stacks resume where they stopped)")


class Experiment(NamedTuple):
    """What a stack member is a run of: a config (all its repeats) and its label in words (a sweep
    point's `key=value`, "" for a plain config). A sweep's Point has the same three fields."""

    config: Config
    label: str = ""

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class Stack:
    """Runs that train together as one StackedNet: (experiment, seed) pairs; or, with `resume`,
    a stopped stack's runs (its leader's directory), continued from their checkpoints.
    An experiment is anything with `name`, `label` and `config` (Experiment, a sweep's Point)."""

    members: list[tuple[Any, int]]
    resume: Optional[Path] = None

    @property
    def point(self):
        """The first member's experiment (a sweep point, or an Experiment)."""
        return self.members[0][0]

    @property
    def points(self) -> list:
        return list({p.name: p for p, _ in self.members}.values())

    @property
    def seeds(self) -> list[int]:
        return [s for _, s in self.members]

    @property
    def configs(self) -> list[Config]:
        """Each member's own run config: its experiment's, with its seed."""
        return [run_config(p.config, s) for p, s in self.members]

    @property
    def config(self) -> Config:
        """What the members share, as one config: the first experiment's, with the stack's repeats."""
        return self.point.config.model_copy(update={"seed": self.seeds[0], "repeats": len(self.members)})

    @property
    def seeds_text(self) -> str:
        return seeds_text(sorted(set(self.seeds)))

    @property
    def label(self) -> str:
        """The stack's experiment(s) and seeds, in words."""
        points = self.points
        if len(points) == 1:
            resumed = ", resumed" if self.resume else ""
            return (f"{points[0].label or points[0].name} (seed{'s' if len(self.seeds) > 1 else ''} "
                    f"{self.seeds_text}{resumed})")
        return f"{len(points)} points packed: {'; '.join(p.label for p in points)} (seeds {self.seeds_text})"


@dataclass
class Outcome:
    stack: Stack
    paths: list[Path]  # the run directories it wrote, under the local runs directory
    error: Optional[str] = None  # None: trained (completed, early stopped or diverged)
    where: str = ""  # the machine or device, when several train at once
    summaries: list[Summary] = field(default_factory=list)  # of `paths`, when trained: what the display shows

    @classmethod
    def of(cls, stack: Stack, paths: list[Path], error: Optional[str], where: str = "") -> "Outcome":
        return cls(stack, paths, error, where, [] if error else [read_summary(p) for p in paths])


class _RecordingDisplay:
    """A training display that also remembers the run directories made, for the outcome of a failed stack."""

    def __init__(self, inner):
        self.inner = inner
        self.paths: list[Path] = []

    def runs_created(self, paths) -> None:
        self.paths.extend(paths)
        self.inner.runs_created(paths)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def train_stack(config: Config, dirs: Dirs, display,
                members: Optional[list[Config]] = None) -> tuple[list[Path], Optional[str]]:
    """Train one stack's runs into `dirs.runs_dir`, shown on `display` (a training display): `config`
    what they share (Stack.config), `members` each run's own (Stack.configs). A
    failure does not raise: its runs are already marked `failed` with the cause in
    summary.json, and the cause is returned, so one bad point never stops a sweep.
    A signal still stops everything."""
    # deferred: torch, which --help and --dry-run never load
    from nnbook.experiments.experiment import Source, train_experiment

    recording = _RecordingDisplay(display)
    try:
        results = train_experiment(config, Dirs(Path(dirs.runs_dir), dirs.data_dir), recording,
                                   Source(config.name), members=members)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one stack is reported, the others go on
        return recording.paths, describe_failure(e)
    return [r.path for r in results], None


def resume_stack(leader: Path, dirs: Dirs, display) -> tuple[list[Path], Optional[str]]:
    """Continue the stopped stack `leader` belongs to (`nnbook train --resume`), shown on `display`;
    as train_stack, a failure is returned, not raised, and a signal stops everything."""
    from nnbook.experiments.experiment import resume_experiment  # deferred: torch
    from nnbook.experiments.resume import plan_resume

    recording = _RecordingDisplay(display)
    try:
        results = resume_experiment(plan_resume(leader), dirs, recording)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - as in train_stack
        return recording.paths, describe_failure(e)
    return [r.path for r in results], None


class Slots(Protocol):
    """Where several stacks train at once (pool.py's worker processes, a Ray cluster): how many can
    (`capacity`, asked again as nodes come and go), and a handle per stack in flight."""

    def capacity(self) -> int: ...
    def submit(self, stack: Stack) -> Any: ...  # start it; its handle
    def wait_one(self, handles: list) -> Any: ...  # the next handle to finish
    def collect(self, handle, stack: Stack) -> Outcome: ...
    def cancel(self, handles: list) -> None: ...  # stop those still in flight


def stream_stacks(stacks: list[Stack], slots: Slots, display, fail_fast: bool) -> list[Outcome]:
    """Keep up to `slots.capacity()` stacks in flight, report each as it finishes. Only as many
    are submitted as can run, so 'running' is true and `--fail-fast` leaves the rest unstarted.
    A signal (KeyboardInterrupt) cancels what runs and becomes `Interrupted`."""
    queue = list(stacks)
    running: dict[Any, Stack] = {}
    outcomes: list[Outcome] = []
    display.begin_stream(len(stacks))
    try:
        while queue or running:
            while queue and len(running) < max(1, slots.capacity()):
                stack = queue.pop(0)
                running[slots.submit(stack)] = stack
                display.started(stack)
            handle = slots.wait_one(list(running))
            outcome = slots.collect(handle, running.pop(handle))
            outcomes.append(outcome)
            display.finished(outcome, running=len(running), queued=len(queue))
            if outcome.error and fail_fast:
                slots.cancel(list(running))
                break
    except KeyboardInterrupt as stop:
        slots.cancel(list(running))
        raise Interrupted(INTERRUPTED_SWEEP, getattr(stop, "exit_code", 130)) from None
    finally:
        display.end_stream()
    return outcomes
