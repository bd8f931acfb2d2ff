"""The local executor of `nnbook sweep`: the jobs trained on this machine.

Points are trained one after another in this process, each job shown as `nnbook
train` shows it (each point may change any key, so points share no model); with
several visible GPUs, pool.py trains one job per GPU at once, in worker
processes. A failed job never stops the sweep (jobs.py). The display comes from
the command (run.py); this module shows nothing itself. torch is imported only to
count GPUs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from nnbook.config import Config, seeds_of
from nnbook.errors import Interrupted
from nnbook.sweep.jobs import INTERRUPTED_SWEEP, Outcome, train_job
from nnbook.experiments.schedule import split
from nnbook.runs.directory import is_run_dir, read_summary
from nnbook.records import INTERRUPTED
from nnbook.sweep.grid import Point
from nnbook.sweep.plan import Job
from nnbook.sweep.pool import run_on_devices


def local_devices(config: Config) -> list[str]:
    """One device per visible GPU when there are several and the config lets nnbook
    choose (device auto or cuda); otherwise [] (train in this process, one job at a time)."""
    if config.device not in ("auto", "cuda"):
        return []
    import torch  # deferred: a CPU sweep (and --help) never loads it here

    n = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else []


def run_local(jobs: list[Job], runs_dir: Path, data_dir, display, fail_fast: bool = False,
              devices: Optional[list[str]] = None, cpu_workers: int = 1,
              threads: Optional[int] = None) -> list[Outcome]:
    """Train the jobs on this machine: in this process one after another, each shown on
    `display.training()` as `nnbook train` shows it; or, given several `devices` (or
    `cpu_workers` > 1 on the CPU, each with `threads`), one worker process per device,
    with a done / running / failed display."""
    if devices is None:
        devices = local_devices(jobs[0].point.config) if jobs else []
    if len(devices) <= 1 and cpu_workers > 1:
        devices = ["cpu"] * cpu_workers
    if len(devices) > 1:
        return run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices, threads)
    outcomes = []
    for i, job in enumerate(jobs, 1):
        display.job_header(i, len(jobs), job)
        try:
            paths, error = train_job(job.config, runs_dir, data_dir, display.training(), job.configs)
        except (Interrupted, KeyboardInterrupt) as stop:
            raise Interrupted(INTERRUPTED_SWEEP, getattr(stop, "exit_code", 130)) from None
        outcomes.append(Outcome.of(job, paths, error))
        display.finished(outcomes[-1])
        if error and fail_fast:
            break
    return outcomes


def train_on_workers(config: Config, workers: int, stack: int, threads: int, runs_dir: Path, data_dir,
                     display, seeds: Optional[list[int]] = None) -> list[Outcome]:
    """`nnbook train` with workers: the config's repeats (or `seeds`) cut into stacks of at most `stack`,
    trained by `workers` CPU worker processes of `threads` threads each; a line per finished
    stack on `display` (a sweep display). A Ctrl-C stops every worker, each group resumable."""
    todo = [(config, seeds_of(config) if seeds is None else seeds, [])]
    started = time.strftime("%Y%m%d-%H%M%S")  # run directories are stamped so: those made from now on
    try:
        return stacks_on_workers(todo, [stack], workers, threads, runs_dir, data_dir, display)
    except Interrupted as stop:
        raise Interrupted(f"interrupted: every completed epoch is kept; {resume_hints(runs_dir, config.name, started)}",
                          stop.exit_code) from None


def train_configs_on_workers(todo: list[tuple], stacks: list[int], workers: int, threads: int,
                             runs_dir: Path, data_dir, display, on_config,
                             run_seconds: Optional[list[float]] = None) -> list[Outcome]:
    """Several configs' seeds and stopped groups through one pool of workers (`stacks_on_workers`): a
    worker that frees takes the next stack, of whichever config, so no core waits for the end of a
    config; given each config's estimated `run_seconds`, the longest stacks go first, so no long stack
    starts last while the other workers have nothing left. `on_config(config, outcomes)` as each
    config's last stack finishes. A Ctrl-C stops every worker, each group resumable by running the
    same command again."""
    try:
        return stacks_on_workers(todo, stacks, workers, threads, runs_dir, data_dir, display, on_config,
                                 run_seconds)
    except Interrupted as stop:
        raise Interrupted("interrupted: every completed epoch is kept; run the same command again to continue",
                          stop.exit_code) from None


def stacks_on_workers(todo: list[tuple], stacks: list[int], workers: int, threads: int,
                      runs_dir: Path, data_dir, display, on_config=None,
                      run_seconds: Optional[list[float]] = None) -> list[Outcome]:
    """Each (config, seeds, stopped groups) of `todo`: the seeds cut into stacks of at most its entry in
    `stacks`, each stopped group resumed whole, trained by `workers` CPU worker processes of `threads`
    threads each (pool.py): in that order, or, given each config's estimated seconds per run, longest
    first (stacks_of)."""
    jobs = stacks_of(todo, stacks, run_seconds)
    left = {config.name: (config, sum(job.point.name == config.name for job in jobs), []) for config, _, _ in todo}
    if on_config is not None:
        display = ConfigsDone(display, left, on_config)
    return run_on_devices(jobs, runs_dir, data_dir, display, False, ["cpu"] * workers, threads)


def stacks_of(todo: list[tuple], stacks: list[int], run_seconds: Optional[list[float]] = None) -> list[Job]:
    """The jobs of `stacks_on_workers`: for each (config, seeds, stopped groups) of `todo`, a job per
    stopped group (experiments/chapter6.StoppedGroup: resumed whole) and the seeds cut into stacks of at
    most its entry in `stacks`; in `todo`'s order or, given each config's seconds per run, longest first
    (a stack of k counted as k runs, a stopped group as its epochs left; equal ones keep their order)."""
    jobs = []
    for i, ((config, seeds, stopped), stack) in enumerate(zip(todo, stacks)):
        point = Point({}, config)
        for group in stopped:
            left = 1 - group.epochs_completed / config.epochs
            jobs.append((-run_seconds[i] * len(group.seeds) * left if run_seconds else 0.0,
                         Job([(point, s) for s in group.seeds], resume=group.leader)))
        for piece in split([(point, s) for s in seeds], stack):
            jobs.append((-run_seconds[i] * len(piece) if run_seconds else 0.0, Job(piece)))
    return [job for _, job in sorted(jobs, key=lambda pair: pair[0])]


class ConfigsDone:
    """A sweep display that also calls on_config(config, outcomes) once all of a config's stacks are in."""

    def __init__(self, inner, left: dict, on_config):
        self.inner, self.left, self.on_config = inner, left, on_config

    def finished(self, outcome, running: Optional[int] = None, queued: Optional[int] = None) -> None:
        self.inner.finished(outcome, running=running, queued=queued)
        config, n, outcomes = self.left[outcome.job.point.name]
        outcomes.append(outcome)
        if len(outcomes) == n:
            self.on_config(config, outcomes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def resume_hints(runs_dir: Path, name: str, since: str) -> str:
    """How to resume the groups of `name` that this command left interrupted in runs_dir (their
    directories stamped `since` or later; older runs are not its to name): one command per group."""
    leaders = []
    for path in sorted(Path(runs_dir).glob(f"{name}-*")):
        if path.name[len(name) + 1:len(name) + 16] < since:
            continue
        try:
            summary = read_summary(path) if is_run_dir(path) else None
        except (OSError, ValueError):
            continue
        if (summary is not None and summary.name == name and summary.status == INTERRUPTED
                and (summary.group or [path.name])[0] == path.name):
            leaders.append(path)
    if not leaders:
        return "nothing was left to resume"
    return "resume with: " + "; ".join(f"nnbook train --resume {p}" for p in leaders)
