"""The costs by name: network3's log-likelihood, network2's cross-entropy and quadratic.

Each `Cost` holds, side by side, the three things nnbook asks of it:
  - its value (`cost(z, y)`, or `cost.value`): the mean cost over the
    mini-batch per member, differentiable by torch.autograd (evaluation, the
    autograd reference step, the diagnostics);
  - its output delta (`cost.delta`): dC/dz at the output layer, fused with
    adding the value to a running sum, for the hand-written step;
  - its class probabilities (`cost.probabilities`): what the ensembles and
    the saved predictions use.

Shapes: z is the output layer's weighted input (K, B, 10) -- the output layer
applies no nonlinearity, the cost does (softmax or sigmoid); labels y are (B,)
when the members share a mini-batch, else (K, B); one-hot targets t (B, 10)
or (K, B, 10). The L2 term is no cost's business (`sgd.l2_decay`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from nnbook.config import N_CLASSES

aten = torch.ops.aten


def one_hot(y: torch.Tensor, dtype: torch.dtype = torch.float32, n_classes: int = N_CLASSES) -> torch.Tensor:
    """Targets as the deltas take them: one-hot rows (..., n_classes) in the run's dtype."""
    return F.one_hot(y, n_classes).to(dtype)


def _targets(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One-hot targets of labels y, broadcast to z (K, B, 10)."""
    return F.one_hot(y, z.shape[-1]).to(z.dtype).expand_as(z)


def add_dot(out: torch.Tensor, u: torch.Tensor, v: torch.Tensor, alpha: float) -> None:
    """out[k] += alpha * <u[k], v[k]> for u (K, B, n) and v (B, n) or (K, B, n): one
    matrix-vector product when v is shared."""
    if v.dim() == 2:
        out.addmv_(u.reshape(u.shape[0], -1), v.reshape(-1), alpha=alpha)
    else:
        out.add_((u * v).sum((1, 2)), alpha=alpha)


# ----------------------------------------------------------------------------- network3: log-likelihood


def log_likelihood(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """-mean log softmax(z)[y], (K,)."""
    logp = torch.log_softmax(z, dim=-1)
    y = y.expand(z.shape[0], -1) if y.dim() == 1 else y
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)


def log_likelihood_delta(z, t, cost_sum, scale):
    """dC/dz = softmax(z) - t."""
    logp = torch.log_softmax(z, dim=-1)
    add_dot(cost_sum, logp, t, -1.0 / z.shape[1])
    return logp.exp_().sub_(t).mul_(scale)


def softmax(z: torch.Tensor) -> torch.Tensor:
    return torch.softmax(z, dim=-1)


# ----------------------------------------------------------------------------- network2: sigmoid outputs


def cross_entropy(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean over the mini-batch of sum_j -t_j ln a_j - (1-t_j) ln(1-a_j), a = sigmoid(z), (K,)."""
    return F.binary_cross_entropy_with_logits(z, _targets(z, y), reduction="none").sum(-1).mean(dim=1)


def cross_entropy_delta(z, t, cost_sum, scale):
    """dC/dz = a - t: the cross-entropy cancels sigmoid'(z)."""
    per_output = F.binary_cross_entropy_with_logits(z, t.expand_as(z), reduction="none")
    cost_sum.add_(per_output.sum((1, 2)), alpha=1.0 / z.shape[1])
    return torch.sigmoid(z).sub_(t).mul_(scale)


def quadratic(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """mean over the mini-batch of 0.5 * ||a - t||^2, a = sigmoid(z), (K,)."""
    return 0.5 * ((torch.sigmoid(z) - _targets(z, y)) ** 2).sum(-1).mean(dim=1)


def quadratic_delta(z, t, cost_sum, scale):
    """dC/dz = (a - t) * a * (1 - a): the book's BP1 with sigmoid'(z) = a(1-a)."""
    a = torch.sigmoid(z)
    diff = a - t
    add_dot(cost_sum, diff, diff, 0.5 / z.shape[1])
    return aten.sigmoid_backward(diff, a).mul_(scale)


def normalised_sigmoid(z: torch.Tensor) -> torch.Tensor:
    """network2's outputs are independent sigmoids: normalised to sum to 1 to be read as probabilities."""
    a = torch.sigmoid(z)
    return a / a.sum(dim=-1, keepdim=True)


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Cost:
    """One cost. `delta(z, t, cost_sum, scale)` adds each member's mean cost to
    cost_sum (K,) and returns dC/dz * scale, where scale = eta_k / B folds the
    mean's 1/B and the member's learning rate into the gradient that flows back."""

    name: str
    value: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    delta: Callable[..., torch.Tensor]
    probabilities: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.value(z, y)


COSTS = {c.name: c for c in (
    Cost("log_likelihood", log_likelihood, log_likelihood_delta, softmax),
    Cost("cross_entropy", cross_entropy, cross_entropy_delta, normalised_sigmoid),
    Cost("quadratic", quadratic, quadratic_delta, normalised_sigmoid),
)}
