"""Finding and verifying the book's data file."""

import gzip
import io
import os
import pickle
import stat

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


class FakeResponse(io.BytesIO):
    """What urlopen gives: the bytes, and the length the server announces."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.headers = {"Content-Length": str(len(data))}


@pytest.mark.parametrize("served", ["the book's file", "a truncated one"])
def test_a_download_lands_whole_readable_as_any_file_or_not_at_all(tmp_path, monkeypatch, served):
    good = data.find_mnist().read_bytes()
    body = good if served == "the book's file" else good[:1000]
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    target = tmp_path / "cache" / data.MNIST_FILE
    before = os.umask(0o027)
    try:
        if served == "the book's file":
            assert data.download_mnist(target) == target
        else:
            with pytest.raises(NnbookError, match="truncated"):
                data.download_mnist(target)
    finally:
        os.umask(before)
    if served == "the book's file":
        assert target.read_bytes() == good and stat.S_IMODE(target.stat().st_mode) == 0o640
        assert [p.name for p in target.parent.iterdir()] == [data.MNIST_FILE]
    else:
        assert list(target.parent.iterdir()) == []  # no temporary file left beside it
