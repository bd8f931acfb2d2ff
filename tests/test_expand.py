"""The expanded training set: the book's shifts on real images, its file format, the command.

The expansion itself runs on the session's slice of the real MNIST (conftest.mnist_slice);
`nnbook expand-mnist` runs in this process on the book's own file."""

import gzip
import pickle
import pickletools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nnbook.data import mnist as data
from nnbook.data import expand

from .cli import CONFIGS

N = 300  # real training images expanded in these tests (1,500 pairs)


def book_shifts(image: np.ndarray) -> list[np.ndarray]:
    """expand_mnist.py's four copies, written independently: np.roll, then zero the wrapped row/column."""
    img = image.reshape(28, 28)
    copies = []
    for d, axis, zero in ((1, 0, 0), (-1, 0, 27), (1, 1, 0), (-1, 1, 27)):
        moved = np.roll(img, d, axis)
        if axis == 0:
            moved[zero, :] = 0
        else:
            moved[:, zero] = 0
        copies.append(moved.reshape(784))
    return copies


@pytest.fixture(scope="module")
def source(mnist_slice):
    """Real images to expand: the slice's validation and test splits are what the expanded file carries over."""
    return data.load_file(mnist_slice)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, source):
    path = tmp_path_factory.mktemp("expanded") / "small.pkl.gz"
    assert expand.expand(source, path, expand.Expansion(seed=0, train_limit=N)) == 5 * N
    return path


def test_every_original_and_every_shift_is_present_once(small_file, source):
    got = data.load_file(small_file)
    assert got.training.x.shape == (5 * N, 784) and got.training.x.dtype == np.float32
    want = Counter()
    for x, y in zip(source.training.x[:N], source.training.y[:N]):
        want[(x.tobytes(), int(y))] += 1
        for copy in book_shifts(x):
            want[(copy.astype(np.float32).tobytes(), int(y))] += 1
    assert Counter((x.tobytes(), int(y)) for x, y in zip(got.training.x, got.training.y)) == want


def test_shifts_move_pixels_one_place_and_fill_with_zeros():
    image = np.arange(1, 785, dtype=np.float32).reshape(1, 784) / 1000  # every pixel distinct, none zero
    grid = image.reshape(28, 28)
    down, up, right, left = (expand.shift(image, k).reshape(28, 28) for k in ("down", "up", "right", "left"))
    assert (down[0] == 0).all() and (down[1:] == grid[:-1]).all()
    assert (up[27] == 0).all() and (up[:-1] == grid[1:]).all()
    assert (right[:, 0] == 0).all() and (right[:, 1:] == grid[:, :-1]).all()
    assert (left[:, 27] == 0).all() and (left[:, :-1] == grid[:, 1:]).all()
    assert np.array_equal(expand.shift(image, "original"), image)


def test_shuffled_once_seeded_and_validation_test_unchanged(small_file, source, tmp_path):
    got = data.load_file(small_file)
    # Not in the generating order (image 0 and its 4 shifts first).
    assert not np.array_equal(got.training.y[:5], np.repeat(source.training.y[0], 5))
    assert np.array_equal(got.validation.x, source.validation.x) and np.array_equal(got.test.y, source.test.y)
    assert got.test_sha256 == source.test_sha256
    again = tmp_path / "again.pkl.gz"
    expand.expand(source, again, expand.Expansion(seed=0, train_limit=N))
    assert np.array_equal(data.load_file(again).training.x, got.training.x)
    other = tmp_path / "other.pkl.gz"
    expand.expand(source, other, expand.Expansion(seed=1, train_limit=N))
    assert not np.array_equal(data.load_file(other).training.y, got.training.y)


def opcodes(path: Path, n: int) -> list:
    """The first n pickle opcodes (memo ops dropped, array sizes masked)."""
    with gzip.open(path, "rb") as f:
        head = f.read(400)
    ops = []
    for op, arg, _ in pickletools.genops(head):
        if op.name.endswith("PUT") or op.name.endswith("GET"):
            continue
        ops.append((op.name, arg if op.name in ("GLOBAL", "SHORT_BINSTRING") else None))
        if len(ops) == n:
            return ops


def test_file_has_the_books_pickle_structure(small_file):
    # The book's mnist.pkl.gz, written by Python 2's cPickle: our arrays are pickled the same way,
    # so Python 2 and numpy 1.x readers load them.
    ops = opcodes(small_file, 31)
    assert ops == opcodes(data.find_mnist(download=False), 31)
    assert ("GLOBAL", "numpy.core.multiarray _reconstruct") in ops
    with gzip.open(small_file, "rb") as f:
        as_bytes = pickle.load(f, encoding="bytes")  # Python 3 readers without latin1 work too
    assert as_bytes[0][0].shape == (5 * N, 784)


def test_loads_a_file_made_by_the_books_script(tmp_path, source):
    # expand_mnist.py pickles lists of per-image arrays and labels, not 2-D arrays.
    x, y = list(source.training.x[:20]), list(source.training.y[:20])
    path = tmp_path / "mnist_expanded.pkl.gz"
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(((x, y), (source.validation.x, source.validation.y), (source.test.x, source.test.y)), f,
                    protocol=2)
    got = data.load_file(path)
    assert np.array_equal(got.training.x, source.training.x[:20]) and got.training.y.dtype == np.int64


def test_command_writes_reuses_forces_and_trains_from_the_file(tmp_path, cli):
    out = tmp_path / "exp.pkl.gz"
    first = cli("expand-mnist", "--out", out, "--train-limit", 40)
    assert first.returncode == 0, first.stderr
    assert "200" in first.stdout and out.exists()
    stamp = out.stat().st_mtime_ns
    again = cli("expand-mnist", "--out", out, "--train-limit", 40)
    assert again.returncode == 0 and "reusing" in again.stdout and out.stat().st_mtime_ns == stamp
    forced = cli("expand-mnist", "--out", out, "--train-limit", 40, "--force", "--seed", "3")
    assert forced.returncode == 0 and "wrote" in forced.stdout and out.stat().st_mtime_ns != stamp
    trained = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={out}", "--set", "epochs=1",
                  "--runs-dir", tmp_path / "runs", "--quiet")
    assert trained.returncode == 0, trained.stderr
    (run,) = (tmp_path / "runs").iterdir()
    assert '"data": "' + str(out) in (run / "summary.json").read_text()


def test_default_location_is_found_by_data_mnist_expanded(tmp_path, cli):
    env = {"NNBOOK_DATA": str(tmp_path)}
    before = cli("data", env=env)
    assert before.returncode == 0 and "mnist_expanded.pkl.gz: not made yet" in before.stdout
    made = cli("expand-mnist", "--train-limit", 20, env=env)
    assert made.returncode == 0, made.stderr
    target = tmp_path / data.EXPANDED_FILE
    assert target.exists() and f"mnist_expanded.pkl.gz: {target}" in cli("data", env=env).stdout
    assert data.resolve_data_path("mnist_expanded", tmp_path) == target
    bad = cli("expand-mnist", "--out", tmp_path, env=env)
    assert bad.returncode == 1 and "is a directory" in bad.stderr
