"""A run directory as bytes, to move it between machines (the Ray executor's copy-back).

A worker sends `run_files(path)`; the driver writes them with `write_run_files` into a
directory of its own runs directory that did not exist before: a received run never
lands in, or mixes with, a run that is there already. Names the files through
directory.py and writes them through nnbook/files.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nnbook.errors import NnbookError
from nnbook.files import atomic_write
from nnbook.runs.directory import SUMMARY, fresh_dir

SUFFIXES = 10_000  # `<name>`, then `<name>-r1` ... `<name>-r9999`


def run_files(path: Path) -> dict[str, bytes]:
    """A run directory's files as bytes: every whole file, none of the dot-files
    (half-written temporaries, the lock)."""
    return {f.name: f.read_bytes() for f in sorted(Path(path).iterdir())
            if f.is_file() and not f.name.startswith(".")}


def write_run_files(runs_dir: Path, name: str, files: dict[str, bytes]) -> Path:
    """Write a run received as `run_files` into a new directory under `runs_dir`
    (`<name>`, else the first free `<name>-rN`), summary.json last: until it is there the
    directory is not a run, so a crash while writing never leaves a run that looks
    finished; a failed write removes the new directory."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    path = fresh_dir(runs_dir, (name + (f"-r{n}" if n else "") for n in range(SUFFIXES)))
    if path is None:
        raise NnbookError(f"cannot copy the run {name} back: {runs_dir} has {name} and every -rN up to "
                          f"-r{SUFFIXES - 1} already; move some of them away and run the sweep again")
    try:
        for file_name in sorted(files, key=lambda f: f == SUMMARY):
            atomic_write(path / file_name, files[file_name])
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path
