"""The local executor of `nnbook sweep`, and the job stream that it shares with Ray's.

Each job (the seeds of one point) is handed to `experiment.train_experiment`,
which trains them together as one `StackedNet`. Points are trained one after
another in this process, showing each job's training as `nnbook train` does
(each point may change any key, so points share no model); with several visible
GPUs, one worker process per GPU trains one point each, silently, and the sweep
display shows a line per finished job.

A failed job never stops the sweep: its runs are marked `failed` and the error
is its outcome. The display comes from the command (`run.py`); this module
shows nothing itself. torch is imported only to count GPUs and in the workers.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from nnbook.config import Config
from nnbook.errors import NnbookError
from nnbook.runs.directory import Run, read_summary
from nnbook.runs.experiment import Interrupted, Silent, train_experiment
from nnbook.runs.records import FAILED, Summary
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
    """A training display that also remembers the run directories made, to mark them failed."""

    def __init__(self, inner):
        self.inner = inner
        self.paths: list[Path] = []

    def runs_created(self, paths) -> None:
        self.paths.extend(paths)
        self.inner.runs_created(paths)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, NnbookError):
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0]


def train_job(config: Config, runs_dir: Path, data_dir, display) -> tuple[list[Path], Optional[str]]:
    """Train one job's runs into `runs_dir`, shown on `display` (a training display). A
    failure does not raise: its runs are marked `failed` with the error in summary.json,
    and the error is returned, so one bad point never stops a sweep. Ctrl-C still stops
    everything."""
    recording = _RecordingDisplay(display)
    try:
        results = train_experiment(config, Path(runs_dir), recording, data_dir=data_dir,
                                   config_source=config.name)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one point is reported, the sweep goes on
        message = describe_failure(e)
        for path in recording.paths:
            Run.open(path).finish(FAILED, error=message)
        return recording.paths, message
    return [r.path for r in results], None


def _train_job_in_process(config: Config, runs_dir: str, data_dir, device: str, threads: int):
    """A worker process of the multi-GPU local executor: one job on one device."""
    import torch  # deferred: the worker's own interpreter, not the driver's

    torch.set_num_threads(threads)
    return train_job(config.model_copy(update={"device": device}), Path(runs_dir), data_dir, Silent())


def local_devices(config: Config) -> list[str]:
    """One device per visible GPU when there are several and the config lets nnbook
    choose (device auto or cuda); otherwise [] (train in this process, one job at a time)."""
    if config.device not in ("auto", "cuda"):
        return []
    import torch  # deferred: a CPU sweep (and --help) never loads it here

    n = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else []


def run_local(jobs: list[Job], runs_dir: Path, data_dir, display, fail_fast: bool = False,
              devices: Optional[list[str]] = None) -> list[Outcome]:
    """Train the jobs on this machine: in this process one after another, each shown on
    `display.training()` as `nnbook train` shows it; or, given several `devices`, one
    worker process per device, with a done / running / failed display."""
    if devices is None:
        devices = local_devices(jobs[0].point.config) if jobs else []
    if len(devices) > 1:
        return _run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices)
    outcomes = []
    for i, job in enumerate(jobs, 1):
        display.job_header(i, len(jobs), job)
        try:
            paths, error = train_job(job.config, runs_dir, data_dir, display.training())
        except (Interrupted, KeyboardInterrupt):
            raise Interrupted(INTERRUPTED_SWEEP) from None
        outcomes.append(Outcome.of(job, paths, error))
        display.finished(outcomes[-1])
        if error and fail_fast:
            break
    return outcomes


def _run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices) -> list[Outcome]:
    free = list(devices)
    device_of = {}
    threads = max(1, (os.cpu_count() or 1) // len(devices))  # never oversubscribe the cores
    # spawn: a fresh interpreter per worker; forking a process that may hold CUDA state is unsafe.
    with ProcessPoolExecutor(len(devices), mp_context=multiprocessing.get_context("spawn")) as pool:
        def submit(job: Job):
            device = free.pop(0)
            future = pool.submit(_train_job_in_process, job.config, str(runs_dir), data_dir, device, threads)
            device_of[future] = device
            return future

        def wait_one(futures):
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            future = next(iter(done))
            free.append(device_of.pop(future))
            return future

        def collect(future, job: Job) -> Outcome:
            try:
                paths, error = future.result()
            except Exception as e:  # noqa: BLE001 - a crashed worker fails its job only
                return Outcome(job, [], describe_failure(e))
            return Outcome.of(job, paths, error, where=device_of.get(future, ""))

        def cancel(futures):
            for f in futures:
                f.cancel()

        return stream_jobs(jobs, lambda: len(devices), submit, wait_one, collect, cancel, display, fail_fast)


def stream_jobs(jobs: list[Job], capacity: Callable[[], int], submit: Callable, wait_one: Callable,
                collect: Callable, cancel: Callable, display, fail_fast: bool) -> list[Outcome]:
    """Keep up to `capacity()` jobs in flight, report each as it finishes. Only as many
    are submitted as can run, so 'running' is true and `--fail-fast` leaves the rest unstarted."""
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
    except KeyboardInterrupt:
        cancel(list(running))
        raise Interrupted(INTERRUPTED_SWEEP) from None
    finally:
        display.end_stream()
    return outcomes
