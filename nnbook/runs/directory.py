"""The run directory: what a run leaves on disk, written so that nothing is lost.

    RUNS_DIR/<name>-<YYYYmmdd-HHMMSS>[-N]/
        config.yaml             the fully resolved config (`nnbook train` reruns it)
        metrics.jsonl           one JSON object per finished epoch (an EpochRecord), appended and flushed
        summary.json            status and the result (a Summary); rewritten after every epoch
        model.pt                the best-validation weights (torch.load(..., weights_only=True))
        test_predictions.npy    (10000, 10) class probabilities of that model on the test images
        checkpoint.pt           the last finished epoch, resumable (`nnbook train --resume`)
        checkpoint.prev.pt      the epoch before it: members of a group written one after
                                another can always be resumed from one common epoch
        .lock                   held (flock) by the process training the run; removed when it lets go

Every file except metrics.jsonl is written to a temporary file and renamed, so a
kill, a full disk or a failed write at any moment leaves the old or the new version,
never a torn one; metrics.jsonl only ever grows by whole lines (resuming rewrites it,
atomically, from the checkpoint's history). How is nnbook/files.py's. A directory is never
reused for a new run.

The process that trains a run holds its lock from the moment the directory exists.
A summary that says `running` while the lock is free is stale (the process was killed,
or the disk was too full to write why it stopped): `read_summary`, what every reader
uses, gives it as `stopped` (nnbook/records.py: STOPPED); `Run.open`, for a writer, as written.

This is the one module that names these files: everything else reads and writes a
run through `Run` and the functions below (records.py says what the records hold).
Never trains. torch and numpy are imported only where weights or predictions are
read or written, so that reading summaries (report, sweep plans) stays light.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable, Optional, Protocol, Sequence

from nnbook.config import Config, load_config
from nnbook.errors import ConfigError, NnbookError
from nnbook.files import (append_line, atomic_text, atomic_write, atomic_write_all, hold_lock, is_held, is_temporary,
                          release_lock)
from nnbook.records import DIVERGED, RUNNING, STOPPED, EpochRecord
from nnbook.runs.records import Summary

CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, CHECKPOINT, PREVIOUS_CHECKPOINT, LOCK = (
    "config.yaml", "metrics.jsonl", "summary.json", "model.pt", "test_predictions.npy", "checkpoint.pt",
    "checkpoint.prev.pt", ".lock")
# The test probabilities of the network as it stands after its last epoch, written when a run
# finishes: the book's conv.py votes with those (network3.py keeps no best weights).
LAST_PREDICTIONS = "test_predictions_last.npy"
VALIDATION_PREDICTIONS = ("validation_predictions.npy", "validation_predictions_last.npy")
WRITTEN = (CONFIG, METRICS, SUMMARY, MODEL, PREDICTIONS, LAST_PREDICTIONS, CHECKPOINT, PREVIOUS_CHECKPOINT,
           *VALIDATION_PREDICTIONS)


def torch_bytes(obj) -> bytes:
    """torch.save's bytes, so that they reach the disk through nnbook/files.py like every other file's."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def numpy_bytes(array) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


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


def fresh_dir(runs_dir: Path, names: Iterable[str]) -> Optional[Path]:
    """Make the first directory of `names` under `runs_dir` that does not exist yet (None
    when every one does). mkdir is the lock: two processes never get the same one."""
    for name in names:
        path = runs_dir / name
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as e:
            raise NnbookError(f"cannot create a run directory in {runs_dir}: {e.strerror}") from None
    return None


def new_run_dir(runs_dir: Path, name: str, stamp: Optional[str] = None) -> Path:
    """A fresh `<name>-<timestamp>[-N]` directory (two runs started in the same second never share one)."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    check_runs_dir(runs_dir)
    path = fresh_dir(runs_dir, (f"{name}-{stamp}" + (f"-{n}" if n else "") for n in range(10_000)))
    if path is None:
        raise NnbookError(f"too many runs named {name}-{stamp} in {runs_dir}")
    return path


class RecordedEpoch(Protocol):
    """What `Run.record_epoch` writes: one member's part of the loop's epoch report
    (training/loop.MemberEpoch, which the run directory does not import: it never trains)."""

    epoch: int
    record: Optional[EpochRecord]  # None when the run trained no more
    status: Optional[str]  # None while training, else EARLY_STOPPED | DIVERGED
    best: Any  # its best-validation bookkeeping: validation_accuracy, epoch, test_accuracy
    best_model: Optional[tuple[dict, Any]]  # at a new best: its weights and (10000, 10) test probabilities

    def checkpoint(self, metrics: list[EpochRecord], config: Optional[dict]) -> dict:
        """Its resumable checkpoint, carrying the run's metrics so far and its config."""


class Run:
    """One run directory being written."""

    def __init__(self, path: Path, summary: Summary):
        self.path = path
        self.summary = summary
        self._lock = None  # the held .lock, open, while this process trains the run
        # While training (begin_training): what each epoch's checkpoint records besides the loop's own.
        self.trained_config: Optional[dict] = None
        self.history: list[EpochRecord] = []
        self._seconds = 0.0  # of the epochs in `history`

    @classmethod
    def create(cls, runs_dir: Path, config_yaml: str, summary: Summary, stamp: Optional[str] = None) -> "Run":
        """A new run directory for what `summary` says the run is (name, seed, data, environment),
        locked by this process, with its config; it starts `running`, with no epoch."""
        path = new_run_dir(runs_dir, summary.name, stamp)
        run = cls(path, replace(summary, status=RUNNING, epochs_completed=0, best_validation_accuracy=None,
                                best_epoch=None, test_accuracy=None, seconds=0.0))
        try:
            run.lock()  # before summary.json makes it a run: no reader ever sees it running unlocked
            atomic_text(path / CONFIG, config_yaml)
            run.write_summary()
        except BaseException:
            run.unlock()
            shutil.rmtree(path, ignore_errors=True)  # no summary.json yet: not a run, nothing in it to keep
            raise
        return run

    @classmethod
    def open(cls, path: Path) -> "Run":
        """The run as its files say, `running` or not: for a writer that holds (or takes) its lock."""
        return cls(path, _read_summary_file(path))

    @classmethod
    def open_locked(cls, path: Path) -> "Run":
        """Lock the run for this process, then read it: with the lock held, a `running`
        summary is known to be stale (no other process trains it)."""
        _read_summary_file(path)  # a path that is no run is refused before a lock file is made in it
        run = cls(path, Summary())
        run.lock()
        try:
            run.summary = _read_summary_file(path)
        except BaseException:
            run.unlock()
            raise
        return run

    def write_summary(self) -> None:
        atomic_text(self.path / SUMMARY, self.summary.text())

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

    def log_epoch(self, row: EpochRecord) -> None:
        """Append one whole line, on disk when this returns."""
        append_line(self.path / METRICS, json.dumps(row.to_json()) + "\n")

    def rewrite_metrics(self, rows: Sequence[EpochRecord]) -> None:
        """Replace metrics.jsonl with exactly these epochs (a resume's history), atomically."""
        atomic_text(self.path / METRICS, "".join(json.dumps(row.to_json()) + "\n" for row in rows))

    def save_best(self, weights: dict, test_probabilities) -> None:
        """The best-validation weights and their (10000, 10) test probabilities (a numpy array in
        the run's dtype, so a vote sees what the network computed), replaced together: a failed
        write leaves the previous best's pair."""
        atomic_write_all([(self.path / MODEL, torch_bytes(weights)),
                          (self.path / PREDICTIONS, numpy_bytes(test_probabilities))])

    def save_last_predictions(self, test_probabilities) -> None:
        """The (10000, 10) test probabilities of the network after its last epoch (a numpy array
        in the run's dtype)."""
        atomic_write(self.path / LAST_PREDICTIONS, numpy_bytes(test_probabilities))

    def save_checkpoint(self, checkpoint: dict) -> None:
        atomic_write(self.path / CHECKPOINT, torch_bytes(checkpoint), keep_previous=self.path / PREVIOUS_CHECKPOINT)

    def load_checkpoints(self) -> list[tuple[Path, Any]]:
        """The saved checkpoints as (file, what it holds), checkpoint.pt first (none before the
        first epoch ends); what a checkpoint holds is training/checkpoint.py's to check.
        Loaded with weights_only=True: a checkpoint holds tensors, numbers, strings,
        lists and dicts, and a file holding anything else is refused, never run."""
        import torch

        saved = []
        for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
            file = self.path / name
            if not file.exists():
                continue
            try:
                saved_file = torch.load(file, map_location="cpu", weights_only=True)
            except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise NnbookError(f"{file}: not a readable nnbook checkpoint ({first[:200]})") from None
            saved.append((file, saved_file))
        return saved

    def begin_training(self, config: dict, history: Sequence[EpochRecord] = ()) -> None:
        """Lock the run for this process; every epoch's checkpoint will record `config` (the
        run's resolved config, as JSON) and the metrics history, which starts as `history`
        (the epochs before, when resuming)."""
        self.lock()
        self.trained_config = config
        self.history = list(history)
        self._seconds = sum(row.seconds for row in self.history)

    def record_epoch(self, member: RecordedEpoch) -> None:
        """Write an epoch of this run: its member's part of the loop's report (the record, None
        when the run trained no more; the status; the best-validation bookkeeping; the best
        model at a new best; the checkpoint).

        Written in this order so that a kill between any two writes loses nothing that
        resuming cannot redo: the best model before the checkpoint that counts it, the
        checkpoint (with the metrics history) before metrics.jsonl and summary.json, which
        experiments/resume.py rebuilds from it."""
        row, best = member.record, member.best
        if row is None and self.summary.status != RUNNING:
            return  # stopped in an earlier epoch: nothing of it changes
        if member.best_model is not None:
            self.save_best(*member.best_model)
        if row is not None:
            self.history.append(row)
            self._seconds += row.seconds
        self.save_checkpoint(member.checkpoint(self.history, self.trained_config))
        if row is not None:
            self.log_epoch(row)
        diverged = {"diverged_in_epoch": member.epoch} if member.status == DIVERGED else {}
        self.update(status=member.status or RUNNING, epochs_completed=len(self.history),
                    best_validation_accuracy=best.validation_accuracy if best.epoch else None,
                    best_epoch=best.epoch, test_accuracy=best.test_accuracy, seconds=round(self._seconds, 3),
                    **diverged)

    def remove_temporary_files(self) -> list[str]:
        """Delete what a kill in the middle of a write left behind (`.<file>.XXXX`)."""
        removed = []
        for p in self.path.iterdir():
            if is_temporary(p.name, WRITTEN) and p.is_file():
                p.unlink()
                removed.append(p.name)
        return removed

    def lock(self) -> None:
        """Hold the run's lock until unlock() or the end of the process (the OS drops it even
        on SIGKILL), so that a second `--resume` of a run being trained is refused, not raced,
        and readers can tell a stale `running` from a live one."""
        if self._lock is not None:
            return
        try:
            fd = hold_lock(self.path / LOCK)  # None without flock (Windows): no protection
        except BlockingIOError:
            raise NnbookError(f"{self.path} is being trained by another nnbook process right now; "
                              "wait for it to end (or stop it) before resuming") from None
        except OSError as e:
            raise NnbookError(f"cannot lock {self.path} ({e.strerror}); training writes into the run "
                              "directory, which must be writable") from None
        if fd is not None:
            self._lock = os.fdopen(fd, "rb")  # a file object: released even if this Run is dropped unclosed

    def unlock(self) -> None:
        """Let go of the lock, removing .lock (files.release_lock): a run nobody trains has none."""
        if self._lock is not None:
            release_lock(self._lock, self.path / LOCK)
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
    """A run's summary.json as a reader should see it: `running` while no process holds the
    run's lock reads as `stopped`. A path that is no run is a usage mistake (exit 2)."""
    summary = _read_summary_file(path)
    if summary.status == RUNNING and not is_held(Path(path) / LOCK):
        summary = _read_summary_file(path)  # its trainer may have finished it since, and let go of the lock
        if summary.status == RUNNING:
            summary = replace(summary, status=STOPPED)
    return summary


def _read_summary_file(path: Path) -> Summary:
    """summary.json as written."""
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


def read_metrics(path: Path) -> list[EpochRecord]:
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
                rows.append(EpochRecord.from_json(data))
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


def predictions_file(last: bool = False, split: str = "test") -> str:
    """test_predictions[_last].npy, written by training; validation_predictions[_last].npy, by analysis/predictions.py."""
    return f"{split}_predictions{'_last' if last else ''}.npy"


def has_predictions(path: Path, last: bool = False, split: str = "test") -> bool:
    return (Path(path) / predictions_file(last, split)).exists()


def load_predictions(path: Path, last: bool = False, split: str = "test"):
    """The (N, 10) probabilities of the best-validation model, or (`last`) of the network after its
    last epoch, on a split (the test split's 10000 by default): a numpy array (np.load refuses
    pickled objects)."""
    import numpy as np

    return np.load(Path(path) / predictions_file(last, split), allow_pickle=False)
