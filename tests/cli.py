"""Running the real `nnbook` command line in tests, the two ways the suite needs.

`run_in_process` calls `nnbook.cli.run(argv)` inside the test process: the same
Typer app and the same mapping of errors to messages and exit codes as the
console entry, without a fresh interpreter importing torch and reading the data
for every call. `nnbook` runs `python -m nnbook` in a subprocess, for what only
a real process shows: the console entry itself, signals and kills, and what a
fresh interpreter imports or writes.

Fixtures (the in-process runner, the data slice) are conftest.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from nnbook.cli import run

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

# Python's default warning filters: what a user running `nnbook` would see on stderr.
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


@dataclass
class Result:
    """What a command did, in the shape of subprocess.CompletedProcess."""

    returncode: int
    stdout: str
    stderr: str


def nnbook(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m nnbook ARGS` in a subprocess, as a user would."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "nnbook", *map(str, args)], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_in_process(capsys, monkeypatch, *args, env=None, cwd=ROOT) -> Result:
    """Run `nnbook ARGS` in this process, from `cwd` with `env` added, as `nnbook` above would:
    what it printed to stdout and stderr (rich and Click write to sys.stdout and sys.stderr,
    which capsys holds), and the warnings Python would have shown on stderr. An exception
    that `run` lets through (a bug, not a user's mistake) fails the test with its traceback."""
    capsys.readouterr()  # what the test printed before is not the command's
    with monkeypatch.context() as patch, warnings.catch_warnings(record=True) as caught:
        patch.chdir(cwd)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        warnings.simplefilter("default")
        for category in HIDDEN_WARNINGS:
            warnings.simplefilter("ignore", category)
        code = run([str(a) for a in args])
    out, err = capsys.readouterr()
    err += "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)
    return Result(code, out, err)


def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in Path(runs_dir).iterdir() if p.is_dir())


def read_json(path: Path):
    return json.loads(Path(path).read_text())
