"""What a run directory's summary holds: `Summary` (summary.json) and the environment
recorded with it. A line of metrics.jsonl is an `EpochRecord`, and the statuses a run goes
through are nnbook/records.py's, defined below the training loop that writes them.

A summary reads what any nnbook wrote: a key that is absent reads as its default, and a
key this version does not know is kept (`extra`) and written back as it was. Written, it
gives the JSON nnbook always wrote: the same keys in the same order.

directory.py reads and writes the files; this module only says what is in them.
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from typing import Any, Optional

from nnbook import __version__
from nnbook.provenance import processor_model, source_commit
from nnbook.records import JsonRecord

# Summary fields left out of summary.json while unset, as nnbook always wrote it.
_WHEN_SET = ("commit", "tree_clean", "group", "resumed_with_changes", "diverged_in_epoch", "error")


@dataclass
class Summary(JsonRecord):
    """summary.json: what the run is and where it stands; rewritten after every epoch."""

    status: Optional[str] = None  # one of nnbook/records.py's statuses
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
    hardware: Optional[str] = None  # the processor's model name; the GPU's name on a GPU
    threads: Optional[int] = None  # torch's CPU threads
    # The commit of nnbook that trained the run and whether its tracked files were unchanged
    # (nnbook/provenance.py); written only where nnbook ran from a git checkout of itself:
    commit: Optional[str] = None
    tree_clean: Optional[bool] = None
    # Written only once set (older runs have no group: they were trained alone):
    group: Optional[list[str]] = None  # the names of the runs trained together, in member order
    resumed_with_changes: Optional[list[str]] = None  # "key: old -> new", accepted with --force (or more epochs)
    diverged_in_epoch: Optional[int] = None
    error: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know

    def written(self, name: str) -> bool:
        return not (name in _WHEN_SET and getattr(self, name) is None)  # as nnbook always wrote it

    def text(self) -> str:
        """summary.json's text, as every writer writes it."""
        return json.dumps(self.to_json(), indent=2) + "\n"


def environment(device) -> dict:
    """Versions, hardware and provenance, recorded with every run: the Summary fields nnbook ...
    tree_clean."""
    import numpy
    import torch  # deferred: reading runs (report, ensemble) never needs torch

    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else processor_model()
    commit, clean = source_commit()
    return {"nnbook": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "device": str(device), "hardware": hardware,
            "threads": torch.get_num_threads(), "commit": commit, "tree_clean": clean}
