"""The initialisation rules by name (the config's `init`): network3, default, large, he.

One place for the conventions the book's programs disagree on:
  - weights ~ N(0, std^2), std from `weight_std`: network3 divides by the
    layer's n_out where its author meant n_in (the book's numbers were made
    so); network2's default by n_in; chapter 1's large is 1; He et al.'s
    sqrt(2/n_in) is nnbook's answer to chapter 6's ReLU problem;
  - network3's n_out of a conv layer is filters*kh*kw / pool area (`conv_fans`);
  - biases ~ N(0, 1), except he (zeros) and network3's softmax layer, whose
    weights and biases both start at zero.

The layers (`layers.py`) call `draw` once per member with that member's
generator: the weights first, then the biases, so a member's numbers do not
depend on how many members are drawn beside it.

The draws are always float64, then stored in the run's dtype. torch's float32
normal sampler takes a different vectorised path on each CPU (AVX-512, AVX2, the
default ISA) and its numbers differ in the last bits between them; its float64
sampler gives the same numbers on all of them. So a seed means the same initial
weights on every machine, and in both precisions (float32's are float64's rounded).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


def weight_std(init: str, fan_in: int, n_out: float) -> float:
    """Standard deviation of the initial weights of a layer with `fan_in` inputs per unit."""
    return {
        "network3": math.sqrt(1.0 / n_out),
        "default": math.sqrt(1.0 / fan_in),
        "large": 1.0,
        "he": math.sqrt(2.0 / fan_in),
    }[init]


class Fans(NamedTuple):
    """A layer's two sizes that `weight_std` scales by: bundled, as every rule reads one or the other."""

    fan_in: int  # inputs per unit (a conv layer's: in_channels * kernel^2)
    n_out: float  # network3's n_out (a conv-pool layer's: filters * kernel^2 / pool^2)


def conv_fans(filters: int, in_channels: int, kernel: int, pool: int) -> Fans:
    """(fan_in, network3's n_out) of a conv-pool layer: n_out = filters*kernel^2 / pool^2."""
    return Fans(in_channels * kernel * kernel, filters * kernel * kernel / (pool * pool))


def draw(init: str, weight_shape: tuple[int, ...], n_biases: int, fans: Fans, gen: torch.Generator,
         softmax: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """One member's initial (weights, biases) of one layer, weights drawn first, in float64."""
    f64 = torch.float64
    if softmax and init == "network3":  # network3's SoftmaxLayer starts at zero
        return torch.zeros(weight_shape, dtype=f64), torch.zeros(n_biases, dtype=f64)
    w = torch.randn(weight_shape, generator=gen, dtype=f64) * weight_std(init, fans.fan_in, fans.n_out)
    b = torch.zeros(n_biases, dtype=f64) if init == "he" else torch.randn(n_biases, generator=gen, dtype=f64)
    return w, b
