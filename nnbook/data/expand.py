"""The book's expanded training set (`expand_mnist.py`) and its file format.

Every training image is kept and joined by four copies shifted one pixel
down, up, right and left; the row or column that moves in from the edge is
zeros (nothing wraps round). The 5 * 50,000 = 250,000 (image, label) pairs
are shuffled once, with a seed (the book's script used an unseeded
`random.shuffle`); validation and test are unchanged.

The file is written in the book's own format, byte for byte the structure
Python 2's cPickle gave `mnist.pkl.gz`: a gzip'd protocol-2 pickle of
`(training, validation, test)`, each `(x, y)` with x float32 (n, 784) and y
int64 (n,), the arrays pickled as `numpy.core.multiarray._reconstruct` with
their data as one Python-2 `str`. So the book's Python 2 programs, Python 3
readers using `encoding="latin1"`, numpy 1.x and 2.x all load it.

Memory: the expanded images are never held whole. The pickle opcodes are
written by hand, so the 784 MB of training pixels stream into gzip in
chunks of shifted images: peak memory is the source data set plus one chunk.

Owns expansion and writing; reading is book_format.py's, finding the files mnist.py's.
"""

from __future__ import annotations

import gzip
import struct
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import numpy as np

from nnbook.data.book_format import Dataset, Split
from nnbook.errors import NnbookError
from nnbook.files import atomic_output

SIDE = 28
# The order of the copies of one image, as in expand_mnist.py: the original,
# then np.roll by +1 / -1 along rows (down / up), then along columns (right / left).
SHIFTS = ("original", "down", "up", "right", "left")
COPIES = len(SHIFTS)
CHUNK = 10_000  # expanded images per write: 10,000 x 784 x 4 bytes = 31 MB
# zlib's default. gzip.open's (and the book's) level 9 took 78 s for 62.4 MB on 2 cores, level 6
# 17 s for 65.9 MB: 4.6x the time for a file 5% smaller.
GZIP_LEVEL = 6


class Expansion(NamedTuple):
    """Which expanded set is written: bundled, as the two decide the file's contents together."""

    seed: int = 0  # of the one shuffle of the 5n (image, label) pairs
    train_limit: Optional[int] = None  # expand only the first N training images (for tests and trials)


def shift(images: np.ndarray, kind: str) -> np.ndarray:
    """One-pixel shifts of (n, 784) images with zero fill: a new (n, 784) array."""
    if kind == "original":
        return images.copy()
    src = images.reshape(-1, SIDE, SIDE)
    out = np.zeros_like(src)
    if kind == "down":  # row r moves to r + 1; row 0 becomes zeros
        out[:, 1:, :] = src[:, :-1, :]
    elif kind == "up":
        out[:, :-1, :] = src[:, 1:, :]
    elif kind == "right":  # column c moves to c + 1; column 0 becomes zeros
        out[:, :, 1:] = src[:, :, :-1]
    elif kind == "left":
        out[:, :, :-1] = src[:, :, 1:]
    else:
        raise ValueError(f"unknown shift {kind!r}; one of {', '.join(SHIFTS)}")
    return out.reshape(len(images), SIDE * SIDE)


def expansion_order(n_images: int, seed: int) -> np.ndarray:
    """The shuffled order of the expanded pairs: entry i is the pair index
    p = COPIES * image + copy, i.e. image p // 5 shifted by SHIFTS[p % 5]."""
    return np.random.default_rng(seed).permutation(COPIES * n_images)


def expanded_chunks(training: Split, order: np.ndarray, chunk: int = CHUNK):
    """Yield the expanded images in `order`, `chunk` at a time: (m, 784) float32."""
    for lo in range(0, len(order), chunk):
        pairs = order[lo:lo + chunk]
        images, copies = pairs // COPIES, pairs % COPIES
        out = np.empty((len(pairs), SIDE * SIDE), dtype=np.float32)
        for c, kind in enumerate(SHIFTS):
            rows = np.flatnonzero(copies == c)
            out[rows] = shift(training.x[images[rows]], kind)
        yield out


def expand(dataset: Dataset, out: Path, expansion: Expansion = Expansion(),
           on_progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Write the expanded data set to `out` (atomically). Returns the number of
    expanded training images. `on_progress(done, total)` after every chunk."""
    n = min(expansion.train_limit or len(dataset.training), len(dataset.training))
    training = Split(dataset.training.x[:n], dataset.training.y[:n])
    order = expansion_order(n, expansion.seed)
    labels = training.y[order // COPIES]
    total = len(order)

    def write_training_images(f) -> None:
        done = 0
        for block in expanded_chunks(training, order):
            f.write(block.tobytes())
            done += len(block)
            if on_progress:
                on_progress(done, total)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp, gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL) as f:
        write_book_pickle(f, [
            ((total, SIDE * SIDE), np.float32, write_training_images), _array(labels),
            _array(dataset.validation.x), _array(dataset.validation.y),
            _array(dataset.test.x), _array(dataset.test.y)])
    return total


# ----------------------------------------------------------------------------- the book's pickle format
# Protocol-2 opcodes, as Python 2's cPickle wrote the book's mnist.pkl.gz.
PROTO, STOP, MARK, TUPLE, TUPLE1, TUPLE2, TUPLE3 = b"\x80\x02", b".", b"(", b"t", b"\x85", b"\x86", b"\x87"
REDUCE, BUILD, NONE, NEWFALSE = b"R", b"b", b"N", b"\x89"


def _array(a: np.ndarray):
    a = np.ascontiguousarray(a)
    return a.shape, a.dtype, lambda f: f.write(memoryview(a).cast("B"))


def write_book_pickle(f, arrays: list) -> None:
    """Pickle `((x0, y0), (x1, y1), (x2, y2))` into the binary file f.

    arrays: six (shape, dtype, write_data) triples, where write_data(f) writes
    exactly the C-ordered bytes of the array, so data can be streamed."""
    f.write(PROTO)
    for i in range(0, 6, 2):
        for shape, dtype, write_data in arrays[i:i + 2]:
            _write_array(f, shape, np.dtype(dtype), write_data)
        f.write(TUPLE2)
    f.write(TUPLE3 + STOP)


def _write_array(f, shape: tuple, dtype: np.dtype, write_data) -> None:
    # _reconstruct(ndarray, (0,), 'b') makes an empty array; BUILD then calls
    # its __setstate__((1, shape, dtype, is_fortran, data)).
    f.write(_global("numpy.core.multiarray", "_reconstruct") + _global("numpy", "ndarray")
            + _int(0) + TUPLE1 + _short_str(b"b") + TUPLE3 + REDUCE)
    f.write(MARK + _int(1) + _tuple([_int(s) for s in shape]))
    # dtype(str, align=0, copy=1) with state (version 3, byte order, ...) as numpy pickles it.
    f.write(_global("numpy", "dtype") + _short_str(dtype.str[1:].encode()) + _int(0) + _int(1) + TUPLE3 + REDUCE)
    order = b"|" if dtype.itemsize == 1 else b"<"
    f.write(MARK + _int(3) + _short_str(order) + NONE + NONE + NONE + _int(-1) + _int(-1) + _int(0) + TUPLE + BUILD)
    if dtype.byteorder == ">":
        raise ValueError("only little-endian arrays are written")
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes >= 2**31:
        raise ValueError(f"{nbytes:,} bytes: more than a Python 2 string can hold in this format")
    f.write(NEWFALSE + b"T" + struct.pack("<i", nbytes))  # BINSTRING: a Python 2 str of nbytes
    write_data(f)
    f.write(TUPLE + BUILD)


def _tuple(items: list[bytes]) -> bytes:
    if 1 <= len(items) <= 3:
        return b"".join(items) + (TUPLE1, TUPLE2, TUPLE3)[len(items) - 1]
    return MARK + b"".join(items) + TUPLE


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _short_str(s: bytes) -> bytes:
    return b"U" + bytes([len(s)]) + s


def _int(i: int) -> bytes:
    if 0 <= i < 256:
        return b"K" + bytes([i])
    if 0 <= i < 65536:
        return b"M" + struct.pack("<H", i)
    return b"J" + struct.pack("<i", i)


def make_expanded(target: Path, load_source: Callable[[], Dataset], source_name: str,
                  expansion: Expansion = Expansion(), force: bool = False, say: Callable[[str], None] = print) -> Path:
    """Reuse an existing `target` unless `force`, else build it from the data set `load_source()`
    returns (named `source_name` in messages), with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if target.is_dir():
        raise NnbookError(f"--out {target} is a directory; name a file, e.g. {target / 'mnist_expanded.pkl.gz'}")
    if target.exists() and not force:
        say(f"{target} already exists; reusing it (--force rebuilds it)")
        return target
    dataset = load_source()
    n = min(expansion.train_limit or len(dataset.training), len(dataset.training))
    say(f"expanding {n:,} training images of {source_name} into {COPIES * n:,} (original + 1-pixel shifts "
        f"down, up, right, left; shuffle seed {expansion.seed})")
    start = time.perf_counter()
    with Progress(TextColumn("writing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as bar:
        task = bar.add_task("expand", total=COPIES * n)
        try:
            expand(dataset, target, expansion, on_progress=lambda done, total: bar.update(task, completed=done))
        except OSError as e:
            raise NnbookError(f"could not write {target}: {e.strerror or e}") from None
    say(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - start:.0f} s")
    return target
