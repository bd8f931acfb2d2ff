"""`nnbook augment-preview`: a grid of a config's distortions of real training images, on
the CPU, before anyone trains with them. The distortions themselves are data/augment.py's."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from nnbook.analysis.plots import plot_preview
from nnbook.config import Config
from nnbook.data import augment, mnist
from nnbook.errors import ConfigError


class Grid(NamedTuple):
    """What the preview shows: bundled, as the three make the picture together."""

    images: int  # training images, one per row
    samples: int  # distorted copies of each, beside the original
    seed: int  # the seed the distortions are drawn from (a member seeded so trains with them)


def write_preview(config: Config, out: Path, grid: Grid, data_dir=None, source: str = "config") -> Path:
    """Row i: training image i undistorted, then `grid.samples` distortions of it drawn from `grid.seed`."""
    if config.augment is None or not config.augment.enabled():
        raise ConfigError(f"{source}: no distortion to preview: the augment block is missing or all null; "
                          "add e.g. augment: {rotate: 10, elastic: {alpha: 34, sigma: 4}}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {out.parent} does not exist")
    dataset = mnist.load(config.data, data_dir, source=source)
    # The distortions a member seeded `grid.seed` trains with.
    mosaic = augment.preview_mosaic(dataset.training.x[:grid.images], config.augment, grid.seed, grid.samples)
    return plot_preview(mosaic, out, f"{config.name}: {augment.describe(config.augment)}")
