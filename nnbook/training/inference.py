"""A trained member outside training: its network rebuilt from a config and saved weights,
and the digits it predicts.

What reads runs (analysis/evaluate.py) gets a network from `saved_network` and never
assembles a StackedNet itself; which file holds the weights is runs/directory.py's. The
network is the evaluated one (dropout off, network3's (1-p) scaling on), as the loop
evaluates it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nnbook.config import Config
from nnbook.nn.net import StackedNet, torch_dtype
from nnbook.training.devices import resolve_device


class WeightsMismatch(ValueError):
    """Saved weights that do not fit the config's layers (a tensor missing or of another shape)."""


@dataclass
class Network:
    """One member's network (K = 1) with its saved weights, in the config's dtype on `device`."""

    net: StackedNet
    device: torch.device

    def predict(self, images: np.ndarray) -> np.ndarray:
        """The predicted digit of each of the (n, 784) images: (n,) labels."""
        return self.probabilities(images).argmax(-1)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """The class probabilities of each of the (n, 784) images: (n, 10), in the network's dtype, as
        training saves its test predictions."""
        x = torch.from_numpy(images).to(device=self.device, dtype=next(self.net.parameters()).dtype)
        return self.net.probabilities(x)[0].cpu().numpy()


def saved_network(config: Config, weights: dict[str, torch.Tensor], device: str) -> Network:
    """The network of `config` with a member's saved `weights` (StackedNet.member_weights) on
    `device` (auto, cpu, cuda, cuda:N, mps); WeightsMismatch when they do not fit its layers."""
    dev = resolve_device(device)
    net = StackedNet(config, k=1).to(torch_dtype(config))  # in its dtype first: float64 weights stay whole
    try:
        net.load_member_weights(0, weights)
    except (RuntimeError, KeyError) as e:
        raise WeightsMismatch(str(e)) from None
    return Network(net.to(dev), dev)
