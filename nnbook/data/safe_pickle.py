"""Reading the book's data files without running anything they contain.

A pickle can name any importable callable and have it called: unpickling a
crafted `.pkl.gz` runs its author's code. The book's files (`mnist.pkl.gz`,
`expand_mnist.py`'s output, nnbook's expanded file) hold only tuples, lists,
numpy arrays, dtypes and numpy scalars, so `load` resolves only the few globals
that rebuild those — under the module names numpy 1 (`numpy.core`) and numpy 2
(`numpy._core`) write — and refuses every other one before it is looked up.
"""

from __future__ import annotations

import pickle
from typing import BinaryIO

# (module, name) -> where to find it now. The byte-string decoder is what Python 3
# writes for the bytes inside an ndarray's state at protocols 0-2.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class RefusedContent(pickle.UnpicklingError):
    """The file asks for something the book's files never hold."""


def refuse_unknown(module: str, name: str) -> None:
    """RefusedContent unless (module, name) is one of the globals the book's files name."""
    if (module, name) not in ALLOWED:
        raise RefusedContent(f"it asks to load {module}.{name}, which no data file in the book's format "
                             "holds (refused, nothing was run)")


class BookUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        refuse_unknown(module, name)
        if module == "_codecs":
            return latin1_bytes
        import numpy as np

        if module == "numpy":
            return numeric_dtype if name == "dtype" else np.ndarray
        try:  # numpy 2: numpy.core is only a deprecated alias of numpy._core
            from numpy._core import multiarray
        except ImportError:  # numpy 1
            from numpy.core import multiarray
        return getattr(multiarray, name)


def latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as Python 3 pickles bytes at protocols 0-2: always latin1. Any other
    codec (codecs can be looked up, and so imported, by name) is refused."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise RefusedContent(f"it asks to decode bytes with the codec {encoding!r}, not latin1 (refused)")
    return text.encode("latin1")


def numeric_dtype(spec, *args):
    """numpy.dtype for the book's arrays: numbers only. An object dtype would let the file's own
    objects into the arrays, which no data file in the book's format holds."""
    import numpy as np

    dtype = np.dtype(spec, *args)
    if dtype.hasobject:
        raise RefusedContent("it asks for an array of Python objects (dtype object), not numbers (refused)")
    return dtype


def load(f: BinaryIO):
    """Unpickle a Python-2-era file (latin1 strings) with only the globals above."""
    return BookUnpickler(f, encoding="latin1").load()
