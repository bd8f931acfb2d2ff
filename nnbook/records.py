"""What one epoch of one run records (`EpochRecord`) and the statuses a run goes through:
defined once, below the training loop that writes them and the run directory that stores
them (a line of metrics.jsonl is an `EpochRecord`; summary.json's status is one of these).

A record (`JsonRecord`: this one, and runs/records.Summary) reads what any nnbook wrote: a
key that is absent reads as its default, and a key this version does not know is kept
(`extra`) and written back as it was. Written, it gives the JSON nnbook always wrote: the
same keys in the same order. No torch, no files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

# A run's status; the training loop reports the last two of the first four itself, per member.
RUNNING, COMPLETED, EARLY_STOPPED, DIVERGED = "running", "completed", "early_stopped", "diverged"
INTERRUPTED = "interrupted"  # by a signal: resumable (`nnbook train --resume`)
FAILED = "failed"  # by an error (a full disk, out of memory, ...), named in `error`; resumable once it is fixed
# Never written: how a reader sees a summary that says `running` while no process holds the
# run's lock, i.e. its process ended without writing why (killed, a power cut, a disk too full
# to take summary.json). Resumable like `interrupted` (runs/directory.read_summary says it).
STOPPED = "stopped"
FINISHED = (COMPLETED, EARLY_STOPPED)  # a result that ensembles and reports use
# Nothing left to train: finished, or diverged (a result too: that eta or lmbda is too large, and
# training it again would diverge again). A sweep and chapter 6 skip such runs; resume has nothing to do.
NOTHING_LEFT = FINISHED + (DIVERGED,)


R = TypeVar("R", bound="JsonRecord")


class JsonRecord:
    """A dataclass read from and written as a JSON object: keys it does not know go to its
    `extra` field and are written back as they were, after its own."""

    extra: dict[str, Any]

    @classmethod
    def from_json(cls: type[R], data: dict) -> R:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def written(self, name: str) -> bool:
        """Whether the field `name` is written (every one, unless a record says otherwise)."""
        return True

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "extra" and self.written(f.name)}
        return {**out, **self.extra}


@dataclass
class EpochRecord(JsonRecord):
    """One member's epoch: one line of metrics.jsonl."""

    epoch: int  # 1-based: epoch 1 is the first pass over the training data
    train_cost: Optional[float] = None  # mean mini-batch cost over the epoch, L2 term excluded
    validation_accuracy: Optional[float] = None
    test_accuracy: Optional[float] = None  # only at a new best validation accuracy
    eta: Optional[float] = None
    seconds: float = 0.0  # wall time of the epoch: training and evaluation, the diagnostics excluded
    # Diagnostics, null unless `monitor` asks for them:
    train_accuracy: Optional[float] = None  # on the training data (or its first training_sample images)
    train_eval_cost: Optional[float] = None  # the same images, evaluation mode, L2 term included
    test_accuracy_each_epoch: Optional[float] = None  # the test accuracy of this epoch's weights (monitor.test)
    bias_gradient_norms: Optional[list[float]] = None  # ||dC/db|| per layer, output layer excluded
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know
