"""Running the real `nnbook` command line in tests, the two ways the suite needs.

`run_in_process` calls `nnbook.cli.run(argv)` inside the test process: the same
Typer app and the same mapping of errors to messages and exit codes as the
console entry, without a fresh interpreter importing torch and reading the data
for every call (`run_captured` does the same for fixtures shared by several
tests, which cannot use pytest's per-test capture). `nnbook` runs `python -m
nnbook` in a subprocess, for what only a real process shows: the console entry
itself, signals and kills, and what a fresh interpreter imports or writes.

Fixtures (the in-process runner, the data slice) are conftest.py's.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import warnings
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

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


def default_signals() -> None:
    """A child's SIGINT and SIGTERM at their defaults, as a shell's foreground job has them, even
    where pytest inherited them ignored (a background job of a script, nohup): Popen's
    preexec_fn for the tests that signal the process they start."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_DFL)


def run_in_process(capsys, monkeypatch, *args, env=None, cwd=ROOT) -> Result:
    """Run `nnbook ARGS` in this process, from `cwd` with `env` added, as `nnbook` above would:
    what it printed to stdout and stderr (rich and Click write to sys.stdout and sys.stderr,
    which capsys holds), and the warnings Python would have shown on stderr. An exception
    that `run` lets through (a bug, not a user's mistake) fails the test with its traceback."""
    capsys.readouterr()  # what the test printed before is not the command's
    with monkeypatch.context() as patch:
        code, shown = _run(patch, args, env, cwd)
    out, err = capsys.readouterr()
    return Result(code, out, err + shown)


def run_captured(*args, env=None, cwd=ROOT) -> Result:
    """`run_in_process` for a fixture shared by several tests: sys.stdout and sys.stderr are
    redirected for the command instead of read from pytest's per-test capture."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, redirect_stdout(out), redirect_stderr(err):
        code, shown = _run(patch, args, env, cwd)
    return Result(code, out.getvalue(), err.getvalue() + shown)


def _run(patch, args, env, cwd) -> tuple[int, str]:
    """`nnbook.cli.run(ARGS)` from `cwd` with `env` added: its exit code and the warnings
    Python's default filters would have shown on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        patch.chdir(cwd)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        warnings.simplefilter("default")
        for category in HIDDEN_WARNINGS:
            warnings.simplefilter("ignore", category)
        code = run([str(a) for a in args])
    return code, "".join(warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught)


@contextmanager
def torch_threads(n: int):
    """Trainings in this process on `n` torch threads inside the block (as `--threads n` would
    make them), the number before restored after it."""
    import torch  # deferred: the CLI helpers above never need it

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_dirs(runs_dir: Path) -> list[Path]:
    return sorted(p for p in Path(runs_dir).iterdir() if p.is_dir())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def training_started(runs_dir: Path, n: int):
    """A predicate for pause.wait_until: n run directories in runs_dir, each with a metrics file
    (every worker is training)."""
    return lambda: runs_dir.is_dir() and len(run_dirs(runs_dir)) == n and all(
        (r / "metrics.jsonl").exists() for r in run_dirs(runs_dir))
