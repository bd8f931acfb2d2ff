"""`nnbook sweep`, top to bottom: plan -> train what is left with an executor -> the grid.

The command passes in the sweep display and the function that draws the grid's
picture (analysis/plots.plot_grid); the executors report to the display and the
grid's rows are shown on it, so nothing under sweep/ prints or draws by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from nnbook.choices import Choice
from nnbook.errors import ConfigError
from nnbook.experiments.schedule import schedule_of_config
from nnbook.sweep.grid import Sweep
from nnbook.sweep.jobs import Outcome
from nnbook.sweep.local import run_local
from nnbook.sweep.plan import plan
from nnbook.sweep.ray_executor import run_ray
from nnbook.sweep.results import GridFigure, grid_rows, write_grid_report


class Executor(Choice):
    """Where the jobs train: `local`, this machine; `ray`, a Ray cluster (one task per job)."""

    local = "local"
    ray = "ray"


def run_sweep(sweep: Sweep, runs_dir: Path, display, executor: Executor | str = Executor.local, data_dir=None,
              fail_fast: bool = False, dry_run: bool = False, address: Optional[str] = None,
              cpus_per_task: float = 1, gpus_per_task: Optional[float] = None,
              draw_grid: Optional[Callable[[GridFigure, Path], Path]] = None, workers: Optional[int] = None,
              stack: str | int = "auto") -> list[Outcome]:
    """Plan, train what is left, then show and write the grid (its picture drawn by `draw_grid`).
    Returns the outcomes of the batches trained now (none for a dry run or a sweep already done).
    workers (--jobs) and stack (--stack: auto | point | N): how the local executor shares the
    machine (experiments/schedule.py); auto measures on the CPU and packs everything on a GPU."""
    try:
        executor = Executor(executor)
    except ValueError:
        raise ConfigError(f"--executor {executor}: choose one of {', '.join(e.value for e in Executor)}") from None
    runs_dir = Path(runs_dir)
    schedule, why = None, ""
    if stack == "point" or executor is Executor.ray:
        jobs, done = plan(sweep, runs_dir, None if stack in ("auto", "point") else int(stack))
    else:
        jobs, done = plan(sweep, runs_dir, None)
        todo = sum(len(j.members) for j in jobs)
        if todo:
            schedule, why = schedule_of_config(jobs[0].point.config, todo, workers,
                                               None if stack == "auto" else int(stack))
            jobs, done = plan(sweep, runs_dir, schedule.stack, done)  # the run directories are read once
    display.plan(sweep, jobs, done, executor.value)
    if schedule is not None:
        display.print(f"Schedule: {schedule.describe(sum(len(j.members) for j in jobs))} ({why})")
    if dry_run:
        display.plan_table(sweep, jobs, done)
        display.print("Dry run: nothing trained.")
        return []
    outcomes: list[Outcome] = []
    if jobs and executor is Executor.local:
        outcomes = run_local(jobs, runs_dir, data_dir, display, fail_fast,
                             cpu_workers=schedule.workers if schedule else 1, threads=schedule.threads if schedule else None)
    elif jobs:
        outcomes = run_ray(jobs, runs_dir, data_dir, display, fail_fast, address, cpus_per_task, gpus_per_task)
    results, table, plot = write_grid_report(sweep, runs_dir, draw_grid)
    display.grid(sweep, *grid_rows(sweep, results))
    display.print(f"Grid table: {table}" + (f"; plot: {plot}" if plot else ""))
    return outcomes
