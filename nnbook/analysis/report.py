"""The results table: runs grouped by config, next to the book's figures.

`collect(paths)` reads run directories (and ensemble directories, and folders
holding either) into one row per config name. Each row sets beside the book's
figure the statistic the book quotes, computed from the runs (book_statistics.py:
the peak test accuracy over the epochs, the final validation accuracy, or the test
accuracy at the best validation epoch of the best run), with its mean ± std, range
and difference; and nnbook's own clean figure, the test accuracy at the best
validation epoch (the best-validation run's, and mean ± std over the runs), and
seconds per epoch. `render` prints it as a rich table, markdown or CSV. Reads runs
only through runs/ (ensembles through ensemble.py); never trains.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rich.console import Console
from rich.table import Table

from nnbook.analysis.book_statistics import Comparison, compare
from nnbook.analysis.ensemble import ENSEMBLE_FILE, read_ensemble
from nnbook.book import ENSEMBLE_VOTE, FIGURES, STATISTICS
from nnbook.choices import Choice
from nnbook.errors import ConfigError
from nnbook.records import FINISHED
from nnbook.runs import directory as runs
from nnbook.runs import layout
from nnbook.statistics import best_by_validation, has_result, results_of, spread, tied_with_best


class Format(Choice):
    """How `render` writes the rows: a rich table for the terminal, markdown, or CSV."""

    table = "table"
    markdown = "markdown"
    csv = "csv"


@dataclass
class Row:
    name: str
    runs: int
    unfinished: int
    epochs: str  # "60" or "38-60" (completed epochs)
    best_validation: Optional[float]  # fractions
    test_at_best: Optional[float]  # nnbook's figure: the best-validation run's test accuracy there
    test_mean: Optional[float]
    test_std: Optional[float]
    seconds_per_epoch: Optional[float]
    book: Optional[float]  # percent
    note: str
    statistic: str = ""  # which number the book's figure is (book.STATISTICS)
    comparison: Optional[Comparison] = None  # that statistic, from the runs
    seeds: tuple[int, ...] = ()  # of the finished runs: those the best-run column chooses among
    tied: tuple[float, ...] = ()  # test accuracies of runs whose validation ties the best run's

    @property
    def difference(self) -> Optional[float]:
        """Percentage points: ours, counted as the book counts its figure, minus the book's."""
        if self.book is None or self.comparison is None or self.comparison.as_counted is None:
            return None
        return 100 * self.comparison.as_counted - self.book


def expand_paths(paths: list[Path]) -> list[Path]:
    """Run and ensemble directories as given; a folder of them (a results root) becomes its run
    and ensemble directories, and those in its `ensembles/` folder. A file that is neither (a
    sweep's grid, in a `runs/*` glob) is passed over; a path that names nothing is an error."""
    out = []
    for path in map(Path, paths):
        if is_result(path):
            out.append(path)
        elif path.is_dir():
            for child in sorted(p for p in path.iterdir() if p.is_dir()):
                if is_result(child):
                    out.append(child)
                elif child.name == layout.ENSEMBLES:
                    out.extend(e for e in sorted(child.iterdir()) if (e / ENSEMBLE_FILE).exists())
        elif not path.exists():
            raise ConfigError(runs.no_such_path(path))
    return out


def is_result(path: Path) -> bool:
    return runs.is_run_dir(path) or (path / ENSEMBLE_FILE).exists()


def collect(paths: list[Path]) -> list[Row]:
    groups: dict[str, list[Path]] = {}
    ensembles: list[dict] = []
    for path in expand_paths(paths):
        if (path / ENSEMBLE_FILE).exists():
            ensembles.append(read_ensemble(path))
        else:
            groups.setdefault(runs.read_summary(path).name or path.name, []).append(path)
    rows = [run_row(name, paths) for name, paths in groups.items()]
    rows += [ensemble_row(e) for e in ensembles]
    order = {name: i for i, name in enumerate(FIGURES)}
    return sorted(rows, key=lambda r: (order.get(r.name, len(order)), r.name))


def run_row(name: str, paths: list[Path]) -> Row:
    """A config's row from its finished runs that have a result (statistics.has_result); the
    others count as unfinished."""
    summaries = {path: runs.read_summary(path) for path in paths}
    done = [p for p, s in summaries.items() if s.status in FINISHED and has_result(s)]
    finished = [summaries[p] for p in done]
    epochs = sorted({s.epochs_completed for s in finished})
    tests = spread(results_of(finished))
    top = best_by_validation(finished)
    per_epoch = spread([s.seconds / s.epochs_completed for s in finished if s.epochs_completed])
    figure = FIGURES.get(name) or {}
    statistic = figure.get("statistic", "")
    comparison = compare(statistic, [(summaries[p], runs.read_metrics(p)) for p in done]) if statistic else None
    return Row(name, len(done), len(summaries) - len(done),
               "—" if not epochs else str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}",
               top.best_validation_accuracy if top else None, top.test_accuracy if top else None,
               tests.mean, tests.std, per_epoch.mean, figure.get("figure"), figure.get("note", ""), statistic,
               comparison, tuple(sorted(s.seed for s in finished if s.seed is not None)),
               tuple(s.test_accuracy for s in tied_with_best(finished) if s.test_accuracy != top.test_accuracy)
               if top else ())


def ensemble_row(record: dict) -> Row:
    figure = FIGURES.get(record["name"])
    note = (f"{record['method']} of {len(record['members'])} ({record.get('weights', 'best')} networks): "
            f"{record['n_errors']} errors")
    vote = Comparison(ENSEMBLE_VOTE, [record["accuracy"]], record["accuracy"])
    return Row(record["name"], len(record["members"]), 0, "—", None, record["accuracy"], None, None, None,
               figure["figure"] if figure else None, note + (f"; book: {figure['note']}" if figure else ""),
               ENSEMBLE_VOTE, vote)


# ----------------------------------------------------------------------------- rendering

HEADER = ["config", "runs", "epochs", "book %", "the book's statistic", "ours, as the book counts",
          "ours: mean ± std", "range", "diff", "test at best val: best run", "mean ± std", "s/epoch", "note"]


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def _spread(mean: Optional[float], std: Optional[float]) -> str:
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _seeds(seeds) -> str:
    seeds = sorted(seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return f"seed{'s' if len(seeds) > 1 else ''} {','.join(map(str, seeds))}"


def _best(value: Optional[float], tied: tuple[float, ...], seeds, all_seeds) -> str:
    """A best-by-validation figure, with the seeds it chose among where that is not every run,
    and the test accuracies of the runs that tie it on validation (the first by seed is taken)."""
    notes = ([_seeds(seeds)] if seeds and tuple(sorted(seeds)) != tuple(sorted(all_seeds)) else []) + (
        [f"tie: {', '.join(_pct(t) for t in tied)}"] if tied else [])
    return _pct(value) + (f" ({'; '.join(notes)})" if notes and value is not None else "")


def cells(row: Row) -> list[str]:
    runs_text = str(row.runs) + (f" (+{row.unfinished} unfinished)" if row.unfinished else "")
    c = row.comparison
    statistic = STATISTICS.get(row.statistic, "")
    if c is not None and c.missing:
        statistic += f" — not in these runs: {c.missing}"
    values = c.spread if c else spread([])
    stat_range = "—" if values.low is None else (
        _pct(values.low) if values.n == 1 else f"{_pct(values.low)}–{_pct(values.high)}")
    return [row.name, runs_text, row.epochs, "—" if row.book is None else f"{row.book:.2f}", statistic,
            _best(c.as_counted, c.tied, c.seeds, row.seeds) if c else "—",
            _spread(values.mean, values.std) if c else "—", stat_range,
            "—" if row.difference is None else f"{row.difference:+.2f}",
            _best(row.test_at_best, row.tied, row.seeds if c and c.seeds and len(c.seeds) < len(row.seeds) else (),
                  ()), _spread(row.test_mean, row.test_std),
            "—" if row.seconds_per_epoch is None else f"{row.seconds_per_epoch:.1f}", row.note]


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
                         "test_mean", "test_std", "seconds_per_epoch", "book", "book_statistic", "ours_as_counted",
                         "ours_mean", "ours_std", "ours_min", "ours_max", "difference", "note"])
        for r in rows:
            c = r.comparison or Comparison(r.statistic, [], None)
            values = c.spread
            writer.writerow([r.name, r.runs, r.unfinished, r.epochs, r.best_validation, r.test_at_best, r.test_mean,
                             r.test_std, r.seconds_per_epoch, r.book, r.statistic, c.as_counted, values.mean,
                             values.std, values.low, values.high,
                             None if r.difference is None else round(r.difference, 4), r.note])
        return buffer.getvalue()
    table = Table(title="Against the book: the statistic it quotes, from these runs; and nnbook's test accuracy "
                  "at the best validation epoch", title_justify="left")
    for h in HEADER:
        table.add_column(h, justify="left" if h in ("config", "note", "the book's statistic") else "right")
    for r in rows:
        table.add_row(*cells(r))
    width = shutil.get_terminal_size((200, 24)).columns  # a pipe or a file gets room for every column
    console = Console(file=io.StringIO(), width=width, highlight=False)
    console.print(table)
    return console.file.getvalue()
