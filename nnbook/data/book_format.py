"""The book's data-file format, as nnbook holds it in memory: three splits of images and labels.

A file in the book's format is a gzip'd pickle of `(training, validation, test)`,
each `(x, y)` with `x` (n, 784) float32 in [0, 1) and `y` integer labels (an
array, or a list of numpy integers as the book's expand_mnist.py writes it).
Reading it runs nothing it contains (safe_pickle.py). Finding the book's files is
mnist.py's; writing the expanded one is expand.py's.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnbook.data import safe_pickle
from nnbook.errors import NnbookError

SPLITS = ("training", "validation", "test")


@dataclass
class Split:
    x: np.ndarray  # (n, 784) float32 in [0, 1)
    y: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    training: Split
    validation: Split
    test: Split
    source: str  # the file it came from
    test_sha256: str  # fingerprint of the test split: ensembles refuse to mix test sets


def read_book_file(path: Path) -> Dataset:
    """Read a file in the book's format; anything else is a one-line error, never a pickle crash
    and never code run (safe_pickle)."""
    try:
        with gzip.open(path, "rb") as f:
            triple = safe_pickle.load(f)
    except safe_pickle.RefusedContent as e:
        raise NnbookError(f"{path}: not a data file in the book's format: {e}") from None
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as e:
        raise NnbookError(f"{path}: not a data file in the book's format (a gzip'd pickle of "
                          f"(training, validation, test)): {type(e).__name__}: {e}") from None
    try:
        training, validation, test = (_split(part, name) for part, name in zip(triple, SPLITS))
        if len(triple) != 3:
            raise ValueError(f"{len(triple)} parts instead of 3")
    except (ValueError, TypeError) as e:
        raise NnbookError(f"{path}: not a data file in the book's format: {e}") from None
    return Dataset(training, validation, test, source=str(path), test_sha256=fingerprint(test))


def fingerprint(test: Split) -> str:
    """The test split's sha256: ensembles refuse to mix test sets."""
    return hashlib.sha256(test.x.tobytes() + test.y.tobytes()).hexdigest()


def _split(part, name: str) -> Split:
    x, y = part
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise ValueError(f"{name} split has images {x.shape} and labels {y.shape}; expected (n, 784) and (n,)")
    return Split(x, y)


