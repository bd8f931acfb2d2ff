"""Every table fits the width it is printed at with no number cut (nnbook/tables.py): the report,
`nnbook list`, train's result, a sweep's plan and grid, the ensemble's members; in a terminal of
60, 80, 100 or 200 columns (rich's Console(width=...)) and under COLUMNS."""

import io
import re
from types import SimpleNamespace

import pytest
from rich.console import Console

from nnbook.analysis.report import collect, render
from nnbook.config import load_config
from nnbook.config.catalogue import catalogue
from nnbook.runs.records import Summary
from nnbook.tables import Column, fitted_table
from nnbook.ui.catalogue_display import show_catalogue
from nnbook.ui.ensemble_display import show_members
from nnbook.ui.sweep_display import SweepDisplay
from nnbook.ui.train_display import TrainDisplay

from .cli import CONFIGS, ROOT

WIDTHS = (60, 80, 100, 200)
CHAPTER6 = ROOT / "reports" / "chapter6" / "runs"
NUMBER = re.compile(r"^[-+~]?\d[\d.,]*(%| ± \d[\d.]*|–\d[\d.]*| s| min| h)?$")  # 97.80, 0.5%, 97.74 ± 0.06


def console(width: int) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=True, color_system=None, highlight=False)


def printed(c: Console) -> list[str]:
    return c.file.getvalue().splitlines()


def assert_fits(lines: list[str], width: int, numbers: list[str]) -> None:
    """No line wider than `width`, no '…', and every number whole on one line."""
    assert lines and all(len(line) <= width for line in lines), max(lines, key=len)
    assert not any("…" in line for line in lines)
    text = "\n".join(lines)
    missing = [n for n in numbers if n not in text]
    assert not missing, missing


def numbers_in(rows: list[list[str]]) -> list[str]:
    return [cell for row in rows for cell in row if NUMBER.match(cell)]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_fits(width):
    rows = collect([CHAPTER6])
    markdown = render(rows, "markdown").splitlines()[2:]
    numbers = numbers_in([[c.strip() for c in line.split(" | ")] for line in markdown])
    assert "97.74 ± 0.06" in numbers and "-0.05" in numbers
    assert_fits(render(rows, "table", width=width).splitlines(), width, numbers)


def test_the_report_under_columns_and_its_layouts(cli):
    for width, looks in ((80, "blocks"), (200, "boxed")):
        result = cli("report", CHAPTER6, env={"COLUMNS": str(width)})
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert_fits(lines, width, ["97.80", "97.74 ± 0.06", "-0.05", "224.2"])
        boxed = any(line.startswith("┏") for line in lines)
        assert boxed if looks == "boxed" else (not boxed and "ch6_shallow" in lines), lines[:4]


@pytest.mark.parametrize("width", WIDTHS)
def test_list_fits(width):
    entries = catalogue(CONFIGS, "6")
    for e in entries:
        e.seconds_per_run = 4000.0  # "~67 min"
    c = console(width)
    show_catalogue(entries, "cpu", c)
    assert_fits(printed(c), width, [f"{e.figure:.2f}%" for e in entries if e.figure] + ["~67 min"])
    assert sum("ch6_relu_dropout" in line for line in printed(c)) >= 1


def test_list_under_columns_80(cli):
    result = cli("list", "--chapter", "6", "--no-timing", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert_fits(result.stdout.splitlines(), 80, ["97.80%", "99.60%", "784-100-10"])


def summary(name, seed, validation, test):
    return Summary(status="completed", epochs_completed=2, best_validation_accuracy=validation, best_epoch=2,
                   test_accuracy=test, seconds=3.0, name=name, seed=seed)


@pytest.mark.parametrize("width", WIDTHS)
def test_trains_result_and_a_packed_sweep_name_every_point(width, tmp_path):
    points = [("tiny@eta=0.1", 0, 0.90, 0.89), ("tiny@eta=0.1", 1, 0.91, 0.88), ("tiny@eta=0.5", 0, 0.95, 0.94),
              ("tiny@eta=0.5", 1, 0.96, 0.97)]
    results = [SimpleNamespace(path=tmp_path / f"{name}-20261206-021500-{i}", summary=summary(*p))
               for i, p in enumerate(points) for name in [p[0]]]
    members = [load_config(CONFIGS / "ch6_shallow.yaml", [f"name={p[0]}", f"seed={p[1]}"]) for p in points]
    c = console(width)
    display = TrainDisplay(console=c)
    display.start(members[0], 1000, {"device": "cpu", "hardware": "a CPU"}, members, 1)
    display.runs_created([r.path for r in results])
    display.epoch(SimpleNamespace(epoch=1, seeds=[0, 1, 0, 1], status=[None] * 4, improved=[False] * 4,
                                  best=[SimpleNamespace(epoch=None)] * 4, reasons=[None] * 4,
                                  records=[SimpleNamespace(epoch=1, validation_accuracy=v, train_accuracy=None,
                                                           bias_gradient_norms=None) for _, _, v, _ in points]))
    display.finish(results)
    lines = printed(c)
    assert "tiny, 2 points (@eta=0.1, @eta=0.5): 4 runs" in lines[0]
    assert [line.split(" Epoch")[0] for line in lines if " Epoch 1:" in line] == [
        "@eta=0.1 seed 0", "@eta=0.1 seed 1", "@eta=0.5 seed 0", "@eta=0.5 seed 1"]
    best = [line for line in lines if "Best of" in line]
    # per point, never across points: eta=0.5's best by validation is seed 1 (97.00%), its mean 95.50%
    assert best[1].startswith("@eta=0.5: Best of 2 runs by validation: test 97.00% (seed 1)") and "95.50%" in best[1]
    assert len(best) == 2 and best[0].startswith("@eta=0.1: Best of 2")
    result_lines = lines[lines.index(next(line for line in lines if line.startswith("Result"))):]
    assert_fits([line for line in result_lines if "Best of" not in line and not line.startswith("Run dir")], width,
                ["89.00%", "97.00%", "1.50"] + [r.path.name for r in results])


@pytest.mark.parametrize("width", WIDTHS)
def test_sweep_grid_and_ensemble_members_fit(width):
    c = console(width)
    header = ["lmbda", "runs", "test (best val)", "mean test", "± std", "best val"]
    rows = [[f"{x:g}", "3/3 (1 diverged)", "99.23%", "99.16%", "0.06", "99.10%"] for x in (0.0, 1e-05, 100.0)]
    SweepDisplay(console=c).grid(SimpleNamespace(name="ch6_sweep_lmbda_relu", keys=["lmbda"]), header, rows)
    members = [{"path": f"runs/ch6_relu_dropout-20261202-044155-{i}", "seed": i, "test_accuracy": 0.9953}
               for i in range(5)]
    show_members(members, console=c)
    assert_fits(printed(c), width, ["99.23%", "0.06", "99.53%", "1e-05", "ch6_relu_dropout-20261202-044155-4"])


def test_a_table_is_boxed_compact_or_blocks_as_the_width_allows():
    columns = [Column("run"), Column("test", wrap=False, justify="right")]
    rows = [["ch6_shallow-20261206-022625", "97.80%"]]
    layouts = {}
    for width in (40, 35, 34):
        c = console(width)
        c.print(fitted_table(columns, rows, width))
        layouts[width] = printed(c)
    assert layouts[40][3] == "│ ch6_shallow-20261206-022625 │ 97.80% │"  # boxed: 27 + 6 + 7 of lines
    assert layouts[35][2] == "ch6_shallow-20261206-022625  97.80%"  # compact: two spaces, no lines
    assert layouts[34] == ["ch6_shallow-20261206-022625", "  test  97.80%"]  # a block


def test_a_packed_jobs_done_line_gives_each_points_tests_apart():
    c = console(200)
    summaries = [summary("tiny@eta=0.1", 0, 0.9, 0.89), summary("tiny@eta=0.1", 1, 0.9, 0.88),
                 summary("tiny@eta=0.5", 0, 0.9, 0.94)]
    outcome = SimpleNamespace(stack=SimpleNamespace(label="2 points packed"), error=None, where="",
                              summaries=summaries)
    SweepDisplay(console=c).finished(outcome)
    assert printed(c) == ["✓ done 2 points packed: test @eta=0.1 89.00%, 88.00%; @eta=0.5 94.00%"]
