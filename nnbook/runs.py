"""The run directory: what a run leaves on disk, written so that nothing is lost.

    RUNS_DIR/<name>-<YYYYmmdd-HHMMSS>[-N]/
        config.yaml             the fully resolved config (`nnbook train` reruns it)
        metrics.jsonl           one JSON object per finished epoch, appended and flushed
        summary.json            status and the result; rewritten after every epoch
        model.pt                the best-validation weights (torch.load(..., weights_only=True))
        test_predictions.npy    (10000, 10) class probabilities of that model on the test images
        checkpoint.pt           the last finished epoch, resumable

Every file except metrics.jsonl is written to a temporary file and renamed, so a
kill at any moment leaves the old or the new version, never a torn one.
metrics.jsonl only ever grows by whole lines. A directory is never reused.

Never trains; reads and writes files only.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

from .errors import NnbookError

CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, CHECKPOINT = (
    "config.yaml", "metrics.jsonl", "summary.json", "model.pt", "test_predictions.npy", "checkpoint.pt")
FINISHED = ("completed", "early_stopped")


def atomic_write(path: Path, write) -> None:
    """Call write(file_object) on a temporary file beside `path`, fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def new_run_dir(runs_dir: Path, name: str, stamp: Optional[str] = None) -> Path:
    """A fresh `<name>-<timestamp>[-N]` directory; mkdir is the lock, so two runs
    started in the same second never share one."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NnbookError(f"cannot create the runs directory {runs_dir}: {e.strerror}") from None
    if not os.access(runs_dir, os.W_OK):
        raise NnbookError(f"the runs directory {runs_dir} is not writable; choose another with --runs-dir")
    for n in range(10_000):
        path = runs_dir / (f"{name}-{stamp}" + (f"-{n}" if n else ""))
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise NnbookError(f"cannot create a run directory in {runs_dir}: {e.strerror}") from None
    raise NnbookError(f"too many runs named {name}-{stamp} in {runs_dir}")


class Run:
    """One run directory being written."""

    def __init__(self, path: Path, summary: dict):
        self.path = path
        self.summary = summary

    @classmethod
    def create(cls, runs_dir: Path, config_yaml: str, summary: dict, stamp: Optional[str] = None) -> "Run":
        path = new_run_dir(runs_dir, summary["name"], stamp)
        atomic_text(path / CONFIG, config_yaml)
        run = cls(path, {"status": "running", "epochs_completed": 0, "best_validation_accuracy": None,
                         "best_epoch": None, "test_accuracy": None, "seconds": 0.0, **summary})
        run.write_summary()
        return run

    @classmethod
    def open(cls, path: Path) -> "Run":
        return cls(path, read_summary(path))

    def write_summary(self) -> None:
        atomic_text(self.path / SUMMARY, json.dumps(self.summary, indent=2) + "\n")

    def log_epoch(self, record: Any) -> None:
        """Append one whole line and flush it to disk."""
        line = json.dumps(asdict(record) if not isinstance(record, dict) else record) + "\n"
        with open(self.path / METRICS, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def save_best(self, weights: dict, test_probabilities) -> None:
        import numpy as np
        import torch

        atomic_write(self.path / MODEL, lambda f: torch.save(weights, f))
        atomic_write(self.path / PREDICTIONS, lambda f: np.save(f, test_probabilities.astype(np.float32)))

    def save_checkpoint(self, state: dict) -> None:
        import torch

        atomic_write(self.path / CHECKPOINT, lambda f: torch.save(state, f))

    def update(self, **fields) -> None:
        self.summary.update(fields)
        self.write_summary()


def is_run_dir(path: Path) -> bool:
    return (path / SUMMARY).is_file() and (path / CONFIG).is_file()


def read_summary(path: Path) -> dict:
    path = Path(path)
    if not path.is_dir():
        raise NnbookError(f"{path}: no such run directory")
    if not is_run_dir(path):
        raise NnbookError(f"{path}: not a run directory (no {SUMMARY} and {CONFIG})")
    try:
        return json.loads((path / SUMMARY).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NnbookError(f"{path / SUMMARY}: unreadable ({e})") from None


def read_metrics(path: Path) -> list[dict]:
    """Every whole line of metrics.jsonl (a line torn by a crash is ignored)."""
    rows = []
    file = Path(path) / METRICS
    if file.exists():
        for line in file.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


def environment(device) -> dict:
    """Versions and hardware, recorded with every run."""
    import numpy
    import torch

    from . import __version__

    hardware = platform.processor() or platform.machine()
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    return {"nnbook": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "device": str(device), "hardware": hardware,
            "threads": torch.get_num_threads()}
