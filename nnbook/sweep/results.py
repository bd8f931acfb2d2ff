"""The results of a sweep: the grid table and the numbers of its plot.

One row per point, from the runs the plan counts as done (plan.done_runs): the
test accuracy at the best validation epoch of the run with the best validation
accuracy (the book's figure), the mean and spread over the point's runs, and
how many ran. Written beside the runs as RUNS_DIR/<name>.sweep.md and .png (the
picture drawn by analysis/plots.py from `grid_figure`'s numbers); shown by the
sweep display from the same rows. Reads runs only through runs/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from nnbook.files import atomic_text
from nnbook.runs.directory import read_summary
from nnbook.runs.layout import make_output_dir
from nnbook.records import DIVERGED
from nnbook.runs.records import Summary
from nnbook.statistics import best_by_validation, results_of, spread
from nnbook.sweep.grid import Point, Sweep, point_label
from nnbook.sweep.plan import done_runs


@dataclass
class PointResult:
    point: Point
    summaries: list[Summary] = field(default_factory=list)  # its done runs, by seed

    @property
    def tests(self) -> list[float]:
        """Each run's test accuracy at its best validation epoch (statistics.py: which runs count)."""
        return results_of(self.summaries)

    @property
    def best(self) -> Optional[Summary]:
        """The run with the best validation accuracy (the book's "best of 3 runs")."""
        return best_by_validation(self.summaries)


def grid_results(sweep: Sweep, runs_dir: Path) -> list[PointResult]:
    done = done_runs(sweep, runs_dir)
    results = []
    for point in sweep.points:
        paths = [done[(point.name, s)] for s in point.seeds if (point.name, s) in done]
        results.append(PointResult(point, [read_summary(p) for p in paths]))
    return results


def grid_rows(sweep: Sweep, results: list[PointResult]) -> tuple[list[str], list[list[str]]]:
    """The grid as text cells: one row per point (percentages, like the rest of the screen output)."""
    def pct(x):
        return "—" if x is None else f"{100 * x:.2f}%"

    header = [*sweep.keys, "runs", "test (best val)", "mean test", "± std", "best val"]
    rows = []
    for r in results:
        tests, best = spread(r.tests), r.best
        diverged = sum(s.status == DIVERGED for s in r.summaries)
        runs = f"{len(r.summaries)}/{len(r.point.seeds)}" + (f" ({diverged} diverged)" if diverged else "")
        rows.append([*r.point.value_texts.values(), runs, pct(best.test_accuracy if best else None), pct(tests.mean),
                     "—" if tests.std is None else f"{100 * tests.std:.2f}",
                     pct(best.best_validation_accuracy if best else None)])
    return header, rows


def grid_markdown(sweep: Sweep, results: list[PointResult]) -> str:
    header, rows = grid_rows(sweep, results)
    lines = [f"# {sweep.name}: sweep over {', '.join(sweep.keys)}", "",
             f"From `{sweep.source}`; test accuracy at the best validation epoch. "
             "\"test (best val)\" is the run with the best validation accuracy, as the book reports.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class GridFigure:
    """The numbers of a sweep's picture (analysis/plots.plot_grid draws it): the test accuracy
    of every run against the first numeric swept key, a curve per combination of the others."""

    title: str
    x_key: str
    x_values: list[float]  # x_key's value at every point, results or not: the axis spans them
    # label (the other keys' values; "" when only x_key is swept) -> [(x, its runs' test accuracies)],
    # the points with results only
    curves: dict[str, list[tuple[float, list[float]]]]


def grid_figure(sweep: Sweep, results: list[PointResult]) -> Optional[GridFigure]:
    """What the sweep's picture shows; None when no swept key is numeric or no run has a result."""
    numeric = [k for k in sweep.keys
               if all(isinstance(p.values[k], (int, float)) and not isinstance(p.values[k], bool)
                      for p in sweep.points)]
    if not numeric or not any(r.tests for r in results):
        return None
    x_key = numeric[0]
    others = [k for k in sweep.keys if k != x_key]
    curves: dict[str, list[tuple[float, list[float]]]] = {}
    for r in results:
        points = curves.setdefault(point_label({k: r.point.values[k] for k in others}), [])
        if r.tests:
            points.append((r.point.values[x_key], r.tests))
    title = f"{sweep.name}: {len(sweep.points)} points, {max(len(p.seeds) for p in sweep.points)} runs each"
    return GridFigure(title, x_key, [float(p.values[x_key]) for p in sweep.points], curves)


def write_grid_report(sweep: Sweep, runs_dir: Path, draw: Optional[Callable[[GridFigure, Path], Path]] = None
                      ) -> tuple[list[PointResult], Path, Optional[Path]]:
    """RUNS_DIR/<name>.sweep.md (the table) and, drawn by `draw` (analysis/plots.plot_grid, which the
    command passes in), RUNS_DIR/<name>.sweep.png (the plot)."""
    results = grid_results(sweep, runs_dir)
    make_output_dir(runs_dir)
    table = Path(runs_dir) / f"{sweep.name}.sweep.md"
    atomic_text(table, grid_markdown(sweep, results))
    figure = grid_figure(sweep, results)
    plot = draw(figure, Path(runs_dir) / f"{sweep.name}.sweep.png") if draw and figure else None
    return results, table, plot
