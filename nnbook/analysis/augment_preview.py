"""`nnbook augment-preview`: a grid of a config's distortions of real training images, on
the CPU, before anyone trains with them. The distortions themselves are data/augment.py's."""

from __future__ import annotations

from pathlib import Path

from nnbook.analysis.plots import plot_preview
from nnbook.config import Config
from nnbook.data import augment, mnist
from nnbook.errors import ConfigError


def write_preview(config: Config, out: Path, images: int, samples: int, seed: int, data_dir=None,
                  source: str = "config") -> Path:
    """Row i: training image i undistorted, then `samples` distortions of it drawn from `seed`."""
    if config.augment is None or not config.augment.enabled():
        raise ConfigError(f"{source}: no distortion to preview: the augment block is missing or all null; "
                          "add e.g. augment: {rotate: 10, elastic: {alpha: 34, sigma: 4}}")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {out.parent} does not exist")
    dataset = mnist.load(config.data, data_dir, source=source)
    # The distortions a member seeded `seed` trains with.
    mosaic = augment.preview_mosaic(dataset.training.x[:images], config.augment, seed, samples)
    return plot_preview(mosaic, out, f"{config.name}: {augment.describe(config.augment)}")
