"""The run directory: what a run leaves on disk, written so that nothing is lost.

    RUNS_DIR/<name>-<YYYYmmdd-HHMMSS>[-N]/
        config.yaml             the fully resolved config (`nnbook train` reruns it)
        metrics.jsonl           one JSON object per finished epoch, appended and flushed
        summary.json            status and the result; rewritten after every epoch
        model.pt                the best-validation weights (torch.load(..., weights_only=True))
        test_predictions.npy    (10000, 10) class probabilities of that model on the test images
        checkpoint.pt           the last finished epoch, resumable (`nnbook train --resume`)
        checkpoint.prev.pt      the epoch before it: members of a group written one after
                                another can always be resumed from one common epoch
        .lock                   held (flock) by the process training the run

Every file except metrics.jsonl is written to a temporary file and renamed, so a
kill at any moment leaves the old or the new version, never a torn one.
metrics.jsonl only ever grows by whole lines (resuming rewrites it, atomically,
from the checkpoint's history). A directory is never reused for a new run.

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

from nnbook.errors import ConfigError, NnbookError

CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, CHECKPOINT, PREVIOUS_CHECKPOINT, LOCK = (
    "config.yaml", "metrics.jsonl", "summary.json", "model.pt", "test_predictions.npy", "checkpoint.pt",
    "checkpoint.prev.pt", ".lock")
FINISHED = ("completed", "early_stopped")


def atomic_write(path: Path, write, keep_previous: Optional[Path] = None) -> None:
    """Call write(file_object) on a temporary file beside `path`, fsync, rename.
    With `keep_previous`, the old `path` is first renamed to it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def sync_directory(path: Path) -> None:
    """fsync a directory, so that a rename in it survives a power cut (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def check_runs_dir(runs_dir: Path) -> None:
    """Make `runs_dir` if needed and prove it writable by writing in it, before any
    time is spent on data or training (os.access says yes to root on a read-only
    mount; a real write does not lie)."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir, prefix=".write-test-"):
            pass
    except OSError as e:
        raise NnbookError(f"the runs directory {runs_dir} is not writable ({e.strerror}); "
                          "choose another with --runs-dir") from None


def new_run_dir(runs_dir: Path, name: str, stamp: Optional[str] = None) -> Path:
    """A fresh `<name>-<timestamp>[-N]` directory; mkdir is the lock, so two runs
    started in the same second never share one."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    check_runs_dir(runs_dir)
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
        self._lock = None  # the open .lock file while this process trains the run

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

        atomic_write(self.path / CHECKPOINT, lambda f: torch.save(state, f),
                     keep_previous=self.path / PREVIOUS_CHECKPOINT)

    def load_checkpoints(self) -> list[dict]:
        """The saved checkpoints, newest first (none before the first epoch ends).
        Loaded with weights_only=True: a checkpoint holds tensors, numbers, strings,
        lists and dicts, and a file holding anything else is refused, never run."""
        import pickle

        import torch

        saved = []
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            file = self.path / name
            if not file.exists():
                continue
            try:
                state = torch.load(file, map_location="cpu", weights_only=True)
            except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise NnbookError(f"{file}: not a readable nnbook checkpoint ({first[:200]})") from None
            if not isinstance(state, dict) or "epoch" not in state or "net" not in state:
                raise NnbookError(f"{file}: not an nnbook checkpoint (no epoch and weights in it)")
            saved.append(state)
        return sorted(saved, key=lambda s: -s["epoch"])

    def rewrite_metrics(self, rows: list[dict]) -> None:
        """Replace metrics.jsonl with exactly these epochs (a resume's history), atomically."""
        atomic_text(self.path / METRICS, "".join(json.dumps(row) + "\n" for row in rows))

    def remove_temporary_files(self) -> list[str]:
        """Delete what a kill in the middle of atomic_write left behind (`.<file>.XXXX`)."""
        names = (CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, CHECKPOINT)
        removed = []
        for p in self.path.iterdir():
            if any(p.name.startswith(f".{name}.") for name in names) and p.is_file():
                p.unlink()
                removed.append(p.name)
        return removed

    def lock(self) -> None:
        """Hold the run's lock until the process ends (the OS drops it even on SIGKILL),
        so a second `--resume` of a run being trained is refused, not raced."""
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no protection against a second process
            return
        f = open(self.path / LOCK, "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            raise NnbookError(f"{self.path} is being trained by another nnbook process right now; "
                              "wait for it to end (or stop it) before resuming") from None
        self._lock = f

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def update(self, **fields) -> None:
        self.summary.update(fields)
        self.write_summary()


def is_run_dir(path: Path) -> bool:
    return (path / SUMMARY).is_file() and (path / CONFIG).is_file()


def no_such_path(path: Path) -> str:
    """Why `path` names nothing; a `*` left in it is a shell glob that matched nothing."""
    if any(c in str(path) for c in "*?["):
        return f"{path}: matches nothing (a shell glob that found no run directories)"
    return f"{path}: no such run directory"


def read_summary(path: Path) -> dict:
    """A run's summary.json. A path that is no run is a usage mistake (exit 2)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(no_such_path(path))
    if not is_run_dir(path):
        raise ConfigError(f"{path}: not a run directory (no {SUMMARY} and {CONFIG})")
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

    from nnbook import __version__

    hardware = platform.processor() or platform.machine()
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    return {"nnbook": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "device": str(device), "hardware": hardware,
            "threads": torch.get_num_threads()}
