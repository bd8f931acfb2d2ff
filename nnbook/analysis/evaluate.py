"""The accuracy of a saved network on any data set (a chapter 6 problem).

Loads a run's config and best-validation weights (through runs/), rebuilds its
network (training/inference.py) and measures accuracy and the confusion matrix on a
split of the configured data or of any file in the book's format. Never trains.
torch is imported only when a network is loaded, so `--help` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from nnbook.data import mnist
from nnbook.choices import Choice
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs import directory as runs


class Split(Choice):
    """A part of the data set, as `Dataset` names it."""

    training = "training"
    validation = "validation"
    test = "test"


@dataclass
class Evaluation:
    source: str  # the data file
    split: str  # a Split's value
    accuracy: float
    confusion: np.ndarray  # (10, 10) counts: row = true label, column = predicted

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def errors(self) -> int:
        return self.n - int(np.trace(self.confusion))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int = 10) -> np.ndarray:
    return np.bincount(n_classes * labels + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def load_network(path: Path, device: str):
    """The run's config and its saved best-validation network (training/inference.Network) on `device`."""
    from nnbook.training.inference import WeightsMismatch, saved_network  # deferred: torch (--help imports this)

    runs.read_summary(path)  # a clear message for a path that is not a run
    if not runs.has_model(path):
        raise NnbookError(f"{path}: no saved network ({runs.MODEL}); the run finished no epoch")
    config = runs.read_config(path)
    cannot = f"{path / runs.MODEL}: cannot be loaded into the network of {runs.CONFIG}"
    try:
        weights = runs.load_best_weights(path)
    except (RuntimeError, KeyError, OSError) as e:
        raise NnbookError(f"{cannot} ({e})") from None
    try:
        return config, saved_network(config, weights, device)
    except WeightsMismatch as e:
        raise NnbookError(f"{cannot} ({e})") from None


def evaluate_run(path: Path, split: Split | str = Split.test, data: Optional[str] = None, data_dir=None,
                 device: str = "auto") -> Evaluation:
    try:
        split = Split(split)
    except ValueError:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(s.value for s in Split)}") from None
    path = Path(path)
    config, network = load_network(path, device)
    if data is None:
        dataset = mnist.load(config.data, data_dir, source=str(runs.config_file(path)))
    else:
        dataset = mnist.load_file(mnist.resolve_data_path(data, data_dir, source="--data"))
    part = getattr(dataset, split.value)
    confusion = confusion_matrix(part.y, network.predict(part.x))
    return Evaluation(dataset.source, split.value, float(np.trace(confusion) / len(part)), confusion)


def render_confusion(confusion: np.ndarray) -> str:
    """Plain text: rows are true labels, columns predicted labels."""
    width = max(5, len(str(confusion.max())) + 1)
    lines = ["true\\pred" + "".join(f"{c:>{width}}" for c in range(confusion.shape[1]))]
    for label, row in enumerate(confusion):
        lines.append(f"{label:>9}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
