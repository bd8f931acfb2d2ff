"""Learning-rate schedules and early-stopping rules: small pure functions.

Each takes plain numbers (the start eta, the epoch, a member's validation
history) and returns plain numbers, so the training loop only stores their
results per member and tests check them by hand. Epochs count from 1.

Two kinds of schedule:
  - functions of the epoch (`steps`, `list`, `geometric`): `eta_at` gives the
    eta of an epoch before it starts;
  - the chapter 3 `halving` schedule, driven by validation accuracy:
    `halve_on_plateau` runs after each epoch and may ask to stop.

Never imports torch.
"""

from __future__ import annotations

from typing import Optional

from nnbook.config import EarlyStopping, GeometricSchedule, HalvingSchedule, ListSchedule, StepSchedule


def eta_at(schedule, eta: float, epoch: int, epochs: int) -> float:
    """The eta of `epoch` (1-based) under an epoch-driven schedule; `eta` is epoch 1's.
    The halving schedule (and no schedule) leave eta to the loop: returns `eta`."""
    if isinstance(schedule, StepSchedule):
        current = eta
        for start, value in schedule.at.items():  # sorted by epoch
            if epoch >= start:
                current = value
        return current
    if isinstance(schedule, ListSchedule):
        return schedule.etas[min(epoch, len(schedule.etas)) - 1]
    if isinstance(schedule, GeometricSchedule):
        if epochs == 1:
            return eta
        # The same factor every epoch: eta at epoch 1, eta_end at epoch `epochs`.
        ratio = schedule.eta_end / eta
        return eta * ratio ** ((epoch - 1) / (epochs - 1))
    return eta


def halve_on_plateau(schedule: HalvingSchedule, eta: float, eta_start: float, stale: int,
                     improved: bool) -> tuple[float, int, bool]:
    """Chapter 3's schedule after one epoch. `stale` counts the epochs since the last
    new best validation accuracy or the last halving, whichever is later.

    Returns (eta for the next epoch, new stale count, stop). After `patience` stale
    epochs eta is multiplied by `factor` and the count restarts; once eta has fallen
    to `stop_ratio` of `eta_start` (1/128: the seventh halving) training stops."""
    stale = 0 if improved else stale + 1
    if stale < schedule.patience:
        return eta, stale, False
    eta *= schedule.factor
    # A relative tolerance: 0.5**7 * eta_start is exact in binary, other factors may not be.
    stop = eta <= schedule.stop_ratio * eta_start * (1 + 1e-9)
    return eta, 0, stop


def no_improvement(stale: int, patience: int) -> bool:
    """Chapter 3's rule: no new best validation accuracy in the last `patience` epochs
    (`stale` = epochs since the last new best; a tie counts as a new best, as in network3)."""
    return stale >= patience


def min_improvement(history: list[float], patience: int, min_delta: float) -> bool:
    """nnbook's second rule: over the last `patience` epochs the best validation accuracy
    rose by less than `min_delta` (a fraction) above the best of all earlier epochs.
    Never stops before `patience` + 1 epochs have been seen."""
    if len(history) <= patience:
        return False
    before = max(history[:-patience])
    recent = max(history[-patience:])
    return recent - before < min_delta


def stop_reason(rule: Optional[EarlyStopping], stale: int, history: list[float]) -> Optional[str]:
    """Why a member stops early after this epoch, or None to go on."""
    if rule is None:
        return None
    if rule.rule == "no_improvement" and no_improvement(stale, rule.patience):
        return f"no new best validation accuracy for {stale} epochs"
    if rule.rule == "min_improvement" and min_improvement(history, rule.patience, rule.min_delta):
        gain = max(history[-rule.patience:]) - max(history[:-rule.patience])
        return (f"best validation accuracy rose by {100 * max(gain, 0.0):.2f} points in {rule.patience} epochs "
                f"(< min_delta {100 * rule.min_delta:.2f})")
    return None
