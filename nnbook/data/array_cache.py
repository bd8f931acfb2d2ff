"""One copy of a data file's images in memory, however many processes train on it.

Reading a file in the book's format unpickles every image into the reading
process: the expanded set is 0.8 GB of float32 pixels, and its reading peaks at
about twice that, in every worker. So the first read also writes the splits as
plain `.npy` arrays under the user cache directory, keyed by the file's sha256,
and every read after maps those arrays copy-on-write: the pages are the
operating system's file cache, shared by every process that maps them (a page
written to becomes that process's own; the file never changes), and a worker's
start-up reads nothing but the hash.

    ~/.cache/nnbook/arrays/<sha256 of the data file>-v1/
        training_x.npy  training_y.npy  validation_x.npy  ...   float32 (n, 784) / int64 (n,)
        source.txt      the data file's absolute path, when the entry was made

An entry is written whole into a temporary directory and renamed into place,
under a lock, so processes starting together make it once. It is read with
`allow_pickle=False` and its shapes and dtypes are checked; an entry that fails
(truncated, edited, an older layout) is made again. Where the cache cannot be
written (a read-only home, a full disk) the arrays stay in the reading process,
as without the cache. An entry made for a path replaces the entries made from
that path before (the file was rewritten, as `nnbook expand-mnist --force` does:
their arrays would otherwise stay on disk unused). The directory may be deleted
at any time (a process that has an entry mapped keeps reading it); an entry's
files must never be edited in place while nnbook runs, as for any memory-mapped
file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from nnbook.data.book_format import SPLITS, Dataset, Split, fingerprint
from nnbook.files import atomic_directory, wait_for_lock

LAYOUT = "v1"  # in the directory name: a later layout never reads an older entry
SOURCE = "source.txt"  # in an entry: the path it was made from (read only to find entries it replaces)


def arrays_dir(cache: Path) -> Path:
    return cache / "arrays"


def load(path: Path, cache: Path, read: Callable[[Path], Dataset], sha256: str | None = None) -> Dataset:
    """The dataset in `path` as arrays mapped (copy-on-write) from the cache, made from `read(path)` on first
    use; `read`'s own result where the cache cannot be written (or the file not read: `read` says why).
    sha256: the file's, when the caller has just checked it (not hashed twice)."""
    try:
        key = sha256 or file_sha256(path)
    except OSError:
        return read(path)
    entry = arrays_dir(cache) / f"{key}-{LAYOUT}"
    mapped = open_entry(entry, str(path))
    if mapped is not None:
        return mapped
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        lock = open(entry.parent / f".{entry.name}.lock", "a")
    except OSError:
        return read(path)
    with lock:
        wait_for_lock(lock)  # another process may be writing this entry: wait for it
        mapped = open_entry(entry, str(path))
        if mapped is not None:
            return mapped
        dataset = read(path)
        try:
            write_entry(entry, dataset, source_of(path))
        except OSError:
            return dataset
        remove_older_entries(entry, source_of(path))
    del dataset  # the mapped copy replaces the one read into this process
    mapped = open_entry(entry, str(path))
    if mapped is None:  # written a moment ago and already unreadable: nothing to share
        return read(path)
    return mapped


def usage(cache: Path) -> tuple[int, int]:
    """(entries, bytes) in the cache's arrays directory; an entry that cannot be read (or goes while
    it is read) is not counted."""
    entries, size = 0, 0
    for entry in arrays_dir(cache).glob(f"*-{LAYOUT}"):
        try:
            size += sum(f.stat().st_size for f in entry.iterdir() if f.is_file())
            entries += 1
        except OSError:
            continue
    return entries, size


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_of(path: Path) -> str:
    """The data file's absolute path, as an entry records it."""
    return os.path.realpath(path)


def remove_older_entries(entry: Path, source: str) -> None:
    """Delete the other entries made from `source`: the file there has changed since (a process that has
    one mapped keeps reading it; one made before entries recorded their source is left alone)."""
    for other in entry.parent.glob(f"*-{LAYOUT}"):
        try:
            made_from = (other / SOURCE).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if other != entry and made_from == source:
            shutil.rmtree(other, ignore_errors=True)


def write_entry(entry: Path, dataset: Dataset, source: str) -> None:
    """The splits as .npy files and the source's path, written into a temporary directory beside `entry`
    and renamed into place."""
    if entry.exists():  # broken (open_entry refused it): replaced whole
        shutil.rmtree(entry, ignore_errors=True)
    with atomic_directory(entry) as tmp:
        for name in SPLITS:
            split = getattr(dataset, name)
            np.save(tmp / f"{name}_x.npy", split.x, allow_pickle=False)
            np.save(tmp / f"{name}_y.npy", split.y, allow_pickle=False)
        (tmp / SOURCE).write_text(source, encoding="utf-8")


def open_entry(entry: Path, source: str) -> Dataset | None:
    """The entry's splits mapped copy-on-write, or None when it is missing or not what write_entry wrote."""
    if not entry.is_dir():
        return None
    try:
        splits = [Split(map_array(entry / f"{name}_x.npy", np.float32, 2),
                        map_array(entry / f"{name}_y.npy", np.int64, 1)) for name in SPLITS]
    except (OSError, ValueError):
        return None
    if any(s.x.shape[1] != 784 or len(s.y) != s.x.shape[0] for s in splits):
        return None
    training, validation, test = splits
    return Dataset(training, validation, test, source=source, test_sha256=fingerprint(test))


def map_array(path: Path, dtype, ndim: int) -> np.ndarray:
    a = np.load(path, mmap_mode="c", allow_pickle=False)
    if a.dtype != dtype or a.ndim != ndim or not a.flags.c_contiguous:
        raise ValueError(f"{path}: {a.dtype} {a.shape}")
    return np.asarray(a)  # a plain ndarray over the mapping: it pickles, slices and prints as one
