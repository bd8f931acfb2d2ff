"""`nnbook train` (with --resume and --dry-run) and `nnbook gradients`: the commands that train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.api.training import train_config
from nnbook.cli.options import (AddressOpt, ConfigArg, CpusPerTaskOpt, DataDirOpt, DeviceOpt, ExecutorOpt,
                                GpusPerTaskOpt, JobsOpt, QuietOpt, ResultsRootOpt, RunsDirOpt, SeedOpt, SetOpt,
                                StackOpt, ThreadsOpt, asked_placement, config_overrides, stack_option)
from nnbook.config import load_config
from nnbook.errors import ConfigError
from nnbook.execution.placement import Executor, RayOptions, default_threads
from nnbook.execution.stack import Dirs
from nnbook.execution.train import Displays, use_threads
from nnbook.experiments.resume import plan_resume
from nnbook.runs import layout
from nnbook.runs.directory import config_file
from nnbook.ui.dry_run import show_dry_run
from nnbook.ui.gradients_display import show_gradients
from nnbook.ui.sweep_display import SweepDisplay
from nnbook.ui.train_display import TrainDisplay


def train(
    config: Annotated[Optional[Path], typer.Argument(
        help="An experiment YAML, a run's config.yaml, or the name of a shipped config (`nnbook list`: e.g. "
        "ch6_shallow).", show_default=False)] = None,
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
        "--dry-run", help="Print the resolved config and the model, and check the device and the data file "
        "as training would first, then exit without training.")] = False,
    quiet: QuietOpt = False,
    threads: ThreadsOpt = None,
    executor: ExecutorOpt = Executor.local,
    address: AddressOpt = None,
    cpus_per_task: CpusPerTaskOpt = 1,
    gpus_per_task: GpusPerTaskOpt = None,
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

        nnbook train ch6_shallow --set epochs=1

        nnbook train configs/ch6_dbl_conv_relu.yaml --set train_limit=1000 --set epochs=2

        nnbook train configs/ch6_relu_dropout.yaml --repeats 5 --device cuda

        nnbook train --resume runs/ch6_shallow-20261123-113949

    Ctrl-C (or SIGTERM) stops a run cleanly, keeping every completed epoch; a second Ctrl-C stops at once.
    """
    overrides = config_overrides(set_, seed=seed, device=device, repeats=repeats)
    if resume is not None:
        if config is not None:
            raise ConfigError(f"give either a CONFIG to train or --resume RUN_DIR, not both (the run's own "
                              f"config is {config_file(resume)}; change it with --set ... --force)")
        if dry_run or sequential or jobs is not None or stack != "auto" or executor is not Executor.local or address:
            raise ConfigError("--dry-run, --sequential, --jobs, --stack and --executor do not apply to --resume (a "
                              "stack resumes as it was trained, here; resume each stack of a --jobs run on its own)")
        use_threads(threads or default_threads())  # nnbook's default, as training has, unless --threads says
        resume_run(resume, overrides, force, data_dir, quiet)
        return
    if config is None:
        raise ConfigError("give a CONFIG to train (e.g. nnbook train configs/ch6_shallow.yaml) "
                          "or --resume RUN_DIR to continue a run")
    if force:
        raise ConfigError("--force only applies to --resume")
    cfg = load_config(config, overrides)
    if dry_run:
        from nnbook.experiments.experiment import check_first  # deferred: torch (as below)

        show_dry_run(cfg, check_first(cfg, data_dir, str(config)))
        return
    stack_size = stack_option(stack)
    if stack_size == "point":
        raise ConfigError("--stack point applies to nnbook sweep; give auto or a number of runs")
    if sequential:
        jobs, stack_size = 1, 1
    from nnbook.experiments.experiment import raise_if_diverged  # deferred: torch (--help stays fast)

    asked = asked_placement(executor, jobs, stack_size, threads, RayOptions(address, cpus_per_task, gpus_per_task))
    results = train_config(cfg, str(config), Dirs(runs_dir, data_dir), displays(quiet), asked)  # as nnbook.train
    raise_if_diverged(results, cfg)


def displays(quiet: bool) -> Displays:
    """nnbook train's display in this process; a line per stack on workers or Ray."""
    return Displays(training=lambda: TrainDisplay(quiet=quiet), pool=lambda: SweepDisplay(quiet=quiet))


def resume_run(run_dir: Path, overrides: list[str], force: bool, data_dir, quiet: bool) -> None:
    from nnbook.experiments.experiment import raise_if_diverged, resume_experiment  # deferred: torch (as above)

    plan = plan_resume(run_dir, overrides, force)
    display = TrainDisplay(quiet=quiet)
    if plan.finished:
        display.say(plan.finished)  # the answer to the command: with --quiet too
        return
    if plan.changes:
        display.print(f"[yellow]continuing with {', '.join(plan.changes)}[/]")
    raise_if_diverged(resume_experiment(plan, Dirs(Path(run_dir).parent, data_dir), display), plan.config)


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
        metavar="DIR", help="Where NAME-gradients.png and NAME-gradients.json are written (default: RUNS_DIR/gradients/).",
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
    from nnbook.experiments.gradients import Measurement, measure  # deferred: torch (--help stays fast)

    out = out or layout.output_dir(runs_dir, layout.GRADIENTS)
    result = measure(cfg, Measurement(networks, sample, epochs), out, data_dir=data_dir, source=str(config))
    show_gradients(cfg, result, sample, epochs, modified=bool(set_))
