"""`nnbook gradients CONFIG`, top to bottom: chapter 5's speed-of-learning measurement.

load data -> `networks` random nets of the config's architecture (members of one
StackedNet, seeds seed, seed+1, ...) -> ||dC/db|| of each hidden layer at
initialisation, the mean gradient over the first `sample` training images ->
optionally `epochs` steps of full-batch gradient descent on those images (the book:
1,000 images, 500 epochs; eta and lmbda from the config; the three numbers are a
`Measurement`) -> a JSON file and a PNG of the norms per epoch, with the book's figures. The norms are computed by
training/learning_speed.py; the command shows the table (ui/gradients_display.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.analysis.plots import plot_gradient_norms
from nnbook.book import GRADIENT_NORMS
from nnbook.config import Config, seeds_of
from nnbook.data import mnist
from nnbook.data.book_format import Split
from nnbook.errors import ConfigError
from nnbook.runs import layout
from nnbook.training.devices import resolve_device
from nnbook.training.learning_speed import gradient_norms


@dataclass(frozen=True)
class Measurement:
    """What `nnbook gradients` measures: bundled, as the three travel together into the JSON record."""

    networks: int  # random nets, seeds seed, seed+1, ... (the book shows one)
    sample: int  # the gradient is the mean over the first `sample` training images
    epochs: int  # then this many steps of full-batch gradient descent on them; 0: initialisation only


@dataclass
class GradientResult:
    seeds: list[int]
    at_init: list[list[float]]  # [member][hidden layer]
    history: list[list[list[float]]]  # [epoch][member][hidden layer], row 0 at initialisation
    book: Optional[list[float]]
    json_path: Optional[Path]
    plot_path: Optional[Path]


def measure(config: Config, asked: Measurement, out_dir: Optional[Path], data_dir: Optional[str] = None,
            source: str = "config", on_epoch=None) -> GradientResult:
    networks, epochs = asked.networks, asked.epochs
    if len(config.layers) < 2:
        raise ConfigError(f"{source}: the network has no hidden layer, so there is no speed of learning to measure")
    device = resolve_device(config.device)
    dataset = mnist.load(config.data, data_dir, source=source)
    n = min(asked.sample, len(dataset.training))
    seeds = seeds_of(config, networks)
    history = gradient_norms(config, Split(dataset.training.x[:n], dataset.training.y[:n]), seeds, epochs, device,
                             on_epoch)

    json_path = plot_path = None
    if out_dir is not None and epochs > 0:
        layout.make_output_dir(out_dir)
        json_path = out_dir / f"{config.name}-gradients.json"
        json_path.write_text(json.dumps({
            "config": config.name, "seeds": seeds, "sample": n, "epochs": epochs, "eta": config.eta,
            "lmbda": config.lmbda, "mu": config.mu, "cost": config.cost, "init": config.init,
            "book_at_initialisation": GRADIENT_NORMS.get(config.name),
            "norms": history,  # [epoch][network][hidden layer], epoch 0 = initialisation
        }) + "\n")
        plot_path = plot_gradient_norms(
            history, out_dir / f"{config.name}-gradients.png",
            f"{config.name}: speed of learning\nfull-batch gradient descent on {n:,} images"
            + (f" (mean of {networks} nets)" if networks > 1 else ""))
    return GradientResult(seeds, history[0], history, GRADIENT_NORMS.get(config.name), json_path, plot_path)
