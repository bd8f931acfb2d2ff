"""What a run directory's records hold: `Summary` (summary.json), `MetricsRow` (one line
of metrics.jsonl), the statuses a run goes through, and the environment recorded with it.

Both records read what any nnbook wrote: a key that is absent reads as its default, and
a key this version does not know is kept (`extra`) and written back as it was. Written,
they give the JSON nnbook always wrote: the same keys in the same order. `MetricsRow`
has the fields of the training loop's `EpochRecord`, so the loop gives its records as
they are and this layer never needs the loop to describe a line.

directory.py reads and writes the files; this module only says what is in them.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass, field
from typing import Any, Optional

from nnbook import __version__

# A run's status; the training loop reports the last two of the first four itself.
RUNNING, COMPLETED, EARLY_STOPPED, DIVERGED = "running", "completed", "early_stopped", "diverged"
INTERRUPTED = "interrupted"  # by a signal: resumable (`nnbook train --resume`)
FAILED = "failed"  # by an error (a full disk, out of memory, ...), named in `error`; resumable once it is fixed
# Never written: how a reader sees a summary that says `running` while no process holds the
# run's lock, i.e. its process ended without writing why (killed, a power cut, a disk too full
# to take summary.json). Resumable like `interrupted` (directory.read_summary says it).
STOPPED = "stopped"
FINISHED = (COMPLETED, EARLY_STOPPED)  # a result that ensembles and reports use

# Summary fields left out of summary.json while unset, as nnbook always wrote it.
_WHEN_SET = ("group", "resumed_with_changes", "diverged_in_epoch", "error")


def _split(cls, data: dict) -> dict:
    """`data` as constructor arguments of the record `cls`: its known keys, the rest in `extra`."""
    known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return {**{k: v for k, v in data.items() if k in known},
            "extra": {k: v for k, v in data.items() if k not in known}}


@dataclass
class Summary:
    """summary.json: what the run is and where it stands; rewritten after every epoch."""

    status: Optional[str] = None  # one of the statuses above
    epochs_completed: int = 0
    best_validation_accuracy: Optional[float] = None  # a fraction; None before the first epoch
    best_epoch: Optional[int] = None  # 1-based
    test_accuracy: Optional[float] = None  # at the best validation epoch: the book's figure of merit
    seconds: float = 0.0  # wall time of the completed epochs, evaluation included
    name: Optional[str] = None  # the config's name (a sweep point's is `<name>@<key>=<value>`)
    seed: Optional[int] = None
    data: Optional[str] = None  # the data file trained on
    test_sha256: Optional[str] = None  # the fingerprint of its test images
    # Versions and hardware, as environment() gives them:
    nnbook: Optional[str] = None
    torch: Optional[str] = None
    numpy: Optional[str] = None
    python: Optional[str] = None
    device: Optional[str] = None  # "cpu", "cuda:0", ...
    hardware: Optional[str] = None
    threads: Optional[int] = None  # torch's CPU threads
    # Written only once set (older runs have no group: they were trained alone):
    group: Optional[list[str]] = None  # the names of the runs trained together, in member order
    resumed_with_changes: Optional[list[str]] = None  # "key: old -> new", accepted with --force
    diverged_in_epoch: Optional[int] = None
    error: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    @classmethod
    def from_json(cls, data: dict) -> "Summary":
        return cls(**_split(cls, data))

    def to_json(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and not (f.name in _WHEN_SET and value is None):
                out[f.name] = value
        return {**out, **self.extra}


@dataclass
class MetricsRow:
    """One member's epoch: one line of metrics.jsonl (the loop's `EpochRecord`)."""

    epoch: int  # 1-based
    train_cost: Optional[float] = None  # mean mini-batch cost over the epoch, L2 term excluded
    validation_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None  # only at a new best validation accuracy
    eta: Optional[float] = None
    seconds: float = 0.0
    train_accuracy: Optional[float] = None  # the diagnostics of `monitor`, null unless asked for
    train_eval_cost: Optional[float] = None
    test_accuracy_each_epoch: Optional[float] = None  # monitor.test: this epoch's test accuracy
    bias_gradient_norms: Optional[list[float]] = None  # ||dC/db|| per layer, output layer excluded
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Any) -> "MetricsRow":
        """The row of a record: a dataclass with these fields (the loop's) or a dict."""
        return cls.from_json(record if isinstance(record, dict) else dataclasses.asdict(record))

    @classmethod
    def from_json(cls, data: dict) -> "MetricsRow":
        return cls(**_split(cls, data))

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return {**out, **self.extra}


def environment(device) -> dict:
    """Versions and hardware, recorded with every run: the Summary fields nnbook ... threads."""
    import numpy
    import torch  # deferred: reading runs (report, ensemble) never needs torch

    hardware = platform.processor() or platform.machine()
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    return {"nnbook": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "device": str(device), "hardware": hardware,
            "threads": torch.get_num_threads()}
