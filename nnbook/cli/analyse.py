"""The commands that read finished runs: `ensemble`, `evaluate`, `report`, `plot`, and
`chapter6`, which trains a whole chapter and then reports on it."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

# The choices of --method, --weights, --split and --format are the library's own enums, so --help lists them.
from nnbook.analysis.ensemble import EnsembleOptions, VoteSplit, Weights, run_ensemble
from nnbook.analysis.voting import Method
from nnbook.analysis.evaluate import Split, evaluate_run, render_confusion
from nnbook.analysis.plots import plot_runs
from nnbook.analysis.report import Format, collect, expand_paths, render
from nnbook.cli.options import (AddressOpt, CpusPerTaskOpt, DataDirOpt, DeviceOpt, ExecutorOpt, GpusPerTaskOpt,
                                JobsOpt, ResultsRootOpt, RunDirsArg, StackOpt, ThreadsOpt, asked_placement,
                                stack_option)
from nnbook.cli.train import displays
from nnbook.errors import ConfigError, NnbookError
from nnbook.execution.placement import Executor, RayOptions, check_workers_device
from nnbook.execution.train import Displays, Runs, train_all, train_runs
from nnbook.runs import layout
from nnbook.runs.directory import is_run_dir
from nnbook.ui.console import pct
from nnbook.ui.ensemble_display import show_members
from nnbook.ui.train_display import TrainDisplay


def ensemble(
    run_dirs: RunDirsArg,
    method: Annotated[Method, typer.Option(help="vote: the book's plurality vote of labels (ties: the first-seen "
                                                "label); mean: average the members' probabilities.")] = Method.vote,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Output directory (default: a new RUNS_DIR/ensembles/NAME-TIME/).", show_default=False)]
    = None,
    only: Annotated[Optional[str], typer.Option(metavar="NAME", help="Use only the runs of this config name.",
                                                show_default=False)] = None,
    weights: Annotated[Weights, typer.Option(
        help="best: each run's best-validation network (nnbook's figure); last: the network after its last "
        "epoch, as the book's conv.py voted.")] = Weights.best,
    mixed: Annotated[bool, typer.Option(
        "--mixed", help="Vote runs of different experiments together (other configs, or the same config with "
        "other --set values); refused without it. The output names every experiment that voted.")] = False,
    split: Annotated[VoteSplit, typer.Option(
        help="The images voted on. validation: for choices made before the test set is read (which weights "
        "vote, which members); each run's validation predictions are computed from its saved networks and "
        "kept in the run. Such a vote is no test figure: `nnbook report` leaves it out.")] = VoteSplit.test,
    runs_dir: ResultsRootOpt = Path("runs"),
    data_dir: DataDirOpt = None,
) -> None:
    """Combine finished runs by the book's plurality vote, from their saved test predictions.

    Skips (and says so) paths that are not finished runs with predictions; refuses runs evaluated on
    different test data, runs of different experiments (unless --mixed) and one seed of one
    experiment twice. Writes ensemble.json and ensemble_errors.png (the misclassified digits).

    Example:  nnbook train configs/ch6_relu_dropout.yaml --repeats 5 && nnbook ensemble runs/ch6_relu_dropout-*
    """
    path, record = run_ensemble(run_dirs, EnsembleOptions(method, weights, only, mixed, split.value), out, data_dir,
                                root=layout.output_dir(runs_dir, layout.ENSEMBLES))
    show_members(record["members"], split.value)
    print(f"members disagree on {pct(record['disagreement'])} of the {record[f'n_{split.value}']:,} {split.value} "
          f"images (two members, on average: {pct(record['pairwise_disagreement'])})")
    print(f"ensemble {split.value} accuracy {pct(record['accuracy'])} ({record['n_errors']} errors)")
    print(f"wrote {path}/ensemble.json and {path}/ensemble_errors.png")


def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory with a saved network (model.pt).",
                                            show_default=False)],
    split: Annotated[Split, typer.Option(help="Which part of the data set.")] = Split.test,
    data: Annotated[Optional[str], typer.Option(
        metavar="DATA",
        help="Another data set: mnist, mnist_expanded or a file in the book's format (default: the run's own).",
        show_default=False)] = None,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto | cpu | cuda | cuda:N")] = "auto",
    data_dir: DataDirOpt = None,
) -> None:
    """The accuracy of a run's saved (best-validation) network on a data set, with the confusion matrix."""
    result = evaluate_run(run_dir, split, data, data_dir, device)
    print(f"{run_dir}: {split} split of {result.source}")
    print(f"accuracy {100 * result.accuracy:.2f}% ({result.n - result.errors:,} of {result.n:,} correct, "
          f"{result.errors:,} errors)")
    print("confusion matrix (rows: true label, columns: predicted):")
    print(render_confusion(result.confusion))


def report(
    run_dirs: RunDirsArg,
    format: Annotated[Format, typer.Option("--format", "-f", help="A table for the terminal, markdown or CSV.")]
    = Format.table,
    html: Annotated[Optional[Path], typer.Option(
        help="Write one self-contained HTML page instead of printing the table: the table, each row's "
        "validation accuracy per epoch (mean and min-max band of its runs), the votes with their "
        "misclassified digits, and the first conv layer's filters of runs that saved their network. "
        "Its pictures are inside it: it opens offline and can be sent as one file.", show_default=False,
        metavar="FILE")] = None,
) -> None:
    """Runs grouped by experiment: best validation, test at best validation (best of runs, mean ± std),
    time per epoch, and the book's figure with the difference. Ensemble directories become rows too.

    One row per experiment: runs of one config name and one resolved config (seed, repeats and
    device aside). A row whose runs differ from the shipped config of its name says how, e.g.
    `ch6_shallow @eta=0.5`; a scaled-down one (other train_limit or data, fewer epochs) gets no
    difference with the book. The table fits the terminal (one block per row where it is narrow);
    CSV gives accuracies in percent, the difference in percentage points.

    Example:  nnbook report runs/ --html report.html
    """
    rows = collect(run_dirs)
    if not rows:
        raise ConfigError(f"no runs or ensembles in {', '.join(map(str, run_dirs))}")
    if html is None:
        sys.stdout.write(render(rows, format))
        return
    if html.is_dir() or not html.parent.is_dir():
        raise ConfigError(f"--html {html}: {'a folder' if html.is_dir() else 'no such folder ' + str(html.parent)}"
                          "; give the path of the page to write, e.g. --html report.html")
    from nnbook.analysis.html_report import write_page  # deferred: matplotlib (--help stays fast)

    write_page(run_dirs, html, "nnbook report " + " ".join(map(str, run_dirs)))
    print(f"wrote {html}")


def plot(
    run_dirs: RunDirsArg,
    out: Annotated[Optional[Path], typer.Option(metavar="DIR", help="Directory for the PNGs (default: RUNS_DIR/plots/).",
                                                show_default=False)] = None,
    runs_dir: ResultsRootOpt = Path("runs"),
) -> None:
    """Write PNGs: validation (and training, where recorded) accuracy per epoch of all the runs on one
    figure (accuracy.png), and each conv run's first-layer filters (filters-RUN.png)."""
    paths = [p for p in expand_paths(run_dirs) if is_run_dir(p)]
    if not paths:
        raise NnbookError(f"no run directories in {', '.join(map(str, run_dirs))}")
    for path in plot_runs(paths, out or layout.output_dir(runs_dir, layout.PLOTS)):
        print(f"wrote {path}")


def chapter6(
    epochs_scale: Annotated[float, typer.Option(metavar="FACTOR", help="Multiply every config's epochs (at least 1 each): "
                                                     "0.05 gives 3 epochs instead of 60 for a quick CPU pass.")] = 1.0,
    train_limit: Annotated[Optional[int], typer.Option(min=1, help="Train on the first N images only.",
                                                       show_default=False)] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Runs per config (the book: 3).")] = 3,
    ensemble_size: Annotated[int, typer.Option(help="relu_dropout runs in the ensemble (the book: 5).")] = 5,
    only: Annotated[Optional[list[str]], typer.Option(metavar="NAME", help="Run only these configs (repeatable).",
                                                      show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option(
        metavar="DIR", help="Output directory (default: RUNS_DIR/chapters/chapter6-TIME/).", show_default=False)]
    = None,
    runs_dir: ResultsRootOpt = Path("runs"),
    configs_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR",         help="Where the ch6_*.yaml configs are (default: the configs shipped with nnbook).",
        show_default=False)] = None,
    device: DeviceOpt = None,
    jobs: JobsOpt = None,
    stack: StackOpt = "auto",
    threads: ThreadsOpt = None,
    executor: ExecutorOpt = Executor.local,
    address: AddressOpt = None,
    cpus_per_task: CpusPerTaskOpt = 1,
    gpus_per_task: GpusPerTaskOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only progress lines, not every epoch.")] = False,
    data_dir: DataDirOpt = None,
) -> None:
    """Reproduce chapter 6: every config of its table with repeats, the dropout-net ensemble, plots,
    and a markdown report beside the book's figures (chapter6.md).

    The full chapter is ~13 configs x 3 runs x 60 epochs: a GPU job. For a quick look on a CPU:

        nnbook chapter6 --epochs-scale 0.02 --train-limit 5000

    Stopped (Ctrl-C, a failure, a machine that went down)? Run the same command with the same
    --out again: finished configs are kept, stopped ones resume exactly, the report is rewritten
    after every config.

    On a CPU, --jobs N trains every config's runs on one pool of N worker processes: a worker
    done with its share of one config starts on the next, so no core waits for a config to end;
    the longest stacks (by a short timing of each config) start first. With --executor ray (or
    --address) they go to a Ray cluster instead, a task per stack, copied back as each one ends.
    """
    from nnbook.experiments.chapter6 import ChapterOptions, Trainers, run_chapter6  # deferred: torch
    from nnbook.training.devices import resolve_device

    stack_size = stack_option(stack)
    if stack_size == "point":
        raise ConfigError("--stack point applies to nnbook sweep; give auto or a number of runs")
    asked = asked_placement(executor, jobs, stack_size, threads, RayOptions(address, cpus_per_task, gpus_per_task))
    shown = displays(quiet)
    if jobs is not None and jobs > 1:  # refused before anything is resumed or made, not when the pool starts
        check_workers_device(jobs, resolve_device(device or "auto"))

    def train_seeds(config, seeds, dirs, dataset, display):
        return train_runs(Runs(config, seeds), dirs, Displays(lambda: display, shown.pool), asked, dataset)

    def train_everything(todo, dirs, on_config):  # one pool of workers, or a Ray cluster, for every config's runs
        train_all([Runs(*entry) for entry in todo], dirs, shown, asked, on_config)

    together = asked.executor is Executor.ray or (jobs is not None and jobs > 1)
    target = out or layout.output_dir(runs_dir, layout.CHAPTERS) / f"chapter6-{time.strftime('%Y%m%d-%H%M%S')}"
    options = ChapterOptions(epochs_scale, train_limit, repeats, ensemble_size, only, device,
                             command="nnbook " + shlex.join(sys.argv[1:]))
    run_chapter6(configs_dir, target, options, data_dir,
                 Trainers(lambda: TrainDisplay(quiet=quiet), train_seeds, train_everything if together else None))
