"""Regenerate the chapter 6 report's tables and pictures from its committed records
(`make chapter6-report`), whatever rows are trained so far:

    table.md               `nnbook report`: every row and both votes against the book
    records.md             where each row trained, read from its records: seeds, stacks and their
                           wall time, processor, threads, versions, nnbook's commit; and how
                           many images each vote leaves to its tie rule
    tanh_vs_sigmoid.png    validation accuracy per epoch of ch6_dbl_conv and ch6_dbl_conv_tanh
    votes/best, votes/last the five ch6_relu_dropout nets' plurality vote, from their saved test
                           predictions: best-validation weights (nnbook's figure) and the networks
                           after their last epoch (as the book's conv.py voted)
    filters-RUN.png        the first conv layer's filters of each run in filters/ (RUN.npy, exported
                           from the run's weights when it was committed: the weights are not)
    index.html             one page that holds its pictures (`nnbook report --html`):
                           the table, each row's curves (mean and min-max band of its seeds), the
                           votes and their digits, the filters

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

from nnbook.analysis.ensemble import EnsembleOptions, find_test_split, run_ensemble  # noqa: E402
from nnbook.analysis.voting import plurality_vote, tied_votes, vote_to_lowest_label  # noqa: E402
from nnbook.analysis.origins import origins_markdown  # noqa: E402
from nnbook.analysis.html_report import write_page as write_html  # noqa: E402
from nnbook.analysis.plots import plot_accuracy, plot_filters  # noqa: E402
from nnbook.analysis.report import collect, render  # noqa: E402
from nnbook.records import DIVERGED, FINISHED  # noqa: E402
from nnbook.runs.directory import is_run_dir, load_predictions, read_summary  # noqa: E402

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
    write_page(runs)


def write_table_and_votes(runs: dict[str, list[Path]]) -> None:
    """table.md, and votes/last and votes/best (each an ensemble.json and its error grid)."""
    paths = [p for group in runs.values() for p in group]
    votes = []
    if len(runs.get(VOTERS, [])) >= 2:
        for weights in ("last", "best"):
            votes.append(run_ensemble(runs[VOTERS], EnsembleOptions(weights=weights), Path("votes") / weights,
                                      say=print)[0])
    Path("table.md").write_text(render(collect(paths + votes), "markdown"))
    print(f"wrote table.md ({len(paths)} runs of {', '.join(runs)}; {len(votes)} votes)")
    Path("records.md").write_text(records_markdown(paths, runs.get(VOTERS, []) if votes else []))
    print("wrote records.md")


def records_markdown(paths: list[Path], voters: list[Path]) -> str:
    """records.md: the rows' origins (nnbook/analysis/origins.py) and the votes' ties."""
    text = ["# Where each row trained (generated from the records by report.py)", "",
            "Each run's summary.json records these; a row's stacks are its runs trained together in one",
            "process. Stacks that started together trained side by side on workers: the row's wall time",
            "is the slowest's. The seconds include every pause of the machine they ran on.", "",
            origins_markdown(paths)]
    if voters:
        labels = find_test_split(read_summary(voters[0])).y
        text += ["## The votes' tie rule", "",
                 "The plurality vote gives a tie to the label voted first in member order (the book's "
                 "conv.py, `Counter.most_common`); ties to the lowest label are the other common rule.", ""]
        for weights in ("last", "best"):
            predictions = np.stack([load_predictions(p, weights == "last").argmax(-1) for p in voters])
            tied = tied_votes(predictions)
            lowest = vote_to_lowest_label(predictions)
            from_first = int((plurality_vote(predictions) != labels).sum())
            shown = "; ".join(f"index {i}: votes {', '.join(map(str, predictions[:, i]))}, label {labels[i]}"
                              for i in tied[:10])
            text.append(f"- `votes/{weights}`: {len(tied)} tied image(s){f' ({shown})' if shown else ''}; "
                        f"ties to the first label seen: {from_first} errors; ties to the lowest label: "
                        f"{int((lowest != labels).sum())} errors")
        text.append("")
    return "\n".join(text)


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


def write_page(runs: dict[str, list[Path]]) -> None:
    """index.html from the runs, the votes written beside them and the filters in filters/."""
    paths = [p for group in runs.values() for p in group]
    votes = [Path("votes") / weights for weights in ("last", "best") if (Path("votes") / weights).is_dir()]
    filters = {npy.stem: np.load(npy, allow_pickle=False) for npy in sorted(Path("filters").glob("*.npy"))}
    out = write_html(paths + votes, Path("index.html"), "Chapter 6 against the book", filters)
    print(f"wrote {out}")


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "reports" / "chapter6")
    if not folder.is_dir():
        print(f"error: {folder}: no such folder (usage: python reports/chapter6/report.py [REPORT_DIR])",
              file=sys.stderr)
        sys.exit(2)
    main(folder)
