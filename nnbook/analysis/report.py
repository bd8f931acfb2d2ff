"""The results table: runs grouped by config, next to the book's figures.

`collect(paths)` reads run directories (and ensemble directories, and folders
holding either) into one row per config name: how many runs, their epochs,
the best validation accuracy, the test accuracy at the best validation epoch
as the book reports it (the run with the best validation accuracy) and as
mean ± standard deviation over the runs, seconds per epoch, and the book's
figure with the difference. `render` prints it as a rich table, markdown or
CSV. Reads runs only through runs/ (ensembles through ensemble.py); never trains.
"""

from __future__ import annotations

import csv
import io
import shutil
import statistics
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from nnbook.analysis.book import FIGURES
from nnbook.analysis.ensemble import ENSEMBLE_FILE, read_ensemble
from nnbook.errors import ConfigError
from nnbook.runs import directory as runs
from nnbook.runs.records import FINISHED, Summary


class Format(str, Enum):
    """How `render` writes the rows: a rich table for the terminal, markdown, or CSV."""

    table = "table"
    markdown = "markdown"
    csv = "csv"

    def __str__(self) -> str:  # as written on the command line
        return self.value


@dataclass
class Row:
    name: str
    runs: int
    unfinished: int
    epochs: str  # "60" or "38-60" (completed epochs)
    best_validation: Optional[float]  # fractions
    test_at_best: Optional[float]  # the book's figure of merit
    test_mean: Optional[float]
    test_std: Optional[float]
    seconds_per_epoch: Optional[float]
    book: Optional[float]  # percent
    note: str

    @property
    def difference(self) -> Optional[float]:
        """Percentage points: ours (best of runs) minus the book's."""
        if self.book is None or self.test_at_best is None:
            return None
        return 100 * self.test_at_best - self.book


def expand_paths(paths: list[Path]) -> list[Path]:
    """Run and ensemble directories as given; a folder of them becomes its children."""
    out = []
    for path in map(Path, paths):
        if runs.is_run_dir(path) or (path / ENSEMBLE_FILE).exists():
            out.append(path)
        elif path.is_dir():
            out.extend(p for p in sorted(path.iterdir()) if runs.is_run_dir(p) or (p / ENSEMBLE_FILE).exists())
        else:
            raise ConfigError(runs.no_such_path(path))
    return out


def collect(paths: list[Path]) -> list[Row]:
    groups: dict[str, list[Summary]] = {}
    ensembles: list[dict] = []
    for path in expand_paths(paths):
        if (path / ENSEMBLE_FILE).exists():
            ensembles.append(read_ensemble(path))
        else:
            summary = runs.read_summary(path)
            groups.setdefault(summary.name or path.name, []).append(summary)
    rows = [run_row(name, summaries) for name, summaries in groups.items()]
    rows += [ensemble_row(e) for e in ensembles]
    order = {name: i for i, name in enumerate(FIGURES)}
    return sorted(rows, key=lambda r: (order.get(r.name, len(order)), r.name))


def run_row(name: str, summaries: list[Summary]) -> Row:
    done = [s for s in summaries if s.status in FINISHED and s.test_accuracy is not None]
    epochs = sorted({s.epochs_completed for s in done})
    tests = [s.test_accuracy for s in done]
    top = max(done, key=lambda s: s.best_validation_accuracy) if done else None
    per_epoch = [s.seconds / s.epochs_completed for s in done if s.epochs_completed]
    figure = FIGURES.get(name)
    return Row(name, len(done), len(summaries) - len(done),
               "—" if not epochs else str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}",
               top.best_validation_accuracy if top else None, top.test_accuracy if top else None,
               statistics.fmean(tests) if tests else None, statistics.stdev(tests) if len(tests) > 1 else None,
               statistics.fmean(per_epoch) if per_epoch else None,
               figure["figure"] if figure else None, figure["note"] if figure else "")


def ensemble_row(record: dict) -> Row:
    figure = FIGURES.get(record["name"])
    note = f"{record['method']} of {len(record['members'])}: {record['n_errors']} errors"
    return Row(record["name"], len(record["members"]), 0, "—", None, record["accuracy"], None, None, None,
               figure["figure"] if figure else None, note + (f"; book: {figure['note']}" if figure else ""))


# ----------------------------------------------------------------------------- rendering

HEADER = ["config", "runs", "epochs", "best val %", "test % (best val run)", "test % mean ± std", "s/epoch",
          "book %", "diff", "note"]


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def cells(row: Row) -> list[str]:
    runs_text = str(row.runs) + (f" (+{row.unfinished} unfinished)" if row.unfinished else "")
    spread = "—" if row.test_mean is None else (
        f"{100 * row.test_mean:.2f}" + (f" ± {100 * row.test_std:.2f}" if row.test_std is not None else ""))
    return [row.name, runs_text, row.epochs, _pct(row.best_validation), _pct(row.test_at_best), spread,
            "—" if row.seconds_per_epoch is None else f"{row.seconds_per_epoch:.1f}",
            "—" if row.book is None else f"{row.book:.2f}",
            "—" if row.difference is None else f"{row.difference:+.2f}", row.note]


def render(rows: list[Row], fmt: Format | str = Format.table) -> str:
    try:
        fmt = Format(fmt)
    except ValueError:
        raise ConfigError(f"--format {fmt!r}: choose one of {', '.join(f.value for f in Format)}") from None
    if fmt is Format.markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in cells(r)) + " |" for r in rows]
        return "\n".join(lines) + "\n"
    if fmt is Format.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["config", "runs", "unfinished", "epochs", "best_validation", "test_at_best_validation",
                         "test_mean", "test_std", "seconds_per_epoch", "book", "difference", "note"])
        for r in rows:
            writer.writerow([r.name, r.runs, r.unfinished, r.epochs, r.best_validation, r.test_at_best, r.test_mean,
                             r.test_std, r.seconds_per_epoch, r.book,
                             None if r.difference is None else round(r.difference, 4), r.note])
        return buffer.getvalue()
    table = Table(title="Test accuracy at the best validation epoch, against the book", title_justify="left")
    for h in HEADER:
        table.add_column(h, justify="left" if h in ("config", "note") else "right")
    for r in rows:
        table.add_row(*cells(r))
    width = shutil.get_terminal_size((200, 24)).columns  # a pipe or a file gets room for every column
    console = Console(file=io.StringIO(), width=width, highlight=False)
    console.print(table)
    return console.file.getvalue()
