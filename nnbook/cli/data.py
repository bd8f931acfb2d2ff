"""`nnbook data`, `nnbook expand-mnist` and `nnbook augment-preview`: the commands about the data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.cli.options import ConfigArg, DataDirOpt, ResultsRootOpt, SetOpt, config_overrides
from nnbook.config import load_config
from nnbook.data import array_cache, mnist
from nnbook.data.expand import Expansion
from nnbook.runs import layout


def data(data_dir: DataDirOpt = None) -> None:
    """Find and verify the book's mnist.pkl.gz (downloading it if it is nowhere), and say where it is."""
    print(f"mnist.pkl.gz: {mnist.find_mnist(data_dir)} (sha256 verified)")
    expanded = mnist.find_expanded(data_dir)
    print(f"mnist_expanded.pkl.gz: {expanded or 'not made yet (nnbook expand-mnist)'}")
    entries, size = array_cache.usage(mnist.cache_dir())
    print(f"array cache: {array_cache.arrays_dir(mnist.cache_dir())} (the arrays of {entries} data "
          f"file{'' if entries == 1 else 's'}, {size / 1e6:,.0f} MB; made again when needed, safe to delete)")


def expand_mnist(
    out: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="Write here instead of the data directory (a config then names it with `data: PATH`).",
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
    target = out or mnist.output_dir(data_dir) / mnist.EXPANDED_FILE
    mnist.make_expanded(target, data_dir=data_dir, expansion=Expansion(seed, train_limit), force=force)


def augment_preview(
    config: ConfigArg,
    set_: SetOpt = None,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", metavar="FILE", help="The image to write (.png, .pdf, .svg, ...; default: RUNS_DIR/previews/NAME.png).",
        show_default=False)] = None,
    runs_dir: ResultsRootOpt = Path("runs"),
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
    cfg = load_config(config, config_overrides(set_))
    from nnbook.analysis.augment_preview import Grid, write_preview  # deferred: torch (--help stays fast)

    if out is None:
        out = layout.make_output_dir(layout.output_dir(runs_dir, layout.PREVIEWS)) / f"{cfg.name}.png"

    write_preview(cfg, out, Grid(images, samples, cfg.seed if seed is None else seed), data_dir, source=str(config))
    print(f"wrote {out}: {images} training images (first column) and {samples} distortions of each")
