"""What training carries from one epoch to the next, per member, and how it is saved.

Owns network3's best-validation bookkeeping (`Best`, `record_validation`), the
`TrainState` of a group of K members, and the member checkpoint a run directory
stores and resuming reads back (`member_checkpoint`, `restore`). Writing the
checkpoint to disk is runs/'s; the loop only hands it out. How the members'
generators are seeded is nnbook/seeds.py's.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

import torch

from nnbook.config import Config
from nnbook.nn.net import StackedNet
from nnbook.records import DIVERGED
from nnbook.seeds import Generators


# ----------------------------------------------------------------------------- bookkeeping (pure)


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
class TrainState:
    """Everything needed to continue after `epoch` completed epochs."""

    epoch: int = 0  # epochs completed
    best: list[Best] = field(default_factory=list)
    status: list[Optional[str]] = field(default_factory=list)  # None while training, else early_stopped | diverged
    eta: list[float] = field(default_factory=list)
    history: list[list[float]] = field(default_factory=list)  # validation accuracy per epoch, per member
    plateau: list[int] = field(default_factory=list)  # halving schedule: epochs since a best or a halving
    velocity: Optional[list[torch.Tensor]] = None  # momentum, shaped as net.parameters() (K axis first)
    # Generator states of a restored run (empty when starting afresh):
    data_generators: list[torch.Tensor] = field(default_factory=list)  # CPU: data order
    mask_generators: list[torch.Tensor] = field(default_factory=list)  # device: dropout masks
    augment_generators: list[Optional[torch.Tensor]] = field(default_factory=list)  # device: distortions


def initial_state(config: Config, k: int) -> TrainState:
    """The state before the first epoch: no best yet, every member training at config.eta."""
    return TrainState(0, [Best() for _ in range(k)], [None] * k, [config.eta] * k, [[] for _ in range(k)], [0] * k)


def record_validations(state: TrainState, epoch: int, train_cost: list[float],
                       validation_accuracy: list[float]) -> list[bool]:
    """After an epoch's steps, per member still training: a non-finite training cost
    marks it diverged and freezes it (eta 0: members are independent, the others go
    on); otherwise its validation accuracy goes through `record_validation`.
    Returns which members have a new best."""
    improved = [False] * len(state.status)
    for m, status in enumerate(state.status):
        if status is not None:
            continue
        if not math.isfinite(train_cost[m]):
            state.status[m] = DIVERGED
            state.eta[m] = 0.0
            continue
        state.best[m], improved[m] = record_validation(state.best[m], epoch, validation_accuracy[m])
    return improved


# ----------------------------------------------------------------------------- checkpoints


def member_checkpoint(net: StackedNet, state: TrainState, m: int, gens: Generators) -> dict:
    """Member m's resumable snapshot, shaped as a single run's: parameters,
    bookkeeping and the state of each of its generators (the distortions' is
    None when the run does not distort)."""
    return {
        "net": net.member_state(m),
        "epoch": state.epoch,
        "best": asdict(state.best[m]),
        "status": state.status[m],
        "eta": state.eta[m],
        "history": list(state.history[m]),
        "plateau": state.plateau[m],
        "velocity": None if state.velocity is None else [v[m].detach().cpu().clone() for v in state.velocity],
        "data_generator": gens.order[m].get_state(),
        "mask_generator": gens.mask[m].get_state().cpu(),
        "augment_generator": gens.augment[m].get_state().cpu() if gens.augment else None,
    }


def restore(net: StackedNet, saved: list[dict]) -> TrainState:
    """Load member checkpoints (all at the same epoch) into `net`; the TrainState that continues from them."""
    epochs = {s["epoch"] for s in saved}
    if len(epochs) != 1:
        raise ValueError(f"members checkpointed at different epochs: {sorted(epochs)}")
    for m, s in enumerate(saved):
        net.load_member_state(m, s["net"])
    velocity = None
    if all(s.get("velocity") is not None for s in saved):  # momentum runs
        device = next(net.parameters()).device
        velocity = [torch.stack([s["velocity"][i] for s in saved]).to(device)
                    for i in range(len(saved[0]["velocity"]))]
    return TrainState(epochs.pop(), [Best(**s["best"]) for s in saved], [s["status"] for s in saved],
                      [s["eta"] for s in saved], [list(s.get("history", [])) for s in saved],
                      [s.get("plateau", 0) for s in saved], velocity,
                      [s["data_generator"] for s in saved], [s["mask_generator"] for s in saved],
                      [s.get("augment_generator") for s in saved])
