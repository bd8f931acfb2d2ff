"""`nnbook sweep`: a grid of points, each trained as ordinary runs, by a chosen executor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.analysis.plots import plot_grid
from nnbook.cli.options import (AddressOpt, CpusPerTaskOpt, DataDirOpt, ExecutorOpt, GpusPerTaskOpt, JobsOpt,
                                RunsDirOpt, SetOpt, StackOpt, ThreadsOpt, asked_placement, stack_option)
from nnbook.errors import NnbookError
from nnbook.execution.placement import Executor, RayOptions
from nnbook.execution.stack import Dirs
from nnbook.sweep.grid import load_sweep
from nnbook.sweep.run import SweepOptions, run_sweep
from nnbook.ui.sweep_display import SweepDisplay


def sweep(
    config: Annotated[Path, typer.Argument(help="A sweep config (an experiment YAML with a `sweep:` block), "
                                                "or any experiment YAML with --grid.", show_default=False)],
    grid: Annotated[Optional[list[str]], typer.Option(
        "--grid", "-g", metavar="KEY=V1,V2,...",
        help="Sweep KEY over these values (YAML, comma-separated); repeatable, the grid is the product. "
        "Replaces that key's values in the `sweep:` block, or adds a key.")] = None,
    set_: SetOpt = None,
    repeats: Annotated[Optional[int], typer.Option(
        help="Runs per point, seeds seed, seed+1, ... (overrides `repeats`).", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List the points and the runs still to train, then exit.")] = False,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="Stop at the first failed stack instead of going on with the others.")] = False,
    executor: ExecutorOpt = Executor.local,
    address: AddressOpt = None,
    cpus_per_task: CpusPerTaskOpt = 1,
    gpus_per_task: GpusPerTaskOpt = None,
    jobs: JobsOpt = None,
    stack: StackOpt = "auto",
    threads: ThreadsOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the plan, the results and errors.")] = False,
) -> None:
    """Train every point of a grid, REPEATS runs each, into ordinary run directories.

    Each point is the config with the swept keys set, named NAME@KEY=VALUE[,KEY=VALUE] (so `nnbook report`
    groups its runs). Rerunning the same sweep skips the runs already done, so an interrupted sweep
    resumes; a failed stack is reported and the others go on (unless --fail-fast). At the end, the grid
    table and a plot of test accuracy against the swept value are printed and written as
    RUNS_DIR/NAME.sweep.md and RUNS_DIR/NAME.sweep.png.

    Examples:

        nnbook sweep configs/ch6_sweep_lmbda_relu.yaml --dry-run

        nnbook sweep configs/ch6_sweep_lmbda_relu.yaml --stack 27 --dry-run   # all 27 runs as one stack

        nnbook sweep configs/ch6_dbl_conv_relu.yaml --grid lmbda=0,0.1,1 --repeats 2 --set epochs=5

        nnbook sweep configs/ch6_sweep_lmbda_relu.yaml --executor ray --address HEAD_IP:6379
    """
    plan = load_sweep(config, list(set_ or []), list(grid or []), repeats)
    stack_size = stack_option(stack)
    asked = asked_placement(executor, jobs, stack_size, threads, RayOptions(address, cpus_per_task, gpus_per_task))
    options = SweepOptions(fail_fast=fail_fast, dry_run=dry_run, per_point=stack_size == "point", draw_grid=plot_grid)
    outcomes = run_sweep(plan, Dirs(runs_dir, data_dir), SweepDisplay(quiet=quiet), asked, options)
    failed = [o for o in outcomes if o.error]
    if failed:
        raise NnbookError(f"{len(failed)} of {len(outcomes)} stacks failed (first: {failed[0].stack.label}: "
                          f"{failed[0].error}); run the same command again to retry them")
