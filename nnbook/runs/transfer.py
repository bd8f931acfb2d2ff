"""Run directories as bytes, to move them between machines (the Ray placement's shipping).

A node sends a stack's runs as `{name: run_files(path)}`. The driver writes them
back one of two ways:
  - `write_stack_files`: runs trained on the node, into directories of its own runs
    directory that did not exist before, all under one suffix so that the stack's
    members still name each other (summary.json's `group`): a received run never
    lands in, or mixes with, a run that is there already, and an interrupted stack
    stays resumable whole.
  - `write_back`: a stopped stack that was shipped out to be resumed, into the very
    directories it came from (their locks held by the driver), in an order that leaves
    every member a common checkpoint whenever the copy is cut short.
Names the files through directory.py and writes them through nnbook/files.py.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from nnbook.errors import NnbookError
from nnbook.files import atomic_write
from nnbook.runs.directory import CHECKPOINT, PREVIOUS_CHECKPOINT, SUMMARY
from nnbook.runs.records import Summary

SUFFIXES = 10_000  # `<name>`, then `<name>-r1` ... `<name>-r9999`

RunFiles = dict[str, bytes]  # a run directory's files by name


def run_files(path: Path) -> RunFiles:
    """A run directory's files as bytes: every whole file, none of the dot-files
    (half-written temporaries, the lock)."""
    return {f.name: f.read_bytes() for f in sorted(Path(path).iterdir())
            if f.is_file() and not f.name.startswith(".")}


def write_stack_files(runs_dir: Path, runs: dict[str, RunFiles]) -> list[Path]:
    """Write a stack's runs received as `run_files` into new directories under `runs_dir`: under
    their own names where every one is free, else all under `<name>-rN` with the first N free for
    every one (their summaries' `group` renamed to match). Each run's summary.json comes last: until
    it is there the directory is not a run, so a crash while writing never leaves a run that looks
    finished; a failed write removes the new directories."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    paths = fresh_dirs(runs_dir, list(runs))
    renamed = {old: path.name for old, path in zip(runs, paths)}
    try:
        for (old, files), path in zip(runs.items(), paths):
            for file_name in sorted(files, key=lambda f: f == SUMMARY):
                data = files[file_name]
                if file_name == SUMMARY and path.name != old:
                    data = renamed_group(data, renamed)
                atomic_write(path / file_name, data)
    except BaseException:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return paths


def fresh_dirs(runs_dir: Path, names: list[str]) -> list[Path]:
    """Make `names` under `runs_dir`, all with the first suffix ("", "-r1", ...) free for every one."""
    for n in range(SUFFIXES):
        made: list[Path] = []
        try:
            for name in names:
                path = runs_dir / (name + (f"-r{n}" if n else ""))
                path.mkdir()  # the lock: two processes never get the same one
                made.append(path)
            return made
        except FileExistsError:
            for path in made:
                path.rmdir()
    raise NnbookError(f"cannot copy the runs {', '.join(names)} back: {runs_dir} has them and every -rN up to "
                      f"-r{SUFFIXES - 1} already; move some of them away and run the command again")


def renamed_group(summary: bytes, renamed: dict[str, str]) -> bytes:
    """A summary.json whose `group` names the members' new directories."""
    old = Summary.from_json(json.loads(summary))
    group = [renamed.get(name, name) for name in old.group] if old.group else None
    return replace(old, group=group).text().encode()


def write_back(runs_dir: Path, runs: dict[str, RunFiles]) -> list[Path]:
    """Replace the files of the existing runs `runs` (a stack shipped out and resumed elsewhere) by
    the received ones, each file atomically: first every member's previous checkpoint, then every
    member's checkpoint, then the rest, each summary.json last. Cut short anywhere, the members still
    share a checkpoint epoch (the old one, or the new one's previous), from which a resume repairs
    metrics.jsonl and summary.json (experiments/resume.py)."""
    paths = [Path(runs_dir) / name for name in runs]
    for phase in (PREVIOUS_CHECKPOINT, CHECKPOINT, None, SUMMARY):
        for path, files in zip(paths, runs.values()):
            for file_name, data in files.items():
                is_named = file_name == phase if phase else file_name not in (PREVIOUS_CHECKPOINT, CHECKPOINT,
                                                                              SUMMARY)
                if is_named:
                    atomic_write(path / file_name, data)
    return paths
