"""Chapter 5's speed of learning, computed: random nets of a config, then full-batch gradient descent.

`gradient_norms` builds the config's network with one member per seed, measures
||dC/db|| of each hidden layer at initialisation (the mean gradient over the images
given) and after each of `epochs` steps of full-batch gradient descent on them, with
the config's eta, lmbda and mu (nn/measure.gradient_trajectory takes the steps). Where
the images come from and what is written is experiments/gradients.py's.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch

from nnbook.config import Config
from nnbook.data.book_format import Split
from nnbook.nn.costs import COSTS
from nnbook.nn.measure import Descent, gradient_trajectory
from nnbook.nn.net import build_model, torch_dtype
from nnbook.nn.sgd import l2_decay


def gradient_norms(config: Config, sample: Split, seeds: list[int], epochs: int, device: torch.device,
                   on_epoch: Optional[Callable] = None) -> list[list[list[float]]]:
    """||dC/db|| per [epoch][member][hidden layer] (row 0 at initialisation) of the nets of
    `config` seeded `seeds`, trained by full-batch gradient descent on the `sample` images (n, 784)
    and labels (n,) on `device`."""
    n = len(sample)
    x = torch.from_numpy(sample.x).to(device=device, dtype=torch_dtype(config))
    y = torch.from_numpy(sample.y).to(device)
    net = build_model(config, seeds).to(device)
    # Full-batch gradient descent: one mini-batch of all n images, so network2's L2 decay is lmbda/n.
    decay = l2_decay(config.model_copy(update={"mini_batch_size": n}), n)
    return gradient_trajectory(net, x, y, Descent(COSTS[config.cost], config.eta, decay, config.mu), epochs, on_epoch)
