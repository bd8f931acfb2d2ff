"""network3's two layer types, K members stacked: `ConvPool` and `Dense` (fc or softmax).

Each layer has one forward pass and its hand-written backward pass:
  - `forward(h, mask, training, saved)` is what evaluation, torch.autograd (the
    reference step, the diagnostics) and the hand-written step all run. Given
    a list `saved` (the hand-written step, under torch.no_grad()), it also
    appends what the layer's backward needs and activates in place;
  - `backward(grad, saved, sgd, need_input)` takes dC/da (already multiplied by
    each member's eta), updates the layer's parameters through `sgd` (the update
    rule, sgd.py) and returns dC/dh for the layer below, or None for the first.

Activations flow between layers as
  - conv layers: (B, K*C, H, W), member k owning channels k*C .. (k+1)*C-1;
  - fully connected layers: (K, B, n);
  - the network input: (B, 784) when all members see the same mini-batch
    (network3's fixed order), (K, B, 784) when each has its own (reshuffling).

The initial values come from init.py, the activations from activations.py;
chaining the layers is net.py's.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from nnbook.config import IMAGE_SIDE, ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer
from nnbook.nn import init
from nnbook.nn.activations import ACTIVATIONS
from nnbook.nn.sgd import SGD

aten = torch.ops.aten


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
        self.pool = [spec.pool] * 2
        self.weight = nn.Parameter(torch.empty(k, spec.filters, in_channels, spec.kernel, spec.kernel))
        self.bias = nn.Parameter(torch.empty(k, spec.filters))
        self.activation = ACTIVATIONS[spec.activation]

    def init_member(self, m: int, init_rule: str, gen: torch.Generator) -> None:
        s = self.spec
        fans = init.conv_fans(s.filters, self.in_channels, s.kernel, s.pool)
        self.weight.data[m], self.bias.data[m] = init.draw(init_rule, self.weight.shape[1:], s.filters, fans, gen)

    def forward(self, h: torch.Tensor, mask: Optional[torch.Tensor] = None, training: bool = True,
                saved: Optional[list] = None) -> torch.Tensor:
        """h: images (B, 784) or (K, B, 784), or the conv layer below's (B, K*C, H, W).
        Conv layers never drop out: `mask` and `training` change nothing here."""
        if h.dim() == 2:  # shared input images (B, 784)
            h = h.view(-1, 1, IMAGE_SIDE, IMAGE_SIDE)
        elif h.dim() == 3:  # per-member input images (K, B, 784) -> (B, K, 28, 28)
            h = h.transpose(0, 1).reshape(h.shape[1], self.k, IMAGE_SIDE, IMAGE_SIDE)
        h = channels_last(h)
        groups = h.shape[1] // self.in_channels  # 1 when members share the input, else K
        w = self.weight.view(-1, *self.weight.shape[2:])  # (K*F, C, kh, kw)
        # network3 pools, then adds the bias. The bias is per channel, so it is the same
        # over each pooling window and max(z + b) = max(z) + b: adding it inside the
        # convolution gives the same numbers with one op fewer (and one backward fewer).
        z = F.conv2d(h, w, self.bias.view(-1), groups=groups)  # (B, K*F, H1, W1)
        if saved is None:
            return self.activation.fn(F.max_pool2d(z, self.pool))  # (B, K*F, H1/p, W1/p)
        pooled, where = F.max_pool2d(z, self.pool, return_indices=True)
        a = self.activation.fn_(pooled)
        saved.append((h, w, z, a, where, groups))
        return a

    def backward(self, grad: torch.Tensor, saved: tuple, sgd: SGD, need_input: bool) -> Optional[torch.Tensor]:
        """grad: dC/da (B, K*F, H, W), eta-scaled. Updates the layer; returns dC/dh or None."""
        h, w, z, a, where, groups = saved
        grad = self.activation.backward(grad, a)
        grad = aten.max_pool2d_with_indices_backward(grad, z, self.pool, self.pool, [0, 0], [1, 1], False, where)
        grad_h, grad_w, grad_b = aten.convolution_backward(
            grad, h, w, [w.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], groups, [need_input, True, True])
        sgd.weight(self.weight, grad_w.view(self.weight.shape))
        sgd.bias(self.bias, grad_b.view(self.bias.shape))
        return grad_h


class Dense(nn.Module):
    """A fully connected layer (fc, or the softmax/sigmoid output layer) with network3's
    dropout: in training the *input* is multiplied by a Bernoulli(1-p) keep-mask,
    unscaled; at evaluation the layer computes (1-p) * (x @ w) + b instead.

    The output layer returns its weighted input z: the cost applies its nonlinearity
    (costs.py), so its activation here is linear."""

    def __init__(self, spec: FullyConnectedLayer | SoftmaxLayer, n_in: int, k: int, output: bool):
        super().__init__()
        self.spec, self.n_in, self.k, self.output = spec, n_in, k, output
        self.p_dropout = spec.p_dropout
        self.weight = nn.Parameter(torch.empty(k, n_in, spec.units))
        self.bias = nn.Parameter(torch.empty(k, spec.units))
        self.activation = ACTIVATIONS["linear" if output else getattr(spec, "activation", "linear")]

    def init_member(self, m: int, init_rule: str, gen: torch.Generator) -> None:
        units = self.spec.units
        self.weight.data[m], self.bias.data[m] = init.draw(init_rule, (self.n_in, units), units,
                                                           init.Fans(self.n_in, units), gen,
                                                           softmax=isinstance(self.spec, SoftmaxLayer))

    def forward(self, h: torch.Tensor, mask: Optional[torch.Tensor] = None, training: bool = True,
                saved: Optional[list] = None) -> torch.Tensor:
        """h: (B, n_in) shared, (K, B, n_in), or a conv layer's (B, K*C, H, W); mask: the
        keep-mask (K, B, n_in) of a training step, or None. Returns (K, B, units)."""
        conv_shape = None
        if h.dim() == 4:  # from a conv layer: (B, K*C, H, W) -> (K, B, C*H*W), network3's flattening order
            conv_shape = h.shape
            h = h.contiguous().view(h.shape[0], self.k, -1).transpose(0, 1)
        if mask is not None:
            h = h * mask  # (K, B, n_in): network3's unscaled dropout of the input
        # At evaluation network3 scales the product, not the input: (1-p) * (x @ w) + b.
        alpha = 1.0 if training else 1.0 - self.p_dropout
        if h.dim() == 2:  # the shared input images (B, n_in)
            if self.k == 1:
                z = torch.addmm(self.bias, h, self.weight[0], alpha=alpha).unsqueeze(0)
            else:
                z = torch.baddbmm(self.bias.unsqueeze(1), h.expand(self.k, *h.shape), self.weight, alpha=alpha)
        else:
            z = torch.baddbmm(self.bias.unsqueeze(1), h, self.weight, alpha=alpha)  # (K, B, units)
        if saved is None:
            return self.activation.fn(z)
        a = self.activation.fn_(z)
        saved.append((h, a, mask, conv_shape))
        return a

    def backward(self, grad: torch.Tensor, saved: tuple, sgd: SGD, need_input: bool) -> Optional[torch.Tensor]:
        """grad: dC/da (K, B, units), eta-scaled (for the output layer dC/dz). Updates the
        layer; returns dC/dh shaped as the layer's input, or None."""
        h, a, mask, conv_shape = saved
        w = self.weight
        grad = self.activation.backward(grad, a)
        grad_h = None
        if need_input:  # before the update: it needs the old weights
            grad_h = torch.bmm(grad, w.transpose(1, 2))  # (K, B, n_in)
            if mask is not None:
                grad_h.mul_(mask)
            if conv_shape is not None:
                grad_h = grad_h.transpose(0, 1).reshape(conv_shape)
        sgd.matmul(w, h.transpose(-1, -2), grad)
        sgd.bias(self.bias, grad.sum(1))
        return grad_h
