"""The activation functions by name: network3's sigmoid, tanh, ReLU and linear.

Each entry holds the three forms nnbook needs of one function:
  - `fn`: a = act(z), out of place, so torch.autograd can differentiate it
    (evaluation, the autograd reference step, the diagnostics);
  - `fn_`: the same in place, for the hand-written step, which runs without
    autograd and keeps a instead of z;
  - `backward`: dC/dz from dC/da and the output a. All four functions have a
    derivative determined by their output (sigmoid a(1-a), tanh 1-a^2, ReLU
    [a > 0]), which is why the hand-written step keeps only a.

The layers (`layers.py`) and benchmarks/bench_step.py look activations up
here; the config's schema decides which names are valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

aten = torch.ops.aten


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    fn_: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (dC/da, a) -> dC/dz


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


ACTIVATIONS = {a.name: a for a in (
    Activation("sigmoid", torch.sigmoid, torch.sigmoid_, aten.sigmoid_backward),
    Activation("tanh", torch.tanh, torch.tanh_, aten.tanh_backward),
    # ReLU's gradient passes where a > 0 (at z = 0 it is 0, as torch.relu's).
    Activation("relu", torch.relu, torch.relu_, lambda grad, a: aten.threshold_backward(grad, a, 0)),
    Activation("linear", _identity, _identity, lambda grad, a: grad),
)}
