"""Combining members' predictions: the book's plurality vote and the mean probability (pure numpy).

The book's rule (`conv.py`): every net votes its predicted label and the plurality wins; a tie
goes to the label voted first in member order, which is what
`collections.Counter(votes).most_common(1)` returns. `mean` averages the members' probabilities
instead. analysis/ensemble.py chooses the members and writes the record; nothing here reads a file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nnbook.choices import Choice
from nnbook.errors import ConfigError


class Method(Choice):
    """How members combine: `vote`, the book's plurality vote of labels; `mean`, of probabilities."""

    vote = "vote"
    mean = "mean"


def method_of(method: Method | str) -> Method:
    try:
        return Method(method)
    except ValueError:
        raise ConfigError(f"--method {method!r}: choose one of {', '.join(m.value for m in Method)}") from None


def plurality_vote(predictions: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """predictions: (M, N) labels of M members -> (N,) the plurality label, ties
    to the label voted first in member order (Counter.most_common's order)."""
    m, n = predictions.shape
    counts = np.zeros((n, n_classes), dtype=np.int64)
    first_vote = np.full((n, n_classes), m, dtype=np.int64)  # member index of each label's first vote
    rows = np.arange(n)
    for k in range(m - 1, -1, -1):  # backwards, so the earliest member's index is written last
        counts[rows, predictions[k]] += 1
        first_vote[rows, predictions[k]] = k
    tied = counts == counts.max(axis=1, keepdims=True)
    return np.where(tied, first_vote, m + 1).argmin(axis=1)


def tied_votes(predictions: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """predictions: (M, N) labels of M members -> the indexes of the images whose plurality is
    shared by two or more labels: where the tie rule decides the vote."""
    counts = np.stack([np.bincount(column, minlength=n_classes) for column in predictions.T])
    return np.flatnonzero((counts == counts.max(axis=1, keepdims=True)).sum(axis=1) > 1)


def vote_to_lowest_label(predictions: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """The plurality vote with ties to the lowest label instead of the first seen: the other
    common rule (numpy's argmax of the counts), to show how much the tie rule matters."""
    return np.stack([np.bincount(column, minlength=n_classes) for column in predictions.T]).argmax(axis=1)


def combine(probabilities: np.ndarray, method: Method | str = Method.vote) -> np.ndarray:
    """probabilities: (M, N, 10) -> the ensemble's labels (N,)."""
    if method_of(method) is Method.vote:
        return plurality_vote(probabilities.argmax(-1), probabilities.shape[-1])
    return probabilities.mean(axis=0).argmax(-1)


@dataclass
class EnsembleResult:
    method: str  # a Method's value
    labels: np.ndarray  # (N,) true
    predicted: np.ndarray  # (N,) the ensemble's
    member_accuracies: list[float]
    disagreement: float  # fraction of images on which the members do not all agree
    pairwise_disagreement: float  # mean over member pairs of the fraction of images they label differently

    @property
    def errors(self) -> np.ndarray:
        return np.flatnonzero(self.predicted != self.labels)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean())


def evaluate_ensemble(probabilities: np.ndarray, labels: np.ndarray,
                      method: Method | str = Method.vote) -> EnsembleResult:
    votes = probabilities.argmax(-1)  # (M, N)
    m = len(votes)
    pairs = [(votes[i] != votes[j]).mean() for i in range(m) for j in range(i + 1, m)]
    return EnsembleResult(method_of(method).value, labels, combine(probabilities, method),
                          [float((v == labels).mean()) for v in votes],
                          float((votes != votes[0]).any(axis=0).mean()), float(np.mean(pairs)) if pairs else 0.0)
