"""One SGD step on one mini-batch, for all K members of a `StackedNet` at once.

`make_step(net, config, decay)` returns the step the training loop calls:
`step(x, t, masks, cost_sum)` takes a mini-batch (images x, one-hot targets t,
dropout keep-masks), updates every member's parameters in place and adds each
member's mean mini-batch cost to `cost_sum` (K,). `step.set_eta(etas)` sets the
members' learning rates (between epochs; never read back from the device).

Two implementations with the same interface, over the same forward pass (each
layer's `forward`, layers.py) and the same update rule (`sgd.SGD`):
  - `FastStep` (the default): the forward pass keeps what the backward pass
    needs, each layer's hand-written backward (aten's convolution and max-pool
    backward kernels, bmm for the fully connected layers) runs with the update
    fused into it: a fully connected weight is updated by one `baddbmm_`
    (w <- decay*w - h^T delta), with no gradient tensor, no autograd graph and
    no optimiser loop. About 20 small ops per step instead of ~100.
  - `AutogradStep`: the gradients from torch.autograd, then the same update;
    the reference the fast step is tested against.
On a CUDA device `make_step` records the fast step once as a CUDA graph and
replays it per mini-batch (graph.py), unless the config's `cuda_graph` is false.

How eta enters the fast step: the cost's output delta is multiplied by eta_k/B
(B = mini-batch size) for member k, so every gradient that flows back already
carries its member's learning rate and each update is a plain subtraction.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from nnbook.config import Config
from nnbook.nn.costs import COSTS
from nnbook.nn.graph import GraphStep
from nnbook.nn.net import StackedNet
from nnbook.nn.sgd import SGD

Decay = float | list[float]  # the L2 coefficient c: shared by the members, or one each


class StepKind(NamedTuple):
    """Which step `make_step` builds: bundled, as the two choices travel together from the loop's caller."""

    fast: bool = True  # the hand-written backward with the fused update (FastStep); False: AutogradStep
    # The capture-ready step run eagerly: eta, the L2 decay and mu in device tensors written in place, never
    # a Python float nor a tensor made anew (what a captured CUDA graph needs); by itself it only adds work.
    static: bool = False


class Step:
    """What both steps share: the net, its cost, the update rule (with its momentum buffers)."""

    def __init__(self, net: StackedNet, config: Config, decay: Decay, velocity: Optional[list] = None,
                 mu: Optional[list[float]] = None, static: bool = False):
        self.net, self.k, self.static = net, net.k, static
        self.cost = COSTS[config.cost]
        self.sgd = SGD(list(net.parameters()), net.weights(), decay, config.mu if mu is None else mu, velocity,
                       static)

    @property
    def velocity(self) -> Optional[list[torch.Tensor]]:
        return self.sgd.velocity

    def set_eta(self, eta: list[float]) -> None:
        self.sgd.set_eta(eta)


class FastStep(Step):
    """Forward, hand-written backward and fused SGD update of all K members."""

    def __init__(self, net: StackedNet, config: Config, decay: Decay, velocity: Optional[list] = None,
                 mu: Optional[list[float]] = None, static: bool = False):
        super().__init__(net, config, decay, velocity, mu, static)
        self.batch = config.mini_batch_size
        self.device, self.dtype = net.layers[0].weight.device, net.layers[0].weight.dtype
        self.layers = list(net.layers)
        # static: eta/B lives in one device tensor that set_eta writes into (ready for graph capture)
        self.scale = torch.zeros(net.k, 1, 1, device=self.device, dtype=self.dtype) if static else None
        self.set_eta([config.eta] * net.k)

    def set_eta(self, eta: list[float]) -> None:
        super().set_eta(eta)
        scales = [e / self.batch for e in eta]
        if self.static:
            self.scale.copy_(torch.tensor(scales, dtype=self.dtype).view(-1, 1, 1))
        elif len(set(scales)) == 1:
            self.scale = scales[0]
        else:
            self.scale = torch.tensor(scales, device=self.device, dtype=self.dtype).view(-1, 1, 1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict], cost_sum: torch.Tensor) -> None:
        """x: (B, 784) shared or (K, B, 784); t: (B, 10) or (K, B, 10) one-hot;
        masks: {layer index: (K, B, n_in)} keep-masks; cost_sum (K,) += mean cost."""
        saved: list = []
        z = self.net.forward(x, masks, True, saved)
        grad = self.cost.delta(z, t, cost_sum, self.scale)
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, saved[i], self.sgd, need_input=i > 0)


class AutogradStep(Step):
    """The reference: the same forward, torch.autograd for the gradients, then
    `SGD.update` parameter by parameter."""

    def __init__(self, net: StackedNet, config: Config, decay: Decay, velocity: Optional[list] = None,
                 mu: Optional[list[float]] = None, static: bool = False):
        super().__init__(net, config, decay, velocity, mu, static)
        self.params = list(net.parameters())
        self.set_eta([config.eta] * net.k)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict], cost_sum: torch.Tensor) -> None:
        cost = self.cost(self.net(x, masks), t.argmax(-1))  # (K,)
        grads = torch.autograd.grad(cost.sum(), self.params)
        with torch.no_grad():
            self.sgd.update(grads)
            cost_sum += cost.detach()


def make_step(net: StackedNet, config: Config, decay: Decay, velocity: Optional[list] = None,
              mu: Optional[list[float]] = None, kind: StepKind = StepKind()) -> FastStep | AutogradStep | GraphStep:
    """The training step for `net`: `FastStep`, or `AutogradStep` with kind.fast False; on a CUDA
    device the fast step recorded as a CUDA graph (`GraphStep`) when `captures` says so.
    decay: the L2 coefficient c (`sgd.l2_decay`), one for all members or one each; mu: the
    members' momentum (default config.mu for all). velocity: saved momentum buffers
    shaped as net.parameters(), updated in place; with momentum and none given, the step
    makes zero ones (`step.velocity`). kind.static: every number the step reads (eta, the L2
    decay, mu) in a device tensor written in place between epochs, never a Python float nor a
    tensor made anew: the step's memory stays put, as a captured CUDA graph needs."""
    if kind.fast and captures(net, config):
        return GraphStep(FastStep(net, config, decay, velocity, mu, static=True))
    cls = FastStep if kind.fast else AutogradStep
    return cls(net, config, decay, velocity, mu, kind.static)


def captures(net: StackedNet, config: Config) -> bool:
    """Whether the fast step is recorded as a CUDA graph: on a CUDA device, unless the config's
    `cuda_graph` is false (the same step run op by op). CPU and MPS steps are never recorded."""
    return config.cuda_graph and net.layers[0].weight.device.type == "cuda"
