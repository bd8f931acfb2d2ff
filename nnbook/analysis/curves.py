"""The validation-accuracy curves of one row's runs (its seeds), summarised per epoch:
the mean and a band from the lowest to the highest run, with how many runs reached
each epoch. Plain numbers in and out; plots.py draws it, html_report.py asks for it.

Why min-max and not ± std: a row has few seeds (the book's 3), where a sample
standard deviation is itself a rough estimate and a ± std band can look more certain
than the runs are; the lowest and the highest run show exactly where every seed lay.

Runs that stopped early (early stopping, `epochs` cut short) have shorter curves:
each epoch's mean and band are over the runs that reached it, and `n` says how many.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean
from typing import Sequence


@dataclass(frozen=True)
class Band:
    epochs: list[int]  # 1, 2, ...: every epoch that at least one run reached
    mean: list[float]  # fractions, the mean over the runs that reached the epoch
    low: list[float]  # the lowest of those runs
    high: list[float]  # the highest
    n: list[int]  # how many runs reached the epoch

    @property
    def runs(self) -> int:
        return max(self.n, default=0)


def epoch_band(curves: Sequence[Sequence[tuple[int, float]]]) -> Band:
    """`curves`: each run's (epoch, validation accuracy) pairs -> the per-epoch Band."""
    by_epoch: dict[int, list[float]] = {}
    for curve in curves:
        for epoch, accuracy in curve:
            by_epoch.setdefault(epoch, []).append(accuracy)
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return Band(epochs, [fmean(v) for v in values], [min(v) for v in values], [max(v) for v in values],
                [len(v) for v in values])
