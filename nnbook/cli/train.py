"""`nnbook train` (with --resume and --dry-run) and `nnbook gradients`: the commands that train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.cli.options import (ConfigArg, DataDirOpt, DeviceOpt, JobsOpt, QuietOpt, ResultsRootOpt, RunsDirOpt,
                                SeedOpt, SetOpt, StackOpt, config_overrides, stack_option)
from nnbook.config import load_config, seeds_of
from nnbook.errors import ConfigError
from nnbook.experiments.resume import plan_resume
from nnbook.runs import layout
from nnbook.runs.directory import config_file
from nnbook.ui.dry_run import show_dry_run
from nnbook.ui.gradients_display import show_gradients
from nnbook.ui.train_display import TrainDisplay


def train(
    config: Annotated[Optional[Path], typer.Argument(
        help="An experiment YAML (see configs/), or a run's config.yaml.", show_default=False)] = None,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    repeats: Annotated[Optional[int], typer.Option(
        help="Train N runs with seeds seed, seed+1, ... (overrides `repeats`).", show_default=False)] = None,
    sequential: Annotated[bool, typer.Option(
        "--sequential", help="Train repeats one at a time instead of together in one stacked model "
        "(--jobs 1 --stack 1).")] = False,
    jobs: JobsOpt = None,
    stack: StackOpt = "auto",
    data_dir: DataDirOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config and the model, then exit without training.")] = False,
    quiet: QuietOpt = False,
    threads: Annotated[Optional[int], typer.Option(
        min=1, show_default=False,
        help="CPU threads torch may use (default: one per core). Mini-batch-10 steps are tiny: when other "
        "programs keep the cores busy, --threads 1 avoids thread contention that can slow training "
        "many times over.")] = None,
    resume: Annotated[Optional[Path], typer.Option(
        "--resume", metavar="RUN_DIR", show_default=False,
        help="Continue an interrupted or killed run in its own directory, from its last completed epoch "
        "(with the runs trained together with it). Give no CONFIG.")] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --resume: continue even though --set or an edited config.yaml changes the "
        "config (not its layers, seed or repeats).")] = False,
) -> None:
    """Train the network a config describes and report the test accuracy at the best validation epoch.

    Each run writes a new directory RUNS_DIR/NAME-YYYYmmdd-HHMMSS/ with config.yaml, metrics.jsonl
    (one line per epoch), summary.json, model.pt (best-validation weights) and test_predictions.npy.

    Examples:

        nnbook train configs/ch6_shallow.yaml --set epochs=1

        nnbook train configs/ch6_dbl_conv_relu.yaml --set train_limit=1000 --set epochs=2

        nnbook train configs/ch6_relu_dropout.yaml --repeats 5 --device cuda

        nnbook train --resume runs/ch6_shallow-20261123-113949

    Ctrl-C (or SIGTERM) stops a run cleanly, keeping every completed epoch; a second Ctrl-C stops at once.
    """
    overrides = config_overrides(set_, seed=seed, device=device, repeats=repeats)
    if threads is not None and not dry_run:
        import torch  # deferred: --help and config errors answer without loading torch

        torch.set_num_threads(threads)  # recorded in each run's summary.json
    if resume is not None:
        if config is not None:
            raise ConfigError(f"give either a CONFIG to train or --resume RUN_DIR, not both (the run's own "
                              f"config is {config_file(resume)}; change it with --set ... --force)")
        if dry_run or sequential or jobs is not None or stack != "auto":
            raise ConfigError("--dry-run, --sequential, --jobs and --stack do not apply to --resume (a group "
                              "resumes as it was trained; resume each group of a --jobs run on its own)")
        resume_run(resume, overrides, force, data_dir, quiet)
        return
    if config is None:
        raise ConfigError("give a CONFIG to train (e.g. nnbook train configs/ch6_shallow.yaml) "
                          "or --resume RUN_DIR to continue a run")
    if force:
        raise ConfigError("--force only applies to --resume")
    cfg = load_config(config, overrides)
    if dry_run:
        show_dry_run(cfg)
        return
    stack_size = stack_option(stack)
    if stack_size == "point":
        raise ConfigError("--stack point applies to nnbook sweep; give auto or a number of runs")
    if sequential:
        jobs, stack_size = 1, 1
    from nnbook.experiments.experiment import raise_if_diverged  # deferred: torch (--help stays fast)

    results = train_scheduled(cfg, seeds_of(cfg), runs_dir, data_dir, TrainDisplay(quiet=quiet), jobs,
                              None if stack_size == "auto" else stack_size, threads, quiet, config_source=str(config))
    raise_if_diverged(results, cfg)


def train_scheduled(cfg, seeds: list[int], runs_dir: Path, data_dir, display, jobs: Optional[int],
                    stack: Optional[int], threads: Optional[int], quiet: bool, dataset=None,
                    config_source: str = "config") -> list:
    """Train these seeds of the config on the schedule chosen for them (experiments/schedule.py):
    one process with its stacks, shown by `display`, or worker processes, a line per epoch
    of each and the result table at the end. `dataset`: one already loaded (this process only)."""
    from nnbook.config import run_config
    from nnbook.experiments.experiment import train_experiment
    from nnbook.experiments.schedule import schedule_of_config

    schedule, why = schedule_of_config(cfg, len(seeds), jobs, stack, threads)
    if len(seeds) > 1:
        display.print(f"Schedule: {schedule.describe(len(seeds))} ({why})")
    if schedule.workers == 1:
        return train_experiment(cfg, runs_dir, display, data_dir=data_dir, config_source=config_source,
                                dataset=dataset, members=[run_config(cfg, s) for s in seeds], stack=schedule.stack)

    from nnbook.sweep.local import train_on_workers
    from nnbook.ui.sweep_display import SweepDisplay

    outcomes = train_on_workers(cfg, schedule.workers, schedule.stack, schedule.threads, runs_dir, data_dir,
                                SweepDisplay(quiet=quiet), seeds)
    results = results_of(outcomes)
    TrainDisplay(quiet=quiet).finish(results)
    raise_if_failed(outcomes)
    return results


def train_configs_scheduled(todo: list, runs_dir: Path, data_dir, jobs: int, stack: Optional[int], quiet: bool,
                            on_config) -> None:
    """`nnbook chapter6 --jobs N`: every (config, seeds, stopped groups) of `todo` on one pool of N CPU
    workers, the seeds cut into the stacks the config's schedule chooses for N workers (or `stack`),
    each stopped group resumed whole; a worker that frees takes the next stack, of whichever config,
    longest first. on_config(config, its runs) as each config's last stack ends, after its result table."""
    from nnbook.experiments.schedule import cores, schedule_of_config
    from nnbook.sweep.local import train_configs_on_workers
    from nnbook.training.timing import seconds_per_run  # deferred: torch
    from nnbook.ui.sweep_display import SweepDisplay

    display = SweepDisplay(quiet=quiet)
    threads = max(1, cores() // jobs)
    stacks = []
    for cfg, seeds, _ in todo:
        if not seeds:  # only stopped groups to resume: their stacks are as they were
            stacks.append(1)
            continue
        schedule, why = schedule_of_config(cfg, len(seeds), jobs, stack)
        stacks.append(schedule.stack)
        display.print(f"Schedule: {cfg.name}: {len(seeds)} run(s) as stacks of at most {schedule.stack} ({why})")
    try:
        run_seconds, _ = seconds_per_run([cfg for cfg, _, _ in todo], "cpu")  # as `nnbook list` estimates a run
        order = "longest first (by a short timing of each config)"
    except Exception as e:  # noqa: BLE001 - as in schedule_for: a config that cannot train fails in training
        run_seconds, order = None, f"in the configs' order (not timed: {type(e).__name__})"
    display.print(f"The {len(todo)} configs' stacks on {jobs} workers of {threads} "
                  f"thread{'s' if threads > 1 else ''}, {order}, each worker taking the next stack as it frees")

    def done(cfg, outcomes) -> None:
        results = results_of(outcomes)
        TrainDisplay(quiet=quiet).finish(results)
        on_config(cfg, results)

    outcomes = train_configs_on_workers(todo, stacks, jobs, threads, runs_dir, data_dir, display, done, run_seconds)
    raise_if_failed(outcomes)


def results_of(outcomes) -> list:
    """The runs the workers' outcomes wrote, by seed."""
    from nnbook.experiments.display import RunResult
    from nnbook.runs.directory import read_summary

    return sorted((RunResult(p, read_summary(p)) for o in outcomes for p in o.paths), key=lambda r: r.summary.seed)


def raise_if_failed(outcomes) -> None:
    from nnbook.errors import NnbookError

    failed = [o for o in outcomes if o.error]
    if failed:
        raise NnbookError(f"{len(failed)} of {len(outcomes)} stacks failed (first: {failed[0].job.label}: "
                          f"{failed[0].error}); their completed epochs are kept: resume with nnbook train --resume")


def resume_run(run_dir: Path, overrides: list[str], force: bool, data_dir, quiet: bool) -> None:
    from nnbook.experiments.experiment import raise_if_diverged, resume_experiment  # deferred: torch (as above)

    plan = plan_resume(run_dir, overrides, force)
    display = TrainDisplay(quiet=quiet)
    if plan.finished:
        display.print(plan.finished)
        return
    if plan.changes:
        display.print(f"[yellow]--force: continuing with {', '.join(plan.changes)}[/]")
    raise_if_diverged(resume_experiment(plan, display, data_dir=data_dir), plan.config)


def gradients(
    config: ConfigArg,
    set_: SetOpt = None,
    networks: Annotated[int, typer.Option(
        min=1, help="Random networks measured (seeds seed, seed+1, ...); the book shows one.")] = 3,
    sample: Annotated[int, typer.Option(min=1, help="The gradient is the mean over the first N training images.")]
    = 1000,
    epochs: Annotated[int, typer.Option(
        min=0, help="Then train this many epochs of full-batch gradient descent on those images (eta, lmbda "
        "from the config) and plot the norms per epoch; 0: initialisation only.")] = 500,
    out: Annotated[Optional[Path], typer.Option(
        help="Where NAME-gradients.png and NAME-gradients.json are written (default: RUNS_DIR/gradients/).",
        show_default=False)] = None,
    runs_dir: ResultsRootOpt = Path("runs"),
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Chapter 5's speed of learning: ||dC/db|| of each hidden layer at initialisation, then over training.

    The book: [784,30,30,10] 0.07, 0.31; [784,30,30,30,10] 0.012, 0.060, 0.283; four hidden layers
    0.003, 0.017, 0.070, 0.285 (one random network each: the pattern is what reproduces).

    Example:

        nnbook gradients configs/ch5_784_30_30_30_10.yaml
    """
    cfg = load_config(config, config_overrides(set_, seed=seed, device=device))
    from nnbook.experiments.gradients import measure  # deferred: torch (--help stays fast)

    out = out or layout.output_dir(runs_dir, layout.GRADIENTS)
    result = measure(cfg, networks, sample, epochs, out, data_dir=data_dir, source=str(config))
    show_gradients(cfg, result, sample, epochs, modified=bool(set_))
