"""The results table: runs grouped by experiment, next to the book's figures.

`collect(paths)` reads run directories (and ensemble directories, and folders
holding either) into one row per experiment: runs of one config name and one identity
(config/identity.py: the resolved config less seed, repeats, device and name), labelled
`NAME @key=value,...` where they differ from the shipped config of that name or from the
other experiments under it (config/labels.py). Each row sets beside the book's
figure the statistic the book quotes, computed from the runs (book_statistics.py:
the peak test accuracy over the epochs, the final validation accuracy, or the test
accuracy at the best validation epoch of the best run), with its mean ± std, range
and difference; and nnbook's own clean figure, the test accuracy at the best
validation epoch (the best-validation run's, and mean ± std over the runs), and
seconds per epoch. A row scaled down from the shipped config (another train_limit or
data, fewer epochs) is not the book's protocol: it gets no difference, and its note says so.
`render` prints the rows as a table that fits the terminal (nnbook/tables.py), markdown
or CSV (accuracies in percent, rounded as shown). Reads runs only through runs/
(ensembles through ensemble.py); never trains.
"""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from rich.console import Console

from nnbook.analysis.book_statistics import Comparison, compare
from nnbook.analysis.ensemble import ENSEMBLE_FILE, read_ensemble
from nnbook.analysis.experiments import experiment_of_each
from nnbook.book import ENSEMBLE_VOTE, FIGURES, STATISTICS
from nnbook.choices import Choice
from nnbook.config.labels import Experiment
from nnbook.errors import ConfigError
from nnbook.records import FINISHED
from nnbook.runs import directory as runs
from nnbook.runs import layout
from nnbook.stacks import seeds_text
from nnbook.statistics import best_by_validation, has_result, results_of, spread, tied_with_best
from nnbook.tables import Column, fitted_table


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
    identity: str = ""  # the runs' identity key (config/identity.py); "" for a vote
    differences: list[str] = field(default_factory=list)  # key=value: how this experiment differs (labels.py)
    scaled_down: list[str] = field(default_factory=list)  # key=value: a reduced shipped protocol

    @property
    def label(self) -> str:
        """The name, and how this experiment differs: `ch6_shallow @eta=0.5`."""
        return self.name + (f" @{','.join(self.differences)}" if self.differences else "")

    @property
    def difference(self) -> Optional[float]:
        """Percentage points: ours, counted as the book counts its figure, minus the book's; none for
        a scaled-down run, which is not the book's protocol."""
        if self.book is None or self.comparison is None or self.comparison.as_counted is None or self.scaled_down:
            return None
        return 100 * self.comparison.as_counted - self.book

    @property
    def full_note(self) -> str:
        scaled = f"scaled down ({', '.join(self.scaled_down)}): not the book's protocol" if self.scaled_down else ""
        return "; ".join(n for n in (scaled, self.note) if n)


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


def votes_on_test(paths: list[Path]) -> list[Path]:
    """The ensembles among `paths` that voted on the test images (a vote on validation is for choosing,
    not a result)."""
    return [p for p in paths if (p / ENSEMBLE_FILE).exists() and read_ensemble(p).get("split", "test") == "test"]


def is_result(path: Path) -> bool:
    return runs.is_run_dir(path) or (path / ENSEMBLE_FILE).exists()


def collect(paths: list[Path]) -> list[Row]:
    """One row per experiment (config name and identity) of the runs, one per ensemble; in the
    book's order, then by name and label."""
    results = expand_paths(paths)
    groups: dict[Experiment, list[Path]] = {}
    for path, experiment in experiment_of_each([p for p in results if runs.is_run_dir(p)]).items():
        groups.setdefault(experiment, []).append(path)
    rows = []
    for experiment, group in groups.items():
        row = run_row(experiment.name, group)
        row.identity, row.differences, row.scaled_down = experiment.key, experiment.differences, experiment.scaled_down
        rows.append(row)
    rows += [ensemble_row(record) for record in map(read_ensemble, votes_on_test(results))]
    order = {name: i for i, name in enumerate(FIGURES)}
    return sorted(rows, key=lambda r: (order.get(r.name, len(order)), r.name, r.label))


def run_row(name: str, paths: list[Path]) -> Row:
    """An experiment's row from its finished runs that have a result (statistics.has_result); the
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
    # A vote of several experiments (--mixed) is no experiment of the book's: no figure beside it.
    figure = None if record.get("experiments") else FIGURES.get(record["name"])
    note = (f"{record['method']} of {len(record['members'])} ({record.get('weights', 'best')} networks): "
            f"{record['n_errors']} errors" + "".join(f"; voted: {label}" for label in record.get("experiments", [])))
    vote = Comparison(ENSEMBLE_VOTE, [record["accuracy"]], record["accuracy"])
    return Row(record["name"], len(record["members"]), 0, "—", None, record["accuracy"], None, None, None,
               figure["figure"] if figure else None, note + (f"; book: {figure['note']}" if figure else ""),
               ENSEMBLE_VOTE, vote, differences=record.get("differences", []),
               scaled_down=record.get("scaled_down", []))


# ----------------------------------------------------------------------------- rendering

HEADER = ["config", "runs", "epochs", "book %", "the book's statistic", "ours, as the book counts",
          "ours: mean ± std", "range", "diff", "test at best val: best run", "mean ± std", "s/epoch", "note"]
# The terminal table: the text columns, which wrap at spaces and align left; and the best-run
# columns, which wrap too (they may say which seeds they chose among and what tied). The rest,
# numbers, stay whole.
TEXT = ("config", "runs", "the book's statistic", "note")
WRAPPED = TEXT + ("ours, as the book counts", "test at best val: best run")
# CSV: one unit per column, named in its header; values rounded as the table shows them.
CSV_HEADER = ["config", "differences", "scaled_down", "runs", "unfinished", "epochs", "best_validation_pct",
              "test_at_best_validation_pct", "test_mean_pct", "test_std_pct", "seconds_per_epoch", "book_pct",
              "book_statistic", "ours_as_counted_pct", "ours_mean_pct", "ours_std_pct", "ours_min_pct",
              "ours_max_pct", "difference_pct_points", "note"]


def _pct(x: Optional[float]) -> str:
    return "—" if x is None else f"{100 * x:.2f}"


def _spread(mean: Optional[float], std: Optional[float]) -> str:
    if mean is None:
        return "—"
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def _best(value: Optional[float], tied: tuple[float, ...], seeds: tuple[int, ...] = ()) -> str:
    """A best-by-validation figure, with the seeds it chose among (given where the row's two best
    figures choose among different runs) and the test accuracies of the runs that tie it on
    validation (the first by seed is taken)."""
    named = f"seed{'s' if len(seeds) > 1 else ''} {seeds_text(seeds)}"
    notes = ([named] if seeds else []) + (
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
    # The book's statistic counts the 3 lowest seeds, the best-run column every run: name both's seeds.
    apart = bool(c and c.seeds and sorted(c.seeds) != sorted(row.seeds))
    return [row.label, runs_text, row.epochs, "—" if row.book is None else f"{row.book:.2f}", statistic,
            _best(c.as_counted, c.tied, c.seeds if apart else ()) if c else "—",
            _spread(values.mean, values.std) if c else "—", stat_range,
            "—" if row.difference is None else f"{row.difference:+.2f}",
            _best(row.test_at_best, row.tied, row.seeds if apart else ()), _spread(row.test_mean, row.test_std),
            "—" if row.seconds_per_epoch is None else f"{row.seconds_per_epoch:.1f}", row.full_note]


def csv_values(row: Row) -> list:
    """The row's CSV fields (CSV_HEADER): percentages to 2 decimals, seconds to 1, as displayed."""
    def pct(x: Optional[float]) -> Optional[float]:
        return None if x is None else round(100 * x, 2)

    c = row.comparison or Comparison(row.statistic, [], None)
    values = c.spread
    return [row.name, ",".join(row.differences), ",".join(row.scaled_down), row.runs, row.unfinished, row.epochs,
            pct(row.best_validation), pct(row.test_at_best), pct(row.test_mean), pct(row.test_std),
            None if row.seconds_per_epoch is None else round(row.seconds_per_epoch, 1), row.book, row.statistic,
            pct(c.as_counted), pct(values.mean), pct(values.std), pct(values.low), pct(values.high),
            None if row.difference is None else round(row.difference, 2), row.full_note]


def render(rows: list[Row], fmt: Format | str = Format.table, width: Optional[int] = None) -> str:
    """The rows as text: a table `width` columns wide (default: the terminal's; 200 in a pipe or a
    file), markdown or CSV."""
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
        writer.writerow(CSV_HEADER)
        writer.writerows(csv_values(r) for r in rows)
        return buffer.getvalue()
    width = width or shutil.get_terminal_size((200, 24)).columns  # COLUMNS, the terminal, else 200
    # Its own header for nnbook's mean ± std, which a block per row shows apart from the other one.
    headers = [h if i != 10 else "test at best val: mean ± std" for i, h in enumerate(HEADER)]
    columns = [Column(h, wrap=HEADER[i] in WRAPPED, justify="left" if h in TEXT else "right")
               for i, h in enumerate(headers)]
    table = fitted_table(columns, [cells(r) for r in rows], width,
                         title="Against the book: the statistic it quotes, from these runs; and nnbook's test "
                         "accuracy at the best validation epoch")
    console = Console(file=io.StringIO(), width=width, highlight=False)
    console.print(table)
    return "".join(line.rstrip() + "\n" for line in console.file.getvalue().splitlines())
