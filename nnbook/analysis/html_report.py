"""The offline report: one HTML page that holds everything it shows (`nnbook report DIR
--html FILE`, and chapter 6's reports/chapter6/index.html).

In order: the table against the book, report.py's rows and cells as they are (the same
statistics, and whatever flags report.py puts in a row, as `--format markdown`); each
row's validation accuracy per epoch, the mean of its runs and the band from the lowest to
the highest run (curves.py says why min-max); the votes (ensemble directories), each with
its members and its grid of misclassified digits; and the first conv layer's filters of
the runs that kept them (a saved network, or arrays the caller hands over).

Self-contained: every picture is a base64 PNG in a data URI and the style sits in the
page; no script, no font, nothing fetched, and the page's Content-Security-Policy forbids
the browser to fetch anything but those inline pictures. Deterministic: the same records
give the same bytes (no time stamps; plots.py's PNGs carry no version). Which runs make
which row is report.py's; this module only asks it (`rows_with_runs`). Never trains.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from nnbook.analysis.curves import epoch_band
from nnbook.analysis.ensemble import ERRORS_PNG, read_ensemble
from nnbook.analysis.plots import band_png, filters_png, first_conv_filters
from nnbook.analysis.report import HEADER, Row, cells, collect, expand_paths, votes_on_test
from nnbook.book import ENSEMBLE_VOTE
from nnbook.files import atomic_text
from nnbook.runs import directory as runs

# Allows the inline pictures and the inline style, nothing else: no script runs, nothing loads.
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 90em; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; } h3 { font-size: 1.05em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; vertical-align: top; }
th { background: #f2f2f2; text-align: left; }
td.number, td.figures { text-align: right; } td.figures { white-space: nowrap; } td.text { min-width: 9em; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { display: inline-block; margin: 0.5em 1em 1em 0; vertical-align: top; }
figcaption { font-size: 0.85em; color: #444; max-width: 40em; }
img { max-width: 100%; height: auto; }
.votes li, .errors { font-size: 0.9em; }
"""

# A cell that starts with a figure (or '—', none) is aligned right; one of figures alone is never wrapped.
NUMBER, FIGURES = re.compile(r"[-+−—–\d]"), re.compile(r"[\d.,+\-−—–± ]+")


@dataclass
class RowRuns:
    """A row of report.py's table and the run directories it counted (none for a vote's row)."""

    row: Row
    paths: list[Path]


def rows_with_runs(paths: list[Path]) -> list[RowRuns]:
    """report.py's rows of `paths`, each with the runs it counted. The one place this page
    reads report.py's grouping: a run's own row (report.py on that run alone) says which row
    it joins (`_row_key`) and whether it counts there (a finished run with a result)."""
    joined: dict[object, list[Path]] = {}
    for path in expand_paths(paths):
        if runs.is_run_dir(path):
            own = collect([path])[0]
            if own.runs:
                joined.setdefault(_row_key(own), []).append(path)
    return [RowRuns(row, [] if row.statistic == ENSEMBLE_VOTE else joined.get(_row_key(row), []))
            for row in collect(paths)]


def _row_key(row: Row) -> object:
    """What report.py groups runs by: a row's experiment (config name and identity)."""
    return row.name, row.identity


def page(paths: list[Path], title: str, filters: Optional[Mapping[str, np.ndarray]] = None) -> str:
    """The whole page for the runs and ensembles in `paths`. `filters`: run directory name ->
    its first conv layer's filters (F, kh, kw); None reads them from each run's saved network."""
    rows = rows_with_runs(paths)
    votes = votes_on_test(expand_paths(paths))
    body = [f"<h1>{escape(title)}</h1>", _summary(rows, votes), _table(rows), _curves(rows), _votes(votes),
            _filters(rows, filters)]
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            + "\n".join(part for part in body if part) + "\n</body>\n</html>\n")


def write_page(paths: list[Path], out: Path, title: str,
               filters: Optional[Mapping[str, np.ndarray]] = None) -> Path:
    """`page`, written to `out` at once (a reader never sees half a page)."""
    out = Path(out)
    atomic_text(out, page(paths, title, filters))
    return out


def _image(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _figure(png: bytes, alt: str, caption: str, anchor: str = "") -> str:
    anchor = f' id="{anchor}"' if anchor else ""
    return f"<figure{anchor}>{_image(png, alt)}<figcaption>{caption}</figcaption></figure>"


def _summary(rows: list[RowRuns], votes: list[Path]) -> str:
    n_runs = sum(len(r.paths) for r in rows)
    return (f"<p>{len(rows)} rows from {n_runs} finished runs and {len(votes)} votes. The table holds the "
            "numbers of <code>nnbook report --format markdown</code>: the book's figure, the statistic the "
            "book quotes computed from these runs as the book counts it, its mean ± std and range over the "
            "runs, the difference in percentage points, and nnbook's own figure, the test accuracy at the "
            "best validation epoch. A config's name links to its curves.</p>")


def _table(rows: list[RowRuns]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    lines = []
    for i, item in enumerate(rows):
        values = cells(item.row)
        tds = []
        for j, value in enumerate(values):
            text = escape(value)
            if j == 0 and item.paths:
                text = f'<a href="#curve-{i}">{text}</a>'
            kind = "figures" if FIGURES.fullmatch(value) else "number" if NUMBER.match(value) else "text"
            tds.append(f'<td class="{kind}">{text}</td>')
        lines.append("<tr>" + "".join(tds) + "</tr>")
    return ('<h2 id="table">Against the book</h2>\n<div class="scroll"><table id="results">\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody></table></div>")


def _curves(rows: list[RowRuns]) -> str:
    figures = []
    for i, item in enumerate(rows):
        if not item.paths:
            continue
        curves = [[(m.epoch, m.validation_accuracy) for m in runs.read_metrics(p)] for p in item.paths]
        band = epoch_band(curves)
        if not band.epochs:
            continue
        seeds = ", ".join(str(runs.read_summary(p).seed) for p in item.paths)
        name = item.row.label  # the experiment: `ch6_shallow @eta=0.5` where runs under one name differ
        caption = (f"<b>{escape(name)}</b>: the mean of {band.runs} runs (seeds {escape(seeds)}), a line, and the "
                   "band from the lowest to the highest run at each epoch")
        if min(band.n) != band.runs:
            caption += "; runs that stopped early leave the later epochs to those that went on"
        figures.append(_figure(band_png(band, f"{name}: validation accuracy per epoch"),
                               f"{name}: validation accuracy per epoch", caption + ".", f"curve-{i}"))
    if not figures:
        return ""
    return ('<h2 id="curves">Validation accuracy per epoch</h2>\n<p>Each row\'s runs: their mean, and the band '
            "from the lowest to the highest run (min-max, not ± std: with a few seeds it shows where every run "
            "lay).</p>\n" + "\n".join(figures))


def _votes(votes: list[Path]) -> str:
    parts = []
    for path in votes:
        record = read_ensemble(path)
        members = "".join(f"<li>{escape(Path(m['path']).name)} (seed {m['seed']}): test "
                          f"{100 * m['test_accuracy']:.2f}%</li>" for m in record["members"])
        errors = ", ".join(f"#{e['index']}: {e['label']}→{e['predicted']}" for e in record["errors"])
        heading = (f"{record['name']}: {record['method']} of {len(record['members'])} "
                   f"({record.get('weights', 'best')} networks)")
        text = (f"<h3>{escape(heading)}</h3>\n<p>{escape(str(path))}: test accuracy "
                f"{100 * record['accuracy']:.2f}%, {record['n_errors']} errors of {record['n_test']:,}; the members "
                f"disagree on {100 * record['disagreement']:.2f}% of the test images.</p>\n"
                f'<ul class="votes">{members}</ul>\n')
        picture = path / ERRORS_PNG
        if picture.exists():
            text += _figure(picture.read_bytes(), f"{heading}: misclassified digits",
                            f"{escape(str(picture))}: true label top right, the vote's label bottom right.")
        else:
            text += f"<p>No {ERRORS_PNG} in {escape(str(path))}.</p>"
        text += f'\n<p class="errors">Test image, true label → the vote\'s: {escape(errors) or "none"}.</p>'
        parts.append(text)
    return '<h2 id="votes">Votes</h2>\n' + "\n".join(parts) if parts else ""


def _filters(rows: list[RowRuns], given: Optional[Mapping[str, np.ndarray]]) -> str:
    figures = []
    for item in rows:
        for path in item.paths:
            filters = first_conv_filters(path) if given is None else given.get(path.name)
            if filters is None:
                continue
            seed = runs.read_summary(path).seed
            title = f"{path.name} (seed {seed}): first conv layer's {len(filters)} filters"
            figures.append(_figure(filters_png(filters, title), title,
                                   f"{escape(item.row.name)}, seed {seed}; darker: larger weight."))
    if not figures:
        return ""
    return '<h2 id="filters">First-layer filters</h2>\n' + "\n".join(figures)
