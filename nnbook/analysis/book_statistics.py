"""The statistic the book quotes, computed from nnbook's runs, so a report compares
like with like (nnbook/book.py says which statistic each figure is).

`run_value` is one run's value of a statistic, from its summary and its metrics;
`compare` gathers a config's runs: their values, mean ± std, range, and the value
counted as the book counted it (for chapter 6 the best by validation of 3 runs: those of
the 3 lowest seeds when there are more, as `--repeats 3` would have trained; else the mean).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from nnbook.book import BEST_RUN_TEST_AT_BEST_VALIDATION, BOOK_RUNS, FINAL_VALIDATION, PEAK_TEST
from nnbook.records import EpochRecord
from nnbook.runs.records import Summary
from nnbook.statistics import Spread, best_by_validation, spread, tied_with_best

MISSING = {PEAK_TEST: "the runs did not evaluate the test set every epoch (monitor: {test: true})"}


def run_value(statistic: str, summary: Summary, metrics: list[EpochRecord]) -> Optional[float]:
    """One run's value of `statistic` (a fraction), or None when its records lack it."""
    if statistic == PEAK_TEST:
        values = [row.test_accuracy_each_epoch for row in metrics if row.test_accuracy_each_epoch is not None]
        return max(values) if values else None
    if statistic == FINAL_VALIDATION:
        return metrics[-1].validation_accuracy if metrics else None
    if statistic == BEST_RUN_TEST_AT_BEST_VALIDATION:
        return summary.test_accuracy
    return None


@dataclass
class Comparison:
    statistic: str
    values: list[float]  # one per run that has it (fractions)
    as_counted: Optional[float]  # the number to set beside the book's: the best run's, or the mean
    missing: Optional[str] = None  # why no run has the statistic
    # The best-by-validation statistic: the seeds it chose among, and the test accuracies of runs
    # whose validation accuracy ties the chosen run's (the first by seed is taken; say the others).
    seeds: Optional[list[int]] = None
    tied: tuple[float, ...] = ()

    @property
    def spread(self) -> Spread:
        """The values' mean ± std and range."""
        return spread(self.values)


def compare(statistic: str, runs: list[tuple[Summary, list[EpochRecord]]]) -> Comparison:
    """`runs`: the finished runs of one config, each (summary, metrics)."""
    pairs = [(s, v) for s, m in runs if (v := run_value(statistic, s, m)) is not None]
    values = [v for _, v in pairs]
    if not values:
        return Comparison(statistic, [], None, MISSING.get(statistic, "no finished run"))
    if statistic == BEST_RUN_TEST_AT_BEST_VALIDATION:  # the run with the best validation accuracy of 3
        by_seed = sorted((s for s, _ in pairs), key=lambda s: (s.seed is None, s.seed or 0))
        counted = by_seed[:BOOK_RUNS]  # best of 5 would not be the book's statistic
        best = best_by_validation(counted)
        tied = tuple(s.test_accuracy for s in tied_with_best(counted) if s.test_accuracy != best.test_accuracy)
        return Comparison(statistic, values, best.test_accuracy if best else None,
                          seeds=[s.seed for s in counted], tied=tied)
    return Comparison(statistic, values, spread(values).mean)
