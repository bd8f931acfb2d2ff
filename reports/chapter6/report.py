"""Regenerate the chapter 6 report's tables and pictures from its committed records
(`make chapter6-report`), whatever rows are trained so far:

    table.md               `nnbook report`: every row and both votes against the book
    tanh_vs_sigmoid.png    validation accuracy per epoch of ch6_dbl_conv and ch6_dbl_conv_tanh
    votes/best, votes/last the five ch6_relu_dropout nets' plurality vote, from their saved test
                           predictions: best-validation weights (nnbook's figure) and the networks
                           after their last epoch (as the book's conv.py voted)
    filters-RUN.png        the first conv layer's filters of each run in filters/ (RUN.npy, exported
                           from the run's weights when it was committed: the weights are not)

Only finished runs count; a row still training is left out and named. No training, no weights:
anyone can recheck every number here from the records.

    python reports/chapter6/report.py reports/chapter6
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nnbook.analysis.ensemble import run_ensemble  # noqa: E402
from nnbook.analysis.plots import plot_accuracy, plot_filters  # noqa: E402
from nnbook.analysis.report import collect, render  # noqa: E402
from nnbook.records import DIVERGED, FINISHED  # noqa: E402
from nnbook.runs.directory import is_run_dir, read_summary  # noqa: E402

VOTERS = "ch6_relu_dropout"


def finished_runs(runs: Path) -> dict[str, list[Path]]:
    """Config name -> its finished runs, by seed (a run's directory name says when it started, and
    runs trained side by side on workers start in any order)."""
    by_name: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(runs.iterdir()) if runs.is_dir() else []:
        if is_run_dir(path):
            summary = read_summary(path)
            if summary.status in FINISHED or summary.status == DIVERGED:
                by_name.setdefault(summary.name, []).append((summary.seed, path))
    return {name: [path for _, path in sorted(runs)] for name, runs in by_name.items()}


def main(report: Path) -> None:
    # Inside the report folder every path the outputs record (the votes' members) reads
    # runs/RUN, however the folder was named on the command line: reruns are byte for byte.
    os.chdir(report)
    runs = finished_runs(Path("runs"))
    write_table_and_votes(runs)
    draw_pictures(runs)


def write_table_and_votes(runs: dict[str, list[Path]]) -> None:
    """table.md, and votes/last and votes/best (each an ensemble.json and its error grid)."""
    paths = [p for group in runs.values() for p in group]
    votes = []
    if len(runs.get(VOTERS, [])) >= 2:
        for weights in ("last", "best"):
            votes.append(run_ensemble(runs[VOTERS], out=Path("votes") / weights, weights=weights, say=print)[0])
    Path("table.md").write_text(render(collect(paths + votes), "markdown"))
    print(f"wrote table.md ({len(paths)} runs of {', '.join(runs)}; {len(votes)} votes)")


def draw_pictures(runs: dict[str, list[Path]]) -> None:
    """tanh_vs_sigmoid.png and a filters-RUN.png for each filters/RUN.npy."""
    if "ch6_dbl_conv" in runs and "ch6_dbl_conv_tanh" in runs:
        out = plot_accuracy(runs["ch6_dbl_conv"] + runs["ch6_dbl_conv_tanh"], Path("tanh_vs_sigmoid.png"))
        print(f"wrote {out}")
    for npy in sorted(Path("filters").glob("*.npy")):
        filters = np.load(npy, allow_pickle=False)
        out = plot_filters(filters, Path(f"filters-{npy.stem}.png"),
                           f"{npy.stem}: first conv layer's {len(filters)} filters")
        print(f"wrote {out}")


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "reports" / "chapter6")
    if not folder.is_dir():
        print(f"error: {folder}: no such folder (usage: python reports/chapter6/report.py [REPORT_DIR])",
              file=sys.stderr)
        sys.exit(2)
    main(folder)
