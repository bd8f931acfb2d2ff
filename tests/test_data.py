"""Finding and verifying the book's data file."""

import gzip
import pickle

import numpy as np
import pytest

from nnbook.data import mnist as data
from nnbook.errors import ConfigError, NnbookError


def test_the_real_file_matches_the_book(mnist):
    assert (len(mnist.training), len(mnist.validation), len(mnist.test)) == (50_000, 10_000, 10_000)
    assert mnist.training.x.dtype == np.float32 and mnist.training.x.shape == (50_000, 784)
    assert list(mnist.training.y[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(mnist.test.y[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert 0.0 <= mnist.training.x.min() and mnist.training.x.max() < 1.0


def test_data_dir_is_searched_first_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    good = data.find_mnist()
    assert good.exists()
    truncated = tmp_path / "mine" / data.MNIST_FILE
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(NnbookError, match="truncated"):
        data.find_mnist(truncated.parent)
    monkeypatch.setenv("NNBOOK_DATA", str(truncated.parent))
    with pytest.raises(NnbookError, match="expected 17,051,982"):
        data.find_mnist()


def test_a_wrong_file_of_the_right_size_fails_its_checksum(tmp_path):
    fake = tmp_path / data.MNIST_FILE
    fake.write_bytes(b"\0" * data.MNIST_BYTES)
    with pytest.raises(NnbookError, match="sha256"):
        data.verify_mnist(fake)


def test_files_that_are_not_data_get_a_clear_message(tmp_path):
    text = tmp_path / "notes.pkl.gz"
    text.write_text("hello")
    with pytest.raises(NnbookError, match="not a data file in the book's format"):
        data.load_file(text)
    wrong = tmp_path / "wrong.pkl.gz"
    with gzip.open(wrong, "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(NnbookError, match="not a data file"):
        data.load_file(wrong)
    with pytest.raises(ConfigError, match="not mnist, mnist_expanded or an existing file"):
        data.resolve_data_path(str(tmp_path / "missing.pkl.gz"))


def test_a_copy_in_the_books_format_loads(tmp_path, mnist):
    small = tmp_path / "small.pkl.gz"
    parts = [(s.x[:50], s.y[:50]) for s in (mnist.training, mnist.validation, mnist.test)]
    with gzip.open(small, "wb") as f:
        pickle.dump(parts, f)
    loaded = data.load_file(small)
    assert len(loaded.training) == 50 and np.array_equal(loaded.test.y, mnist.test.y[:50])
