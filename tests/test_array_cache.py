"""The shared, memory-mapped copy of a data file's arrays (nnbook/data/array_cache.py)."""

import gzip
import pickle
import subprocess
import sys

import numpy as np
import pytest

from nnbook.data import array_cache, book_format
from nnbook.data import mnist as data
from nnbook.data.book_format import SPLITS
from nnbook.errors import NnbookError


@pytest.fixture
def small(tmp_path, mnist):
    """A 60/30/30-image file in the book's format, and the cache directory it is read through."""
    path = tmp_path / "small.pkl.gz"
    parts = [(s.x[:n], s.y[:n]) for s, n in zip((mnist.training, mnist.validation, mnist.test), (60, 30, 30))]
    with gzip.open(path, "wb") as f:
        pickle.dump(parts, f, protocol=2)
    return path, tmp_path / "cache"


def same(a, b) -> bool:
    return all(np.array_equal(getattr(a, n).x, getattr(b, n).x) and np.array_equal(getattr(a, n).y, getattr(b, n).y)
               for n in SPLITS) and a.test_sha256 == b.test_sha256


def entry_of(path, cache):
    return array_cache.arrays_dir(cache) / f"{array_cache.file_sha256(path)}-{array_cache.LAYOUT}"


def test_a_second_read_maps_the_arrays_the_first_one_wrote(small):
    path, cache = small
    direct = book_format.read_book_file(path)
    reads = []

    def read(p):
        reads.append(p)
        return book_format.read_book_file(p)

    first = array_cache.load(path, cache, read)
    second = array_cache.load(path, cache, read)
    assert reads == [path]  # the pickle is read once; the second load maps the cache
    assert same(first, direct) and same(second, direct)
    x = second.training.x
    assert type(x) is np.ndarray and isinstance(x.base, np.memmap)  # a plain array over the mapping
    assert x.flags.writeable and second.source == str(path)
    x[0, 0] = 0.5  # copy-on-write: this process's page changes, the file does not
    assert same(array_cache.load(path, cache, read), direct)
    assert b"memmap" not in pickle.dumps(second.test.x[:2], protocol=2)  # the book's format reads it back


def test_loading_through_nnbook_uses_the_cache(small, monkeypatch):
    path, cache = small
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    loaded = data.load_file(path)
    assert entry_of(path, cache / "nnbook").is_dir() and isinstance(loaded.training.x.base, np.memmap)
    entries, size = array_cache.usage(cache / "nnbook")  # what `nnbook data` reports
    assert entries == 1 and size == sum(f.stat().st_size for f in entry_of(path, cache / "nnbook").iterdir())
    assert size > 120 * 784 * 4


@pytest.mark.parametrize("damage", ["truncated", "pickled objects", "wrong shape", "missing"])
def test_a_damaged_entry_is_made_again(small, damage):
    path, cache = small
    expected = book_format.read_book_file(path)
    array_cache.load(path, cache, book_format.read_book_file)  # made, and no longer mapped here: damaging a
    entry = entry_of(path, cache)                               # mapped file in place would crash its reader
    victim = entry / "training_x.npy"
    if damage == "truncated":
        victim.write_bytes(victim.read_bytes()[:500])
    elif damage == "pickled objects":  # np.load(allow_pickle=False) refuses it; nothing in it runs
        np.save(victim, np.array([{"a": 1}] * 60, dtype=object), allow_pickle=True)
    elif damage == "wrong shape":
        np.save(victim, np.zeros((60, 783), np.float32))
    else:
        victim.unlink()
    assert array_cache.open_entry(entry, str(path)) is None
    again = array_cache.load(path, cache, book_format.read_book_file)
    assert same(again, expected) and array_cache.open_entry(entry, str(path)) is not None


def test_a_rewritten_file_replaces_its_entry_and_leaves_other_files_entries(small, mnist):
    """`nnbook expand-mnist --force` rewrites a file in place: the arrays of its old contents are deleted
    when the new ones are written (a process that has them mapped keeps reading), another file's stay."""
    path, cache = small
    other = path.with_name("other.pkl.gz")
    other.write_bytes(path.read_bytes())
    with gzip.open(other, "rb") as f:  # another file's entry: different contents at another path
        parts = pickle.load(f)
    with gzip.open(other, "wb") as f:
        pickle.dump([(x[:50], y[:50]) for x, y in parts], f, protocol=2)
    array_cache.load(other, cache, book_format.read_book_file)
    old = array_cache.load(path, cache, book_format.read_book_file)
    old_entry, kept = entry_of(path, cache), old.training.x.copy()
    with gzip.open(path, "wb") as f:  # rewritten in place: 40 training images instead of 60
        pickle.dump([(mnist.training.x[:40], mnist.training.y[:40]), (mnist.validation.x[:30], mnist.validation.y[:30]),
                     (mnist.test.x[:30], mnist.test.y[:30])], f, protocol=2)
    new = array_cache.load(path, cache, book_format.read_book_file)
    assert len(new.training.x) == 40 and isinstance(new.training.x.base, np.memmap)
    assert not old_entry.exists() and np.array_equal(old.training.x, kept)  # the mapping outlives the entry
    entries = sorted(p.name for p in array_cache.arrays_dir(cache).iterdir() if not p.name.startswith("."))
    assert entries == sorted([entry_of(path, cache).name, entry_of(other, cache).name])
    assert (entry_of(path, cache) / array_cache.SOURCE).read_text() == str(path.resolve())


def test_a_cache_that_cannot_be_written_leaves_the_arrays_in_the_process(small):
    path, cache = small
    cache.write_text("a file where the cache directory would be")
    loaded = array_cache.load(path, cache, book_format.read_book_file)
    assert same(loaded, book_format.read_book_file(path)) and not isinstance(loaded.training.x.base, np.memmap)


def test_processes_starting_together_write_the_entry_once(small):
    """Four processes read the file at once: one writes the entry under the lock, the others wait and
    map it; no temporary directory is left behind."""
    path, cache = small
    program = ("import sys; from pathlib import Path; from nnbook.data import array_cache, book_format\n"
               "reads = []\n"
               "def read(p):\n    reads.append(p); return book_format.read_book_file(p)\n"
               "d = array_cache.load(Path(sys.argv[1]), Path(sys.argv[2]), read)\n"
               "print(len(reads), int(d.training.y.sum()))\n")
    procs = [subprocess.Popen([sys.executable, "-c", program, str(path), str(cache)], stdout=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    labels = int(book_format.read_book_file(path).training.y.sum())
    assert sorted(int(reads) for reads, _ in outputs) == [0, 0, 0, 1]
    assert {int(total) for _, total in outputs} == {labels}
    assert [p.name for p in array_cache.arrays_dir(cache).iterdir() if not p.name.endswith(".lock")] == \
        [entry_of(path, cache).name]


def test_a_file_that_cannot_be_read_gets_the_readers_message(tmp_path):
    """No cache entry and no traceback: the reader's one-line error, as without the cache."""
    directory = tmp_path / "a directory.pkl.gz"
    directory.mkdir()
    with pytest.raises(NnbookError, match="not a data file in the book's format"):
        array_cache.load(directory, tmp_path / "cache", book_format.read_book_file)
    assert not (tmp_path / "cache").exists()
