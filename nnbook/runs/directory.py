"""The run directory: what a run leaves on disk, written so that nothing is lost.

    RUNS_DIR/<name>-<YYYYmmdd-HHMMSS>[-N]/
        config.yaml             the fully resolved config (`nnbook train` reruns it)
        metrics.jsonl           one JSON object per finished epoch (a MetricsRow), appended and flushed
        summary.json            status and the result (a Summary); rewritten after every epoch
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

This is the one module that opens these files: everything else reads and writes a
run through `Run` and the functions below (records.py says what the records hold).
Never trains. torch and numpy are imported only where weights or predictions are
read or written, so that reading summaries (report, sweep plans) stays light.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional, Sequence

from nnbook.config import Config, load_config
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs.records import DIVERGED, RUNNING, MetricsRow, Summary

CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, CHECKPOINT, PREVIOUS_CHECKPOINT, LOCK = (
    "config.yaml", "metrics.jsonl", "summary.json", "model.pt", "test_predictions.npy", "checkpoint.pt",
    "checkpoint.prev.pt", ".lock")


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

    def __init__(self, path: Path, summary: Summary):
        self.path = path
        self.summary = summary
        self._lock = None  # the open .lock file while this process trains the run
        # While training (begin_training): what each epoch's checkpoint records besides the loop's state.
        self.trained_config: Optional[dict] = None
        self.history: list[MetricsRow] = []
        self._seconds = 0.0  # of the epochs in `history`

    @classmethod
    def create(cls, runs_dir: Path, config_yaml: str, summary: Summary, stamp: Optional[str] = None) -> "Run":
        """A new run directory for what `summary` says the run is (name, seed, data, environment),
        with its config; it starts `running`, with no epoch."""
        path = new_run_dir(runs_dir, summary.name, stamp)
        atomic_text(path / CONFIG, config_yaml)
        run = cls(path, replace(summary, status=RUNNING, epochs_completed=0, best_validation_accuracy=None,
                                best_epoch=None, test_accuracy=None, seconds=0.0))
        run.write_summary()
        return run

    @classmethod
    def open(cls, path: Path) -> "Run":
        return cls(path, read_summary(path))

    def write_summary(self) -> None:
        atomic_text(self.path / SUMMARY, json.dumps(self.summary.to_json(), indent=2) + "\n")

    def update(self, **fields) -> None:
        """Set these Summary fields and rewrite summary.json."""
        self.summary = replace(self.summary, **fields)
        self.write_summary()

    def finish(self, status: str, **fields) -> None:
        """End a run that is still `running` with `status` (and `fields`); a run that stopped
        on its own (early_stopped, diverged) keeps its status."""
        if self.summary.status == RUNNING:
            self.update(status=status, **fields)

    def write_config(self, config_yaml: str) -> None:
        atomic_text(self.path / CONFIG, config_yaml)

    def log_epoch(self, row: MetricsRow) -> None:
        """Append one whole line and flush it to disk."""
        with open(self.path / METRICS, "a") as f:
            f.write(json.dumps(row.to_json()) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def rewrite_metrics(self, rows: Sequence[MetricsRow]) -> None:
        """Replace metrics.jsonl with exactly these epochs (a resume's history), atomically."""
        atomic_text(self.path / METRICS, "".join(json.dumps(row.to_json()) + "\n" for row in rows))

    def save_best(self, weights: dict, test_probabilities) -> None:
        """The best-validation weights and their (10000, 10) test probabilities (a numpy array)."""
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

    def begin_training(self, config: dict, history: Sequence[MetricsRow] = ()) -> None:
        """Lock the run for this process; every epoch's checkpoint will record `config` (the
        run's resolved config, as JSON) and the metrics history, which starts as `history`
        (the epochs before, when resuming)."""
        self.lock()
        self.trained_config = config
        self.history = list(history)
        self._seconds = sum(row.seconds for row in self.history)

    def record_epoch(self, epoch: int, row: Optional[MetricsRow], status: Optional[str], best,
                     checkpoint: Callable[[], dict], best_model: Optional[tuple] = None) -> None:
        """Write epoch `epoch` of this run. `row`: its metrics (None when the run trained no more:
        stopped before, or diverged now); `status`: None while it trains, else why it stopped;
        `best`: the best-validation bookkeeping (.epoch, .validation_accuracy, .test_accuracy);
        `checkpoint()`: the loop's resumable state of the run; `best_model`: (weights, test
        probabilities) when the epoch is a new best.

        Written in this order so that a kill between any two writes loses nothing that
        resuming cannot redo: the best model before the checkpoint that counts it, the
        checkpoint (with the metrics history) before metrics.jsonl and summary.json, which
        resume.py rebuilds from it."""
        if row is None and self.summary.status != RUNNING:
            return  # stopped in an earlier epoch: nothing of it changes
        if best_model is not None:
            self.save_best(*best_model)
        if row is not None:
            self.history.append(row)
            self._seconds += row.seconds
        saved = checkpoint()
        saved["metrics"] = [r.to_json() for r in self.history]
        saved["config"] = self.trained_config
        self.save_checkpoint(saved)
        if row is not None:
            self.log_epoch(row)
        diverged = {"diverged_in_epoch": epoch} if status == DIVERGED else {}
        self.update(status=status or RUNNING, epochs_completed=len(self.history),
                    best_validation_accuracy=best.validation_accuracy if best.epoch else None,
                    best_epoch=best.epoch, test_accuracy=best.test_accuracy, seconds=round(self._seconds, 3),
                    **diverged)

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


# ----------------------------------------------------------------------------- reading run directories


def is_run_dir(path: Path) -> bool:
    return (path / SUMMARY).is_file() and (path / CONFIG).is_file()


def no_such_path(path: Path) -> str:
    """Why `path` names nothing; a `*` left in it is a shell glob that matched nothing."""
    if any(c in str(path) for c in "*?["):
        return f"{path}: matches nothing (a shell glob that found no run directories)"
    return f"{path}: no such run directory"


def read_summary(path: Path) -> Summary:
    """A run's summary.json. A path that is no run is a usage mistake (exit 2)."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(no_such_path(path))
    if not is_run_dir(path):
        raise ConfigError(f"{path}: not a run directory (no {SUMMARY} and {CONFIG})")
    try:
        data = json.loads((path / SUMMARY).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise NnbookError(f"{path / SUMMARY}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise NnbookError(f"{path / SUMMARY}: unreadable (a {type(data).__name__}, not an object)")
    return Summary.from_json(data)


def read_metrics(path: Path) -> list[MetricsRow]:
    """Every whole line of metrics.jsonl (a line torn by a crash is ignored)."""
    rows = []
    file = Path(path) / METRICS
    if file.exists():
        for line in file.read_text().splitlines():
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and "epoch" in data:
                rows.append(MetricsRow.from_json(data))
    return rows


def config_file(path: Path) -> Path:
    """The run's config.yaml, for messages that tell the user what to run or edit."""
    return Path(path) / CONFIG


def read_config(path: Path, overrides: Sequence[str] = ()) -> Config:
    """The run's resolved config (with `--set` overrides); ConfigError if it no longer validates."""
    return load_config(config_file(path), list(overrides))


def has_model(path: Path) -> bool:
    return (Path(path) / MODEL).exists()


def load_best_weights(path: Path) -> dict:
    """The best-validation weights (model.pt) on the CPU, loaded with weights_only=True: tensors only."""
    import torch

    return torch.load(Path(path) / MODEL, map_location="cpu", weights_only=True)


def has_predictions(path: Path) -> bool:
    return (Path(path) / PREDICTIONS).exists()


def load_predictions(path: Path):
    """The (10000, 10) test probabilities of the best-validation model, a numpy array."""
    import numpy as np

    return np.load(Path(path) / PREDICTIONS)


# ----------------------------------------------------------------------------- moving runs between machines


def run_files(path: Path) -> dict[str, bytes]:
    """A run directory's files as bytes, to send it to another machine: every whole file,
    none of the dot-files (half-written temporaries, the lock)."""
    return {f.name: f.read_bytes() for f in sorted(Path(path).iterdir())
            if f.is_file() and not f.name.startswith(".")}


def write_run_files(runs_dir: Path, name: str, files: dict[str, bytes]) -> Path:
    """Write a run directory received as `run_files` under `runs_dir` (a suffix if the
    name is taken), summary.json last: until it is there the directory is not a run,
    so a crash while writing never leaves a run that looks finished."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        path = runs_dir / (name + (f"-r{n}" if n else ""))
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    for file_name in sorted(files, key=lambda f: f == SUMMARY):
        data = files[file_name]
        atomic_write(path / file_name, lambda f, data=data: f.write(data))
    return path
