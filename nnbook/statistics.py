"""The book's headline statistic over a config's runs, defined once: the test accuracy
at the best validation epoch of the run with the best validation accuracy (chapter 6's
"best of 3 runs"), and the mean ± std and range that go beside it.

Which runs count: a run counts when it has a result, the test accuracy at its best
validation epoch (`has_result`). A run without one (it diverged in its first epoch,
or stopped before finishing one) is skipped, never counted as 0: a missing number is
not a bad one. Which runs are offered is the caller's: the runs just trained, a sweep
point's done runs (diverged ones included, with the result of their best epoch before
the divergence), or a report's finished runs.

The training display, the sweep's grid, the report and the book's statistics all take
their numbers from here. Plain numbers in, plain numbers out: no torch, no files.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, stdev
from typing import Optional, Protocol, Sequence, TypeVar


class Result(Protocol):
    """What a run's result is read from (a run's Summary has both)."""

    best_validation_accuracy: Optional[float]  # a fraction; None before the first epoch
    test_accuracy: Optional[float]  # at the best validation epoch


R = TypeVar("R", bound=Result)


def has_result(run: Result) -> bool:
    return run.best_validation_accuracy is not None and run.test_accuracy is not None


def best_by_validation(runs: Sequence[R]) -> Optional[R]:
    """The run with the best validation accuracy among those with a result (None when
    no run has one); on a tie, the first as given. Its test accuracy is the book's figure."""
    counted = [run for run in runs if has_result(run)]
    return max(counted, key=lambda run: run.best_validation_accuracy) if counted else None


def tied_with_best(runs: Sequence[R]) -> list[R]:
    """The runs with a result whose best validation accuracy equals the best run's, the best
    run itself excluded: where "the best by validation" is a tie that its order decided."""
    best = best_by_validation(runs)
    return [run for run in runs if has_result(run) and run is not best
            and run.best_validation_accuracy == best.best_validation_accuracy]


def results_of(runs: Sequence[Result]) -> list[float]:
    """The result of each run that has one, in order: its test accuracy at its best validation epoch."""
    return [run.test_accuracy for run in runs if has_result(run)]


@dataclass(frozen=True)
class Spread:
    """The mean ± std and range of some numbers (fractions, seconds, ...)."""

    n: int  # how many numbers
    mean: Optional[float] = None  # None when there is none
    std: Optional[float] = None  # the sample standard deviation (n - 1); None below two numbers
    low: Optional[float] = None
    high: Optional[float] = None


def spread(values: Sequence[Optional[float]]) -> Spread:
    """The Spread of `values`; a None among them is skipped, never counted as 0."""
    numbers = [v for v in values if v is not None]
    if not numbers:
        return Spread(0)
    return Spread(len(numbers), fmean(numbers), stdev(numbers) if len(numbers) > 1 else None,
                  min(numbers), max(numbers))


def column_means(rows: Sequence[Sequence[float]]) -> list[float]:
    """The mean of each column of a table (e.g. [member][layer] -> per layer)."""
    return [sum(column) / len(column) for column in zip(*rows)]
