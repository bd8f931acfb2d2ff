"""Copying finished runs' records into a report, shared by the reports' collect scripts.

A report commits each run's records (config.yaml, summary.json, metrics.jsonl and, where a
vote must be recomputable, its predictions), never its weights. A run already there (the
same metrics.jsonl) is left as it is; a run whose directory name is taken by another run
there (two background lanes start runs of one name in the same second) is copied as
RUN-r1 (runs/transfer.py renames its summary's group with it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.records import DIVERGED, FINISHED  # noqa: E402
from nnbook.runs.directory import is_run_dir, read_summary  # noqa: E402
from nnbook.runs.records import Summary  # noqa: E402
from nnbook.runs.transfer import write_stack_files  # noqa: E402

RECORDS = ("config.yaml", "summary.json", "metrics.jsonl")


def finished_runs(source: Path) -> Iterable[tuple[Path, Summary]]:
    """The finished (or diverged) runs directly under `source`, with their summaries."""
    for run in sorted(Path(source).iterdir()):
        if is_run_dir(run):
            summary = read_summary(run)
            if summary.status in FINISHED or summary.status == DIVERGED:
                yield run, summary


def copy_records(run: Path, runs_dir: Path, names: Iterable[str]) -> Optional[Path]:
    """Copy the files `names` of `run` (those it has) into a new directory under `runs_dir`; None
    where the run is there already."""
    if copied(run, runs_dir):
        return None
    files = {name: (run / name).read_bytes() for name in names if (run / name).is_file()}
    (target,) = write_stack_files(runs_dir, {run.name: files})
    return target


def copied(run: Path, runs_dir: Path) -> bool:
    """Whether `run` is in `runs_dir` already: a run there of its name (or its -rN) with its metrics."""
    metrics = (run / "metrics.jsonl").read_bytes()
    return any((p / "metrics.jsonl").read_bytes() == metrics for p in Path(runs_dir).glob(f"{run.name}*")
               if (p / "metrics.jsonl").is_file())


def usage_error(argv: list[str], script: str) -> Optional[str]:
    """The one-line mistake in a collect script's arguments (RUNS_DIR...), if any."""
    missing = [a for a in argv if not Path(a).is_dir()]
    if not argv or missing:
        return (f"error: {missing[0] + ': no such folder' if missing else 'give the training runs directory'} "
                f"(usage: python {script} RUNS_DIR...)")
    return None
