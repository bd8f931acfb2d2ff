"""One SGD step on one mini-batch, for all K members of a `StackedNet` at once.

`make_step(net, config, n_train)` returns the step the training loop calls:
`step(x, t, masks, cost_sum)` takes a mini-batch (images x, one-hot targets t,
dropout keep-masks), updates every member's parameters in place and adds each
member's mean mini-batch cost to `cost_sum` (K,). `step.set_eta(etas)` sets the
members' learning rates (between epochs; never read back from the device).

Two implementations with the same interface:
  - `FastStep` (the default): the forward pass keeps what the backward pass
    needs, the backward pass is written out by hand per layer type (aten's
    convolution and max-pool backward kernels, bmm for the fully connected
    layers) and the update is fused into it: a fully connected weight is
    updated by one `baddbmm_` (w <- decay*w - h^T delta), with no gradient
    tensor, no autograd graph and no optimiser loop. About 20 small ops per
    step instead of ~100.
  - `AutogradStep`: the same arithmetic through torch.autograd; the reference
    the fast step is tested against.

Conventions shared by both (the book's, decided in model.py and train.py):
plain SGD, p <- p - eta * dC/dp; L2 as a weight decay c (`l2_decay`) on
weights only, w <- (1 - eta*c)*w - eta*dC0/dw; each member its own eta.

How eta enters the fast step: the cost gradient at the output is multiplied
by eta_k/B (B = mini-batch size) for member k, so every gradient that flows
back already carries its member's learning rate and each update is a plain
subtraction. `SGD` owns the update rule: an optimiser with other state
(momentum, per-member schedules) replaces `SGD` and keeps the layers' code.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from nnbook.config import IMAGE_SIDE, Config
from nnbook.nn.net import COSTS, ConvPool, Dense, StackedNet, channels_last

aten = torch.ops.aten

# act(z) in place, and dC/dz from dC/da and a = act(z) (all four are determined by their output).
ACTIVATE_ = {"sigmoid": torch.sigmoid_, "tanh": torch.tanh_, "relu": torch.relu_, "linear": lambda z: z}
ACTIVATION_BACKWARD = {
    "sigmoid": aten.sigmoid_backward,
    "tanh": aten.tanh_backward,
    "relu": lambda grad, a: aten.threshold_backward(grad, a, 0),
    "linear": lambda grad, a: grad,
}


def one_hot(y: torch.Tensor, n_classes: int = 10) -> torch.Tensor:
    """Targets as the costs use them: float one-hot rows, (..., n_classes)."""
    return F.one_hot(y, n_classes).to(torch.float32)


# ----------------------------------------------------------------------------- the update rule


class SGD:
    """SGD with L2 weight decay c on weights, for gradients g that arrive already
    multiplied by eta_k; decay_k = 1 - eta_k*c (1 for biases).

    Plain (mu = 0):  p <- decay_k*p - g.
    Momentum (chapter 3, mu > 0): v <- mu*v - g - (1 - decay_k)*p, p <- p + v,
    i.e. v <- mu*v - eta*(dC0/dp + c*p), with v held in `velocity` (shaped as
    net.parameters(), K axis first), as `sgd_update` does for the reference.

    When every member has the same decay (one eta), it is a Python float and
    fuses into the matrix product as baddbmm's beta; otherwise a (K, 1, ...)
    tensor applied by one extra multiply per weight."""

    def __init__(self, decay: float, k: int, device: torch.device, mu: float = 0.0,
                 velocity: Optional[dict] = None):
        self.c, self.k, self.device = decay, k, device
        self.mu, self.velocity = mu, velocity  # velocity: {id(parameter): tensor like it}
        self.set_eta([0.0] * k)

    def set_eta(self, eta: list[float]) -> None:
        decays = [1.0 - e * self.c for e in eta]
        self.uniform = len(set(decays)) == 1
        self.beta = decays[0] if self.uniform else 1.0
        self.decay_t = None if self.uniform else torch.tensor(decays, device=self.device)

    def _per_member(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return t.view(-1, *[1] * (like.dim() - 1))

    def _decay(self, w: torch.Tensor) -> None:
        """w <- decay*w (plain SGD)."""
        if self.decay_t is not None:
            w.mul_(self._per_member(self.decay_t, w))
        elif self.beta != 1.0:
            w.mul_(self.beta)

    def _momentum(self, p: torch.Tensor, v: torch.Tensor, weight: bool) -> None:
        """v <- v - (1 - decay)*p for weights, then p <- p + v."""
        if weight and self.decay_t is not None:
            v.addcmul_(p, self._per_member(self.decay_t, p) - 1.0)
        elif weight and self.beta != 1.0:
            v.add_(p, alpha=self.beta - 1.0)
        p.add_(v)

    def matmul(self, w: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
        """g = a @ b for a weight w (K, n, m); a (K, n, B) (or (n, B) shared by the members), b (K, B, m)."""
        if a.dim() == 2:
            a = a.expand(self.k, *a.shape)
        if self.velocity is not None:
            v = self.velocity[id(w)]
            v.baddbmm_(a, b, beta=self.mu, alpha=-1.0)
            self._momentum(w, v, weight=True)
            return
        if self.decay_t is not None:
            self._decay(w)
        w.baddbmm_(a, b, beta=self.beta, alpha=-1.0)

    def weight(self, w: torch.Tensor, g: torch.Tensor) -> None:
        """A weight whose gradient g is a tensor (the conv filters)."""
        if self.velocity is not None:
            v = self.velocity[id(w)]
            v.mul_(self.mu).sub_(g)
            self._momentum(w, v, weight=True)
            return
        self._decay(w)
        w.sub_(g)

    def bias(self, b: torch.Tensor, g: torch.Tensor) -> None:
        """Biases are not regularised."""
        if self.velocity is not None:
            v = self.velocity[id(b)]
            v.mul_(self.mu).sub_(g)
            b.add_(v)
            return
        b.sub_(g)


def sgd_update(params: list, grads: list, etas: list, shrinks: list, velocity: Optional[list] = None,
               mu: float = 0.0) -> None:
    """The reference update (`AutogradStep`): one SGD step on every parameter, in
    place (call under torch.no_grad()), from plain gradients.

    etas[i]: eta as a (K, 1, ...) tensor broadcasting over params[i] (each member its own);
    shrinks[i]: the weight-decay factor 1 - eta*c for weights (c from `l2_decay`), None for biases.
    Plain SGD (velocity None): w <- shrink*w - eta*g. Momentum (chapter 3):
    v <- mu*v - eta*(g + c*w), w <- w + v, where eta*c*w = (1 - shrink)*w."""
    if velocity is None:
        for p, g, e, d in zip(params, grads, etas, shrinks):
            if d is not None:  # weights: L2 as weight decay; biases are not regularised
                p.mul_(d)
            p.sub_(e * g)
        return
    for p, g, e, d, v in zip(params, grads, etas, shrinks, velocity):
        v.mul_(mu).sub_(e * g)
        if d is not None:
            v.sub_((1.0 - d) * p)
        p.add_(v)


# ----------------------------------------------------------------------------- layers: forward and backward


class ConvPoolStep:
    """Forward and backward of a `ConvPool` layer, activations (B, K*F, H, W).

    The bias is added before pooling (inside the convolution, one op fewer):
    max(z + b) = max(z) + b for a per-channel b, the same arithmetic as
    network3's pool-then-add. Activations are kept in channels_last, where
    oneDNN's small convolutions and pooling are fastest on the CPU."""

    def __init__(self, layer: ConvPool):
        self.layer = layer
        self.pool = [layer.spec.pool] * 2
        self.activate_ = ACTIVATE_[layer.spec.activation]
        self.activation_backward = ACTIVATION_BACKWARD[layer.spec.activation]

    def forward(self, h: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        layer = self.layer
        if h.dim() == 2:  # shared input images (B, 784)
            h = h.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        elif h.dim() == 3:  # per-member input images (K, B, 784) -> (B, K, 28, 28)
            h = h.transpose(0, 1).reshape(h.shape[1], layer.k, IMAGE_SIDE, IMAGE_SIDE)
        h = channels_last(h)
        groups = h.shape[1] // layer.in_channels  # 1 when members share the input, else K
        w = layer.weight.view(-1, *layer.weight.shape[2:])  # (K*F, C, kh, kw)
        z = F.conv2d(h, w, layer.bias.view(-1), groups=groups)  # (B, K*F, H1, W1)
        a, where = F.max_pool2d(z, self.pool, return_indices=True)  # (B, K*F, H1/p, W1/p)
        a = self.activate_(a)
        return a, (h, w, z, a, where, groups)

    def backward(self, grad: torch.Tensor, saved: tuple, sgd: SGD, need_input: bool) -> Optional[torch.Tensor]:
        """grad: dC/da (B, K*F, H, W), eta-scaled. Updates the layer; returns dC/dh or None."""
        h, w, z, a, where, groups = saved
        grad = self.activation_backward(grad, a)
        grad = aten.max_pool2d_with_indices_backward(grad, z, self.pool, self.pool, [0, 0], [1, 1], False, where)
        grad_h, grad_w, grad_b = aten.convolution_backward(
            grad, h, w, [w.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], groups, [need_input, True, True])
        sgd.weight(self.layer.weight, grad_w.view(self.layer.weight.shape))
        sgd.bias(self.layer.bias, grad_b.view(self.layer.bias.shape))
        return grad_h


class DenseStep:
    """Forward and backward of a `Dense` layer (fc or softmax), activations (K, B, n)."""

    def __init__(self, layer: Dense, k: int):
        self.layer, self.k = layer, k
        activation = "linear" if layer.output else getattr(layer.spec, "activation", "linear")
        self.activate_ = ACTIVATE_[activation]
        self.activation_backward = ACTIVATION_BACKWARD[activation]
        self.conv_input: Optional[torch.Size] = None  # (B, K*C, H, W) when fed by a conv layer

    def forward(self, h: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, tuple]:
        layer = self.layer
        conv_shape = None
        if h.dim() == 4:  # from a conv layer: (B, K*C, H, W) -> (K, B, C*H*W), network3's flattening order
            conv_shape = h.shape
            h = h.contiguous().view(h.shape[0], self.k, -1).transpose(0, 1)
        if mask is not None:
            h = h * mask  # (K, B, n_in): network3's unscaled dropout of the input
        if h.dim() == 2:  # the shared input images (B, n_in)
            if self.k == 1:
                z = torch.addmm(layer.bias, h, layer.weight[0]).unsqueeze(0)
            else:
                z = torch.baddbmm(layer.bias.unsqueeze(1), h.expand(self.k, *h.shape), layer.weight)
        else:
            z = torch.baddbmm(layer.bias.unsqueeze(1), h, layer.weight)  # (K, B, units)
        a = self.activate_(z)
        return a, (h, a, mask, conv_shape)

    def backward(self, grad: torch.Tensor, saved: tuple, sgd: SGD, need_input: bool) -> Optional[torch.Tensor]:
        """grad: dC/da (K, B, units), eta-scaled (for the output layer dC/dz). Updates the
        layer; returns dC/dh shaped as the layer's input, or None."""
        h, a, mask, conv_shape = saved
        w = self.layer.weight
        grad = self.activation_backward(grad, a)
        grad_h = None
        if need_input:  # before the update: it needs the old weights
            grad_h = torch.bmm(grad, w.transpose(1, 2))  # (K, B, n_in)
            if mask is not None:
                grad_h.mul_(mask)
            if conv_shape is not None:
                grad_h = grad_h.transpose(0, 1).reshape(conv_shape)
        sgd.matmul(w, h.transpose(-1, -2), grad)
        sgd.bias(self.layer.bias, grad.sum(1))
        return grad_h


# ----------------------------------------------------------------------------- costs: value and output gradient
# Each takes the output layer's z (K, B, 10) and one-hot targets t (B, 10) or
# (K, B, 10), adds the members' mean costs to cost_sum (K,) and returns
# dC/dz * scale (scale = eta_k / B: the mean's 1/B and the learning rate).


def log_likelihood_delta(z, t, cost_sum, scale):
    """-mean log softmax(z)[y]; dC/dz = softmax(z) - t."""
    logp = torch.log_softmax(z, dim=-1)
    add_dot(cost_sum, logp, t, -1.0 / z.shape[1])
    return logp.exp_().sub_(t).mul_(scale)


def cross_entropy_delta(z, t, cost_sum, scale):
    """sum of -t ln a - (1-t) ln(1-a), a = sigmoid(z); dC/dz = a - t."""
    per_output = F.binary_cross_entropy_with_logits(z, t.expand_as(z), reduction="none")
    cost_sum.add_(per_output.sum((1, 2)), alpha=1.0 / z.shape[1])
    return torch.sigmoid(z).sub_(t).mul_(scale)


def quadratic_delta(z, t, cost_sum, scale):
    """0.5*||a - t||^2, a = sigmoid(z); dC/dz = (a - t) * a * (1 - a)."""
    a = torch.sigmoid(z)
    diff = a - t
    add_dot(cost_sum, diff, diff, 0.5 / z.shape[1])
    return aten.sigmoid_backward(diff, a).mul_(scale)


def add_dot(out: torch.Tensor, u: torch.Tensor, v: torch.Tensor, alpha: float) -> None:
    """out[k] += alpha * <u[k], v[k]> for u (K, B, n) and v (B, n) or (K, B, n)."""
    if v.dim() == 2:
        out.addmv_(u.reshape(u.shape[0], -1), v.reshape(-1), alpha=alpha)
    else:
        out.add_((u * v).sum((1, 2)), alpha=alpha)


COST_DELTAS = {"log_likelihood": log_likelihood_delta, "cross_entropy": cross_entropy_delta,
               "quadratic": quadratic_delta}


# ----------------------------------------------------------------------------- the steps


class FastStep:
    """Forward, hand-written backward and fused SGD update of all K members."""

    def __init__(self, net: StackedNet, config: Config, decay: float, velocity: Optional[list] = None):
        self.net, self.k = net, net.k
        self.batch = config.mini_batch_size
        self.device = net.layers[0].weight.device
        self.layers = [ConvPoolStep(l) if isinstance(l, ConvPool) else DenseStep(l, net.k)
                       for l in net.layers]
        self.cost_delta = COST_DELTAS[config.cost]
        by_param = None if velocity is None else {id(p): v for p, v in zip(net.parameters(), velocity)}
        self.sgd = SGD(decay, net.k, self.device, config.mu, by_param)
        self.set_eta([config.eta] * net.k)

    def set_eta(self, eta: list[float]) -> None:
        self.sgd.set_eta(eta)
        scales = [e / self.batch for e in eta]
        self.scale = scales[0] if len(set(scales)) == 1 else torch.tensor(scales, device=self.device).view(-1, 1, 1)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict], cost_sum: torch.Tensor) -> None:
        """x: (B, 784) shared or (K, B, 784); t: (B, 10) or (K, B, 10) one-hot;
        masks: {layer index: (K, B, n_in)} keep-masks; cost_sum (K,) += mean cost."""
        saved = []
        h = x
        for i, layer in enumerate(self.layers):
            h, s = layer.forward(h, masks.get(i) if masks else None)
            saved.append(s)
        grad = self.cost_delta(h, t, cost_sum, self.scale)
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, saved[i], self.sgd, need_input=i > 0)


class AutogradStep:
    """The reference: the model's own forward, torch.autograd for the gradients,
    then `sgd_update` parameter by parameter."""

    def __init__(self, net: StackedNet, config: Config, decay: float, velocity: Optional[list] = None):
        self.net, self.k, self.decay = net, net.k, decay
        self.mu, self.velocity = config.mu, velocity
        self.cost = COSTS[config.cost]
        self.params = list(net.parameters())
        self.weights = {id(w) for w in net.weights()}
        self.set_eta([config.eta] * net.k)

    def set_eta(self, eta: list[float]) -> None:
        device = self.params[0].device
        self.etas = [torch.tensor(eta, device=device).view(-1, *[1] * (p.dim() - 1)) for p in self.params]
        self.shrinks = [1.0 - e * self.decay if id(p) in self.weights else None
                        for e, p in zip(self.etas, self.params)]

    def __call__(self, x: torch.Tensor, t: torch.Tensor, masks: Optional[dict], cost_sum: torch.Tensor) -> None:
        cost = self.cost(self.net(x, masks), t.argmax(-1))  # (K,)
        grads = torch.autograd.grad(cost.sum(), self.params)
        with torch.no_grad():
            sgd_update(self.params, grads, self.etas, self.shrinks, self.velocity, self.mu)
            cost_sum += cost.detach()


def make_step(net: StackedNet, config: Config, decay: float, fast: bool = True, velocity: Optional[list] = None):
    """The training step for `net`: `FastStep`, or `AutogradStep` with fast=False.
    velocity: momentum buffers shaped as net.parameters() (config.mu > 0), updated in place."""
    if config.mu > 0 and velocity is None:
        velocity = [torch.zeros_like(p) for p in net.parameters()]
    cls = FastStep if fast else AutogradStep
    return cls(net, config, decay, velocity if config.mu > 0 else None)
