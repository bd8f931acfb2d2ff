"""Measurements of the network as evaluated (dropout off, network3's (1-p)
scaling on): accuracy and cost over any images (`evaluate`: the loop's
validation accuracy, chapter 3's training-set accuracy and cost that show
overfitting), the L2 term, and each layer's bias-gradient norm ||dC/db||
(chapter 5's "speed of learning").

None of it touches the parameters -- except `gradient_trajectory`, which
reproduces chapter 5's experiment: full-batch gradient descent on 1,000 images
(the training step's update rule, `sgd.SGD`), recording the norms before every
step. It returns the numbers; analysis/plots.py draws them.

Knows nothing of configs on disk or the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from nnbook.nn.net import StackedNet
from nnbook.nn.sgd import SGD

CHUNK = 1000  # images per forward pass: bounds memory for conv nets with K members


@torch.no_grad()
def evaluate(net: StackedNet, x: torch.Tensor, y: torch.Tensor, cost_fn: Optional[Callable] = None,
             batch: int = CHUNK) -> tuple[list[float], Optional[list[float]]]:
    """(accuracy, mean cost without the L2 term) per member over N images, `batch` images
    per forward pass; the cost is None without a `cost_fn`. Counted on the device, read once."""
    correct = torch.zeros(net.k, dtype=torch.long, device=x.device)
    total = None if cost_fn is None else torch.zeros(net.k, dtype=torch.float64, device=x.device)
    for i in range(0, len(x), batch):
        z = net(x[i:i + batch], training=False)  # (K, B, 10)
        yb = y[i:i + batch]
        correct += (z.argmax(-1) == yb).sum(dim=1)
        if total is not None:
            total += cost_fn(z, yb).double() * len(yb)
    n = len(x)
    return [c / n for c in correct.tolist()], None if total is None else [t / n for t in total.tolist()]


@torch.no_grad()
def l2_penalty(net: StackedNet, decay: float | list[float]) -> list[float]:
    """The L2 term of the cost per member, 0.5 * c * sum(w^2) over every weight, where c
    is the decay coefficient of `sgd.l2_decay` (lmbda/n for network2, lmbda/num_batches
    for network3): the term whose gradient is c*w. decay: c for every member, or one each."""
    decays = list(decay) if isinstance(decay, (list, tuple)) else [decay] * net.k
    if not any(decays):
        return [0.0] * net.k
    squares = sum(w.double().pow(2).flatten(1).sum(dim=1) for w in net.weights()).tolist()  # (K,)
    return [0.5 * c * s for c, s in zip(decays, squares)]


def mean_gradients(net: StackedNet, x: torch.Tensor, y: torch.Tensor, cost_fn: Callable) -> list[torch.Tensor]:
    """Gradient of the mean cost over all N images (L2 term excluded) for every parameter
    of the evaluated network, accumulated in chunks; shaped like net.parameters()."""
    params = list(net.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in range(0, len(x), CHUNK):
        xb, yb = x[i:i + CHUNK], y[i:i + CHUNK]
        cost = cost_fn(net(xb, training=False), yb)  # (K,): mean over the chunk
        grads = torch.autograd.grad(cost.sum() * (len(yb) / len(x)), params)
        for t, g in zip(total, grads):
            t += g
    return total


def bias_norms(net: StackedNet, grads: list[torch.Tensor]) -> list[list[float]]:
    """||dC/db|| per member (rows) and per layer, the output layer excluded (columns)."""
    index = {id(p): i for i, p in enumerate(net.parameters())}
    columns = [grads[index[id(layer.bias)]].flatten(1).norm(dim=1) for layer in net.layers[:-1]]  # (K,) each
    if not columns:
        return [[] for _ in range(net.k)]
    return torch.stack(columns, dim=1).tolist()


def bias_gradient_norms(net: StackedNet, x: torch.Tensor, y: torch.Tensor, cost_fn: Callable) -> list[list[float]]:
    """Chapter 5's speed of learning: for each member, the norm of every hidden layer's
    bias gradient of the mean cost over the N images given (the book: the first 1,000)."""
    return bias_norms(net, mean_gradients(net, x, y, cost_fn))


@dataclass(frozen=True)
class Descent:
    """Chapter 5's full-batch gradient descent: the cost it descends and the update rule's numbers
    (sgd.SGD), the same for every member. Bundled, as they come from one config together."""

    cost_fn: Callable  # the cost without its L2 term (costs.COSTS)
    eta: float  # the learning rate
    decay: float  # the L2 weight decay c (sgd.l2_decay, with one mini-batch of all the images)
    mu: float = 0.0  # momentum


def gradient_trajectory(net: StackedNet, x: torch.Tensor, y: torch.Tensor, descent: Descent, epochs: int,
                        on_epoch: Optional[Callable[[int], None]] = None) -> list[list[list[float]]]:
    """Chapter 5's experiment: `epochs` steps of full-batch gradient descent on the N images
    (one step per epoch, L2 as the weight decay c = `descent.decay`), the norms recorded before
    each step and after the last. Returns norms[epoch][member][layer], epochs + 1 rows, row 0 at
    initialisation."""
    sgd = SGD(list(net.parameters()), net.weights(), descent.decay, descent.mu)
    sgd.set_eta([descent.eta] * net.k)
    history = []
    for epoch in range(epochs + 1):
        grads = mean_gradients(net, x, y, descent.cost_fn)
        history.append(bias_norms(net, grads))
        if epoch == epochs:
            break
        with torch.no_grad():
            sgd.update(grads)
        if on_epoch:
            on_epoch(epoch + 1)
    return history
