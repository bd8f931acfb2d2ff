"""A run's class probabilities on a split of its data, from its saved networks.

Training writes each run's test probabilities (test_predictions.npy: the best-validation
network; test_predictions_last.npy: the network after its last epoch), which is what the
book's vote reads. Choices made on validation (which weights vote, which members) need the
same on the validation split: `split_predictions` computes them from the saved networks, the
best-validation one (model.pt) or the one after the last epoch (the checkpoint's weights),
and keeps them beside the test ones (`validation_predictions[_last].npy`, runs/directory.py),
so that a vote on validation is recomputable from the run's files without its weights.
torch is imported only when a network is loaded.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Optional

import numpy as np

from nnbook.data import mnist
from nnbook.errors import NnbookError
from nnbook.files import atomic_write
from nnbook.runs import directory as runs


def split_predictions(path: Path, split: str, last: bool = False, data_dir: Optional[str] = None,
                      device: str = "cpu") -> np.ndarray:
    """The run's (N, 10) probabilities on `split` (training, validation or test) of its own data: read
    where the run has them, else computed from its saved network and written into the run."""
    path = Path(path)
    if runs.has_predictions(path, last, split):
        return runs.load_predictions(path, last, split)
    if split == "test":
        why = "a run trained before nnbook kept the last epoch has none" if last else "the run finished no epoch"
        raise NnbookError(f"{path}: no {runs.predictions_file(last)} (training writes it; {why})")
    from nnbook.training.inference import WeightsMismatch, saved_network  # deferred: torch

    config = runs.read_config(path)
    try:
        weights = last_weights(path) if last else (runs.load_best_weights(path) if runs.has_model(path) else None)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:  # a damaged model.pt
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise NnbookError(f"{path}: unreadable {runs.MODEL} ({first})") from None
    if weights is None:
        what = f"no checkpoint of its last epoch ({runs.CHECKPOINT})" if last else f"no saved network ({runs.MODEL})"
        raise NnbookError(f"{path}: {what}, so no {split} predictions can be computed")
    try:
        network = saved_network(config, weights, device)
    except WeightsMismatch as e:
        raise NnbookError(f"{path}: its saved weights do not fit the network of {runs.CONFIG} ({e})") from None
    dataset = mnist.load(config.data, data_dir, source=str(runs.config_file(path)))
    probabilities = network.probabilities(getattr(dataset, split).x)
    atomic_write(path / runs.predictions_file(last, split), runs.numpy_bytes(probabilities))
    return probabilities


def last_weights(path: Path) -> Optional[dict]:
    """The weights of the network after the run's last finished epoch (its checkpoint's, loaded
    with weights_only=True), None where the run has no checkpoint of that epoch."""
    summary = runs.read_summary(path)
    for _, saved in runs.Run(path, summary).load_checkpoints():
        if isinstance(saved, dict) and saved.get("epoch") == summary.epochs_completed and "net" in saved:
            return saved["net"]
    return None
