"""The book's headline statistic, defined once (nnbook/statistics.py): which runs count, the
best run by validation, and the mean ± std and range of the numbers beside it."""

from dataclasses import dataclass
from typing import Optional

import pytest

from nnbook.statistics import best_by_validation, column_means, has_result, results_of, spread


@dataclass
class Run:
    best_validation_accuracy: Optional[float]
    test_accuracy: Optional[float]


def test_a_run_without_a_result_is_skipped_never_counted_as_zero():
    runs = [Run(0.95, 0.94), Run(None, None), Run(0.96, 0.93)]
    assert [has_result(r) for r in runs] == [True, False, True]
    assert results_of(runs) == [0.94, 0.93]
    assert spread([0.94, None, 0.93]) == spread([0.94, 0.93])
    # a run whose best validation accuracy is unknown is not a run that scored 0 there
    assert best_by_validation([Run(None, 0.99), Run(0.90, 0.91)]).test_accuracy == 0.91


def test_the_best_run_is_the_best_by_validation_not_by_test():
    runs = [Run(0.97, 0.99), Run(0.98, 0.96), Run(0.98, 0.95)]
    assert best_by_validation(runs) is runs[1]  # a tie goes to the first as given
    assert best_by_validation([]) is None and best_by_validation([Run(None, None)]) is None


def test_spread_is_the_mean_the_sample_std_and_the_range():
    s = spread([0.90, 0.80, 0.85])
    assert (s.n, s.low, s.high) == (3, 0.80, 0.90)
    assert s.mean == pytest.approx(0.85) and s.std == pytest.approx(0.05)  # n - 1: the sample std
    one = spread([0.9])
    assert (one.n, one.mean, one.std, one.low, one.high) == (1, 0.9, None, 0.9, 0.9)  # no std of one number
    assert spread([]) == spread([None]) and spread([]).mean is None and spread([]).n == 0


def test_column_means_average_each_column():
    assert column_means([[1.0, 4.0], [3.0, 8.0]]) == [2.0, 6.0]
