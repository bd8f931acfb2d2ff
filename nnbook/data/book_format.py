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
import io
import pickle
import pickletools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnbook.data import safe_pickle
from nnbook.errors import NnbookError

SPLITS = ("training", "validation", "test")
HEAD_BYTES = 1 << 20  # of a data file, what a dry run reads (decompressed): the book's 17 MB file is 200 MB


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
        raise not_book_format(path, e) from None
    try:
        training, validation, test = (_split(part, name) for part, name in zip(triple, SPLITS))
        if len(triple) != 3:
            raise ValueError(f"{len(triple)} parts instead of 3")
    except (ValueError, TypeError) as e:
        raise NnbookError(f"{path}: not a data file in the book's format: {e}") from None
    return Dataset(training, validation, test, source=str(path), test_sha256=fingerprint(test))


def not_book_format(path: Path, error: Exception) -> NnbookError:
    return NnbookError(f"{path}: not a data file in the book's format (a gzip'd pickle of "
                       f"(training, validation, test)): {type(error).__name__}: {error}")


def check_book_file(path: Path, sample: int = HEAD_BYTES) -> bool:
    """Check `path` as read_book_file would, raising its errors, without reading a large file
    whole (a dry run): a file whose pickle is within its first `sample` bytes is read
    whole; of a larger one only those bytes are read, which must decompress and begin a pickle
    that names nothing but what the book's files name. The rest of a large file (three splits
    of (n, 784) images and n labels) is checked when training reads it. Returns whether the
    file was read whole."""
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(sample)
    except (OSError, EOFError) as e:
        raise not_book_format(path, e) from None
    if len(head) < sample:  # the whole file: read it as training will
        read_book_file(path)
        return True
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(head)):
            if opcode.name == "GLOBAL":  # protocols 0-3; a later protocol's names are checked on reading
                safe_pickle.refuse_unknown(*arg.split(" ", 1))
    except safe_pickle.RefusedContent as e:
        raise NnbookError(f"{path}: not a data file in the book's format: {e}") from None
    except ValueError as e:  # an opcode that no pickle has, or the sample's end inside an array's bytes
        if "unknown" in str(e):
            raise not_book_format(path, pickle.UnpicklingError(str(e))) from None
    return False


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


