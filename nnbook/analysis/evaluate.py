"""The accuracy of a saved network on any data set (a chapter 6 problem).

Loads a run's config and best-validation weights (through runs/), and
measures accuracy and the confusion matrix on a split of the configured
data or of any file in the book's format. Never trains. torch (with nn/ and
training/) is imported only when a network is loaded, so `--help` stays fast.
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


def load_network(path: Path, device):
    """The run's config and its saved best-validation network (K = 1)."""
    from nnbook.nn.net import StackedNet, torch_dtype

    runs.read_summary(path)  # a clear message for a path that is not a run
    if not runs.has_model(path):
        raise NnbookError(f"{path}: no saved network ({runs.MODEL}); the run finished no epoch")
    config = runs.read_config(path)
    net = StackedNet(config, k=1)
    try:
        net.load_member_weights(0, runs.load_best_weights(path))
    except (RuntimeError, KeyError, OSError) as e:
        raise NnbookError(f"{path / runs.MODEL}: cannot be loaded into the network of {runs.CONFIG} ({e})") from None
    return config, net.to(device=device, dtype=torch_dtype(config))


def evaluate_run(path: Path, split: Split | str = Split.test, data: Optional[str] = None, data_dir=None,
                 device: str = "auto") -> Evaluation:
    import torch

    from nnbook.training.devices import resolve_device

    try:
        split = Split(split)
    except ValueError:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(s.value for s in Split)}") from None
    path = Path(path)
    dev = resolve_device(device)
    config, net = load_network(path, dev)
    if data is None:
        dataset = mnist.load(config.data, data_dir, source=str(runs.config_file(path)))
    else:
        dataset = mnist.load_file(mnist.resolve_data_path(data, data_dir, source="--data"))
    part = getattr(dataset, split.value)
    x = torch.from_numpy(part.x).to(device=dev, dtype=next(net.parameters()).dtype)
    predicted = net.probabilities(x)[0].argmax(-1).cpu().numpy()
    confusion = confusion_matrix(part.y, predicted)
    return Evaluation(dataset.source, split.value, float(np.trace(confusion) / len(part)), confusion)


def render_confusion(confusion: np.ndarray) -> str:
    """Plain text: rows are true labels, columns predicted labels."""
    width = max(5, len(str(confusion.max())) + 1)
    lines = ["true\\pred" + "".join(f"{c:>{width}}" for c in range(confusion.shape[1]))]
    for label, row in enumerate(confusion):
        lines.append(f"{label:>9}" + "".join(f"{v:>{width}}" for v in row))
    return "\n".join(lines)
