"""What training carries from one epoch to the next: the `Progress` of a group of K
members, and network3's best-validation bookkeeping of each (`Best`, `record_validation`).

Pure bookkeeping, torch-free at import: how it is saved in a member's checkpoint and
restored from one is checkpoint.py's, how the members' generators are seeded
nnbook/seeds.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

from nnbook.config import Config
from nnbook.records import DIVERGED

if TYPE_CHECKING:
    import torch


@dataclass
class Best:
    """Best-validation bookkeeping of one member."""

    validation_accuracy: float = -1.0
    epoch: Optional[int] = None  # 1-based
    test_accuracy: Optional[float] = None
    stale: int = 0  # epochs since the last new best


def record_validation(best: Best, epoch: int, accuracy: float) -> tuple[Best, bool]:
    """network3's rule: a validation accuracy >= the best so far is the new best
    (ties move the best to the later epoch). Returns (new bookkeeping, is_best)."""
    if accuracy >= best.validation_accuracy:
        return Best(accuracy, epoch, None, 0), True
    return Best(best.validation_accuracy, best.epoch, best.test_accuracy, best.stale + 1), False


@dataclass
class Progress:
    """Everything needed to continue a group's training after `epoch` completed epochs."""

    epoch: int = 0  # epochs completed
    best: list[Best] = field(default_factory=list)
    status: list[Optional[str]] = field(default_factory=list)  # None while training, else EARLY_STOPPED | DIVERGED
    eta: list[float] = field(default_factory=list)
    history: list[list[float]] = field(default_factory=list)  # validation accuracy per epoch, per member
    plateau: list[int] = field(default_factory=list)  # halving schedule: epochs since a best or a halving
    velocity: Optional[list[torch.Tensor]] = None  # momentum, shaped as net.parameters() (K axis first)
    # Generator states of a restored group (empty when starting afresh), per member:
    order_generators: list[torch.Tensor] = field(default_factory=list)  # CPU: data order
    mask_generators: list[torch.Tensor] = field(default_factory=list)  # device: dropout masks
    augment_generators: list[Optional[torch.Tensor]] = field(default_factory=list)  # device: distortions


def start_progress(members: list[Config]) -> Progress:
    """The progress before the first epoch: no best yet, every member training at its config's eta."""
    k = len(members)
    return Progress(0, [Best() for _ in range(k)], [None] * k, [c.eta for c in members], [[] for _ in range(k)],
                    [0] * k)


def record_validations(progress: Progress, epoch: int, train_cost: list[float],
                       validation_accuracy: list[float]) -> list[bool]:
    """After an epoch's steps, per member still training: a non-finite training cost
    marks it diverged and freezes it (eta 0: members are independent, the others go
    on); otherwise its validation accuracy goes through `record_validation`.
    Returns which members have a new best."""
    improved = [False] * len(progress.status)
    for m, status in enumerate(progress.status):
        if status is not None:
            continue
        if not math.isfinite(train_cost[m]):
            progress.status[m] = DIVERGED
            progress.eta[m] = 0.0
            continue
        progress.best[m], improved[m] = record_validation(progress.best[m], epoch, validation_accuracy[m])
    return improved
