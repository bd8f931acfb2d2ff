"""The local executor of `nnbook sweep`: the jobs trained on this machine.

Points are trained one after another in this process, each job shown as `nnbook
train` shows it (each point may change any key, so points share no model); with
several visible GPUs, pool.py trains one job per GPU at once, in worker
processes. A failed job never stops the sweep (jobs.py). The display comes from
the command (run.py); this module shows nothing itself. torch is imported only to
count GPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from nnbook.config import Config
from nnbook.errors import Interrupted
from nnbook.sweep.jobs import INTERRUPTED_SWEEP, Outcome, train_job
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
              devices: Optional[list[str]] = None) -> list[Outcome]:
    """Train the jobs on this machine: in this process one after another, each shown on
    `display.training()` as `nnbook train` shows it; or, given several `devices`, one
    worker process per device, with a done / running / failed display."""
    if devices is None:
        devices = local_devices(jobs[0].point.config) if jobs else []
    if len(devices) > 1:
        return run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices)
    outcomes = []
    for i, job in enumerate(jobs, 1):
        display.job_header(i, len(jobs), job)
        try:
            paths, error = train_job(job.config, runs_dir, data_dir, display.training())
        except (Interrupted, KeyboardInterrupt) as stop:
            raise Interrupted(INTERRUPTED_SWEEP, getattr(stop, "exit_code", 130)) from None
        outcomes.append(Outcome.of(job, paths, error))
        display.finished(outcomes[-1])
        if error and fail_fast:
            break
    return outcomes
