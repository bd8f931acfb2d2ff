"""`nnbook sweep`, top to bottom: plan -> train what is left where asked -> the grid.

The command passes in the sweep display and the function that draws the grid's
picture (analysis/plots.plot_grid); the placement (execution/) reports to the display and
the grid's rows are shown on it, so nothing under sweep/ prints or draws by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional

from nnbook.execution.placement import Asked, Executor
from nnbook.execution.stack import Dirs, Outcome
from nnbook.execution.train import placement_of_config, train_stacks
from nnbook.sweep.grid import Sweep
from nnbook.sweep.plan import plan
from nnbook.sweep.results import GridFigure, grid_rows, write_grid_report


@dataclass(frozen=True)
class SweepOptions:
    fail_fast: bool = False  # stop at the first failed stack
    dry_run: bool = False  # show the plan, train nothing, time nothing
    per_point: bool = False  # --stack point: one stack per point (its seeds), nothing packed
    draw_grid: Optional[Callable[[GridFigure, Path], Path]] = None  # the grid's picture (None: no picture)


def run_sweep(sweep: Sweep, dirs: Dirs, display, asked: Asked = Asked(),
              options: SweepOptions = SweepOptions()) -> list[Outcome]:
    """Plan, train what is left, then show and write the grid (its picture drawn by `options.draw_grid`).
    Returns the outcomes of the stacks trained now (none for a dry run or a sweep already done).
    asked.workers (--jobs) and asked.stack (--stack N; unforced: packed as the placement chooses):
    how this machine is shared (execution/placement.py); on Ray, a task per point or per --stack N."""
    runs_dir = Path(dirs.runs_dir)
    placement, why = None, ""
    if options.per_point or asked.executor is Executor.ray:
        stacks, done = plan(sweep, runs_dir, asked.stack)
    else:
        stacks, done = plan(sweep, runs_dir, None)
        todo = sum(len(s.members) for s in stacks)
        if todo:
            placement, why = placement_of_config(stacks[0].point.config, todo, asked, options.dry_run)
            stacks, done = plan(sweep, runs_dir, placement.stack, done)  # the run directories are read once
    display.plan(sweep, stacks, done, asked.executor.value)
    if placement is not None:
        display.print(f"Placement: {placement.describe(sum(len(s.members) for s in stacks))} ({why})")
    if options.dry_run:
        display.plan_table(sweep, stacks, done)
        display.print("Dry run: nothing trained.")
        return []
    if placement is not None:
        asked = replace(asked, workers=placement.workers, threads=placement.threads)
    elif asked.executor is Executor.local:
        asked = replace(asked, workers=None)  # --stack point: a point at a time, in this process
    outcomes = train_stacks(stacks, dirs, display, asked, options.fail_fast)
    results, table, plot = write_grid_report(sweep, runs_dir, options.draw_grid)
    display.grid(sweep, *grid_rows(sweep, results))
    display.print(f"Grid table: {table}" + (f"; plot: {plot}" if plot else ""))
    return outcomes
