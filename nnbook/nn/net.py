"""The model factory: layers, activations, initialisations and costs by name.

`build_model(config, seeds)` makes a `StackedNet`: K independent members of one
architecture whose parameters are stacked on a leading K axis, so K repeats or
ensemble members train in one process with a few large ops instead of K small
ones. A single run is K = 1. Member k is initialised from its own generator
(seeded with `seeds[k]`), exactly as a run with that seed alone would be.

Activations flow between layers as
  - conv layers: (B, K*C, H, W), member k owning channels k*C .. (k+1)*C-1;
  - fully connected layers: (K, B, n);
  - the network input: (B, 784) when all members see the same mini-batch
    (network3's fixed order), (K, B, 784) when each has its own (reshuffling).

Knows nothing of files, optimisers or configs on disk.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nnbook.config import IMAGE_SIDE, Config, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer, infer_shapes, n_features

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda z: z,
}


def weight_std(init: str, fan_in: int, n_out: int) -> float:
    """Standard deviation of the initial weights. network3 scales by n_out (the
    book's numbers were made so; its author notes n_in was meant)."""
    return {
        "network3": math.sqrt(1.0 / n_out),
        "default": math.sqrt(1.0 / fan_in),
        "large": 1.0,
        "he": math.sqrt(2.0 / fan_in),
    }[init]


def channels_last(h: torch.Tensor) -> torch.Tensor:
    """h (B, C, H, W) in channels_last memory: oneDNN's small convolutions and,
    above all, max-pooling are several times faster so on the CPU. With one
    channel both layouts coincide and oneDNN would pick NCHW for the output;
    channels_last strides make it pick channels_last."""
    if h.shape[1] == 1:
        return h.contiguous().as_strided(h.shape, (h.shape[2] * h.shape[3], 1, h.shape[3], 1))
    return h.contiguous(memory_format=torch.channels_last)


class ConvPool(nn.Module):
    """Valid convolution (stride 1) -> max-pool (border ignored) -> + bias -> activation."""

    def __init__(self, spec: ConvPoolLayer, in_channels: int, k: int):
        super().__init__()
        self.spec, self.in_channels, self.k = spec, in_channels, k
        self.weight = nn.Parameter(torch.empty(k, spec.filters, in_channels, spec.kernel, spec.kernel))
        self.bias = nn.Parameter(torch.empty(k, spec.filters))
        self.act = ACTIVATIONS[spec.activation]

    def init_member(self, m: int, init: str, gen: torch.Generator) -> None:
        s = self.spec
        fan_in = self.in_channels * s.kernel * s.kernel
        n_out = s.filters * s.kernel * s.kernel / (s.pool * s.pool)  # network3's "n_out" of a conv layer
        self.weight.data[m] = torch.randn(self.weight.shape[1:], generator=gen) * weight_std(init, fan_in, n_out)
        self.bias.data[m] = torch.zeros(s.filters) if init == "he" else torch.randn(s.filters, generator=gen)

    def forward(self, h: torch.Tensor, mask=None, training=True) -> torch.Tensor:
        if h.dim() == 2:  # shared input images (B, 784)
            h = h.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        elif h.dim() == 3:  # per-member input images (K, B, 784) -> (B, K, 28, 28)
            h = h.transpose(0, 1).reshape(h.shape[1], self.k, IMAGE_SIDE, IMAGE_SIDE)
        groups = h.shape[1] // self.in_channels  # 1 when members share the input, else K
        w = self.weight.reshape(-1, *self.weight.shape[2:])  # (K*F, C, kh, kw)
        z = F.conv2d(channels_last(h), w, groups=groups)
        z = F.max_pool2d(z, self.spec.pool)
        z = z + self.bias.reshape(1, -1, 1, 1)
        return self.act(z)  # (B, K*F, H', W')


class Dense(nn.Module):
    """A fully connected layer with network3's dropout: in training the *input* is
    multiplied by a Bernoulli(1-p) mask, unscaled; at evaluation the layer
    computes (1-p) * (x @ w) + b instead."""

    def __init__(self, spec: FullyConnectedLayer | SoftmaxLayer, n_in: int, k: int, output: bool):
        super().__init__()
        self.spec, self.n_in, self.k, self.output = spec, n_in, k, output
        self.p_dropout = spec.p_dropout
        self.weight = nn.Parameter(torch.empty(k, n_in, spec.units))
        self.bias = nn.Parameter(torch.empty(k, spec.units))
        # The output layer returns z: costs and probabilities apply its nonlinearity.
        self.act = ACTIVATIONS[getattr(spec, "activation", "linear")] if not output else None

    def init_member(self, m: int, init: str, gen: torch.Generator) -> None:
        units = self.spec.units
        if isinstance(self.spec, SoftmaxLayer) and init == "network3":
            self.weight.data[m] = 0.0  # network3's softmax starts at zero
            self.bias.data[m] = 0.0
            return
        self.weight.data[m] = torch.randn(self.n_in, units, generator=gen) * weight_std(init, self.n_in, units)
        self.bias.data[m] = torch.zeros(units) if init == "he" else torch.randn(units, generator=gen)

    def forward(self, h: torch.Tensor, mask=None, training=True) -> torch.Tensor:
        if h.dim() == 4:  # from a conv layer: (B, K*C, H, W) -> (K, B, C*H*W)
            h = h.reshape(h.shape[0], self.k, -1).transpose(0, 1)
        elif h.dim() == 2:  # shared input (B, n) -> (K, B, n)
            h = h.unsqueeze(0).expand(self.k, -1, -1)
        bias = self.bias.unsqueeze(1)  # (K, 1, units)
        if training:
            if mask is not None:
                h = h * mask
            z = torch.baddbmm(bias, h, self.weight)
        else:
            z = torch.baddbmm(bias, h, self.weight, alpha=1.0 - self.p_dropout)
        return z if self.act is None else self.act(z)  # (K, B, units)


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

    def forward(self, x: torch.Tensor, masks: dict | None = None, training: bool = True) -> torch.Tensor:
        """x: (B, 784) or (K, B, 784); masks: {layer index: (K, B, n_in)}. Returns z: (K, B, 10)."""
        h = x
        for i, layer in enumerate(self.layers):
            h = layer(h, masks.get(i) if masks else None, training)
        return h

    @torch.no_grad()
    def probabilities(self, x: torch.Tensor, batch: int = 2000) -> torch.Tensor:
        """Evaluation-mode class probabilities for N images in large batches: (K, N, 10)."""
        out = [output_probabilities(self.config.cost, self(x[i:i + batch], training=False))
               for i in range(0, len(x), batch)]
        return torch.cat(out, dim=1)

    def member_state(self, m: int) -> dict[str, torch.Tensor]:
        """Member m's weights, shaped as a single network's (no K axis), on the CPU."""
        return {name: p[m].detach().cpu().clone() for name, p in self.named_parameters()}

    def load_member_state(self, m: int, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for name, p in self.named_parameters():
                p[m].copy_(state[name])

    def weights(self) -> list[torch.Tensor]:
        """The parameters the L2 term covers: weights only, biases excluded (as in both book programs)."""
        return [layer.weight for layer in self.layers]


def build_model(config: Config, seeds: list[int]) -> StackedNet:
    """K = len(seeds) members, member k drawn from torch.Generator().manual_seed(seeds[k])."""
    net = StackedNet(config, k=len(seeds))
    for m, seed in enumerate(seeds):
        net.init_member(m, torch.Generator().manual_seed(seed))
    return net


# ----------------------------------------------------------------------------- costs
# Every cost takes the output layer's z (K, B, 10) and labels (B,) or (K, B) and
# returns the mean cost over the mini-batch for each member: (K,).


def log_likelihood(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """network3: -mean log softmax(z)[y]."""
    logp = torch.log_softmax(z, dim=-1)
    y = y.expand(z.shape[0], -1) if y.dim() == 1 else y
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)


def cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """network2: sum over outputs of -t ln a - (1-t) ln(1-a), a = sigmoid(z), t one-hot."""
    t = F.one_hot(y, z.shape[-1]).to(z.dtype).expand_as(z)
    return F.binary_cross_entropy_with_logits(z, t, reduction="none").sum(-1).mean(dim=1)


def quadratic(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """network.py / network2: 0.5 * ||a - t||^2, a = sigmoid(z), t one-hot."""
    t = F.one_hot(y, z.shape[-1]).to(z.dtype).expand_as(z)
    return 0.5 * ((torch.sigmoid(z) - t) ** 2).sum(-1).mean(dim=1)


COSTS = {"log_likelihood": log_likelihood, "cross_entropy": cross_entropy, "quadratic": quadratic}


def output_probabilities(cost: str, z: torch.Tensor) -> torch.Tensor:
    """Class probabilities from z: softmax, or sigmoid activations normalised to sum to 1."""
    if cost == "log_likelihood":
        return torch.softmax(z, dim=-1)
    a = torch.sigmoid(z)
    return a / a.sum(dim=-1, keepdim=True)


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
