"""The model: `build_model(config, seeds)` makes a `StackedNet` of the config's layers.

A `StackedNet` is K independent members of one architecture whose parameters
are stacked on a leading K axis, so K repeats or ensemble members train in one
process with a few large ops instead of K small ones. A single run is K = 1.
Member k is initialised from its own generator (seeded from `seeds[k]`,
nnbook/seeds.py), exactly as a run with that seed alone would be.

This module chains the layers (layers.py) and reads members in and out; the
layers own their forward and backward passes, init.py the initial values,
costs.py the output's nonlinearity. Knows nothing of files, optimisers or
configs on disk.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from nnbook.config import IMAGE_SIDE, Config, ConvPoolLayer, SoftmaxLayer, infer_shapes, n_features
from nnbook.nn.costs import COSTS
from nnbook.nn.layers import ConvPool, Dense
from nnbook.seeds import INIT, generator


class StackedNet(nn.Module):
    def __init__(self, config: Config, k: int = 1):
        super().__init__()
        self.config, self.k = config, k
        shapes = infer_shapes(config.layers)
        in_shapes = [(1, IMAGE_SIDE, IMAGE_SIDE)] + shapes[:-1]
        layers = []
        for i, (spec, shape) in enumerate(zip(config.layers, in_shapes)):
            if isinstance(spec, ConvPoolLayer):
                layers.append(ConvPool(spec, shape[0], k))
            else:
                layers.append(Dense(spec, n_features(shape), k, output=i == len(config.layers) - 1))
        self.layers = nn.ModuleList(layers)
        self.shapes = shapes

    def init_member(self, m: int, gen: torch.Generator) -> None:
        """Draw member m's parameters layer by layer, weights then biases."""
        for layer in self.layers:
            layer.init_member(m, self.config.init, gen)

    def dropout_sizes(self) -> list[tuple[int, int]]:
        """(layer index, input width) of every layer that drops out its input."""
        return [(i, l.n_in) for i, l in enumerate(self.layers) if isinstance(l, Dense) and l.p_dropout > 0]

    def forward(self, x: torch.Tensor, masks: Optional[dict] = None, training: bool = True,
                saved: Optional[list] = None) -> torch.Tensor:
        """x: (B, 784) or (K, B, 784); masks: {layer index: (K, B, n_in)}. Returns z: (K, B, 10).
        saved: a list that receives what each layer's backward needs (the hand-written step)."""
        h = x
        for i, layer in enumerate(self.layers):
            # layer.forward, not layer(...): nnbook sets no module hooks, and the
            # training step runs this for every mini-batch.
            h = layer.forward(h, masks.get(i) if masks else None, training, saved)
        return h

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
        """Evaluation-mode class probabilities for N images in large batches: (K, N, 10)."""
        cost = COSTS[self.config.cost]
        out = [cost.probabilities(self(x[i:i + batch], training=False)) for i in range(0, len(x), batch)]
        return torch.cat(out, dim=1)

    def member_weights(self, m: int) -> dict[str, torch.Tensor]:
        """Member m's weights, shaped as a single network's (no K axis), on the CPU."""
        return {name: p[m].detach().cpu().clone() for name, p in self.named_parameters()}

    def load_member_weights(self, m: int, weights: dict[str, torch.Tensor]) -> None:
        """Set member m's parameters to `weights`, shaped as a single network's (member_weights)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                p[m].copy_(weights[name])

    def weights(self) -> list[torch.Tensor]:
        """The parameters the L2 term covers: weights only, biases excluded (as in both book programs)."""
        return [layer.weight for layer in self.layers]


# The config's `dtype` as torch's.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def torch_dtype(config: Config) -> torch.dtype:
    return DTYPES[config.dtype]


def build_model(config: Config, seeds: list[int]) -> StackedNet:
    """K = len(seeds) members in the config's dtype, member k drawn from its own
    generator, seeds.generator(INIT, seeds[k]) (in float64: init.py says why)."""
    net = StackedNet(config, k=len(seeds)).to(torch_dtype(config))
    for m, seed in enumerate(seeds):
        net.init_member(m, generator(INIT, seed))
    return net


def describe(net: StackedNet) -> list[tuple[str, str, int]]:
    """(layer, output shape, parameters) per layer, for one member."""
    rows = []
    for spec, shape, layer in zip(net.config.layers, net.shapes, net.layers):
        params = sum(p[0].numel() for p in layer.parameters())
        if isinstance(spec, ConvPoolLayer):
            what = f"conv_pool {spec.filters}@{spec.kernel}x{spec.kernel}, pool {spec.pool}, {spec.activation}"
        elif isinstance(spec, SoftmaxLayer):
            what = f"softmax {spec.units}"
        else:
            what = f"fc {spec.units}, {spec.activation}"
        if getattr(spec, "p_dropout", 0):
            what += f", p_dropout {spec.p_dropout}"
        rows.append((what, "x".join(str(s) for s in shape), params))
    return rows
