"""A sweep's jobs, as every executor trains them: one job, and the stream of them.

`train_job` trains one job (the seeds of one point, or packed points) with
`experiments/experiment.train_experiment`, which trains them together as one
`StackedNet`. A failure does not stop the sweep: the job's runs are marked `failed`
by experiments/experiment.py, and its cause (experiments/failures.py) is the job's
`Outcome`. `stream_jobs` keeps as many jobs in flight as an executor can run
(the multi-device one in pool.py, Ray's in ray_executor.py) and reports each one
as it finishes. The display comes from the command (run.py); nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from nnbook.config import Config
from nnbook.errors import Interrupted
from nnbook.experiments.failures import describe_failure
from nnbook.runs.directory import read_summary
from nnbook.runs.records import Summary
from nnbook.sweep.plan import Job

INTERRUPTED_SWEEP = ("sweep interrupted; finished runs are kept: run the same `nnbook sweep` again to train "
                     "only what is left")


@dataclass
class Outcome:
    job: Job
    paths: list[Path]  # the run directories it wrote, under the local runs directory
    error: Optional[str] = None  # None: trained (completed, early stopped or diverged)
    where: str = ""  # the machine or device, when several train at once
    summaries: list[Summary] = field(default_factory=list)  # of `paths`, when trained: what the display shows

    @classmethod
    def of(cls, job: Job, paths: list[Path], error: Optional[str], where: str = "") -> "Outcome":
        return cls(job, paths, error, where, [] if error else [read_summary(p) for p in paths])


class _RecordingDisplay:
    """A training display that also remembers the run directories made, for the outcome of a failed job."""

    def __init__(self, inner):
        self.inner = inner
        self.paths: list[Path] = []

    def runs_created(self, paths) -> None:
        self.paths.extend(paths)
        self.inner.runs_created(paths)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def train_job(config: Config, runs_dir: Path, data_dir, display,
              members: Optional[list[Config]] = None) -> tuple[list[Path], Optional[str]]:
    """Train one job's runs into `runs_dir`, shown on `display` (a training display): `config`
    what they share (Job.config), `members` each run's own (Job.configs). A
    failure does not raise: its runs are already marked `failed` with the cause in
    summary.json, and the cause is returned, so one bad point never stops a sweep.
    A signal still stops everything."""
    from nnbook.experiments.experiment import train_experiment  # deferred: torch, which --help and --dry-run never load

    recording = _RecordingDisplay(display)
    try:
        results = train_experiment(config, Path(runs_dir), recording, data_dir=data_dir,
                                   config_source=config.name, members=members)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one point is reported, the sweep goes on
        return recording.paths, describe_failure(e)
    return [r.path for r in results], None


def resume_job(leader: Path, data_dir, display) -> tuple[list[Path], Optional[str]]:
    """Continue the stopped group `leader` belongs to (`nnbook train --resume`), shown on `display`;
    as train_job, a failure is returned, not raised, and a signal stops everything."""
    from nnbook.experiments.experiment import resume_experiment  # deferred: torch
    from nnbook.experiments.resume import plan_resume

    recording = _RecordingDisplay(display)
    try:
        results = resume_experiment(plan_resume(leader), recording, data_dir=data_dir)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - as in train_job
        return recording.paths, describe_failure(e)
    return [r.path for r in results], None


def stream_jobs(jobs: list[Job], capacity: Callable[[], int], submit: Callable, wait_one: Callable,
                collect: Callable, cancel: Callable, display, fail_fast: bool) -> list[Outcome]:
    """Keep up to `capacity()` jobs in flight, report each as it finishes. Only as many
    are submitted as can run, so 'running' is true and `--fail-fast` leaves the rest unstarted.
    A signal (KeyboardInterrupt) cancels what runs and becomes `Interrupted`."""
    queue = list(jobs)
    running: dict[Any, Job] = {}
    outcomes: list[Outcome] = []
    display.begin_stream(len(jobs))
    try:
        while queue or running:
            while queue and len(running) < max(1, capacity()):
                job = queue.pop(0)
                running[submit(job)] = job
                display.started(job)
            handle = wait_one(list(running))
            outcome = collect(handle, running.pop(handle))
            outcomes.append(outcome)
            display.finished(outcome, running=len(running), queued=len(queue))
            if outcome.error and fail_fast:
                cancel(list(running))
                break
    except KeyboardInterrupt as stop:
        cancel(list(running))
        raise Interrupted(INTERRUPTED_SWEEP, getattr(stop, "exit_code", 130)) from None
    finally:
        display.end_stream()
    return outcomes
