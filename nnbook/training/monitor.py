"""What the loop measures after each epoch, the network evaluated (dropout off,
network3's (1-p) scaling on): the validation accuracy of every member, the test
set's class probabilities when some member has a new best, and the optional
diagnostics of `config.monitor` (network2's monitor_training_accuracy and
monitor_training_cost, its monitor_evaluation_accuracy on the test set, chapter 5's
bias-gradient norms).

The diagnostics' arithmetic is nn/measure.py's; which epoch is a new best is
progress.py's; this module only runs them over the right images.
"""

from __future__ import annotations

from typing import Optional

import torch

from nnbook.config import Config
from nnbook.nn.costs import COSTS
from nnbook.nn.measure import bias_gradient_norms, evaluate, l2_penalty
from nnbook.nn.net import StackedNet
from nnbook.training.devices import DeviceData


def eval_batch(k: int) -> int:
    """Images per evaluation pass with K members: ~2,000 images' activations in all."""
    return max(100, 2000 // k)


def accuracy(net: StackedNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Fraction correct per member (the validation accuracy)."""
    return evaluate(net, x, y, batch=eval_batch(net.k))[0]


def evaluate_test(net: StackedNet, data: DeviceData) -> tuple[torch.Tensor, list[float]]:
    """The test set's class probabilities (K, 10000, 10) and each member's test accuracy."""
    probs = net.probabilities(data.test_x, eval_batch(net.k))
    correct = (probs.argmax(-1) == data.test_y).sum(dim=1).tolist()
    return probs, [c / len(data.test_y) for c in correct]


def monitor_epoch(net: StackedNet, config: Config, data: DeviceData, decay: float | list[float],
                  test_accuracy: Optional[list[float]] = None) -> dict[str, list]:
    """The diagnostics `config.monitor` asks for, per member: {EpochRecord field: [K values]}.
    decay: the L2 coefficient c (one per member, or shared), for the cost with its L2 term; test_accuracy: the members' test
    accuracy when the loop has just measured it (a new best), so it is not measured twice."""
    extra: dict[str, list] = {}
    monitor, cost = config.monitor, COSTS[config.cost]
    if monitor.test:
        extra["test_accuracy_each_epoch"] = test_accuracy or accuracy(net, data.test_x, data.test_y)
    if monitor.training:
        n = monitor.training_sample or len(data.train_y)
        acc, costs = evaluate(net, data.train_x[:n], data.train_y[:n], cost)
        penalty = l2_penalty(net, decay)
        extra["train_accuracy"] = acc
        extra["train_eval_cost"] = [c + p for c, p in zip(costs, penalty)]
    if monitor.bias_gradients:
        n = monitor.gradient_sample
        extra["bias_gradient_norms"] = bias_gradient_norms(net, data.train_x[:n], data.train_y[:n], cost)
    return extra
