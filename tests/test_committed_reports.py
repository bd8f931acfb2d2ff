"""The committed reports say what their records say: regenerating a report's tables (and chapter 6's
votes and page) from the records under reports/ gives the committed files byte for byte. A change to the
statistics, the book's figures or the vote that would alter a committed number fails here, not
silently in the next `make chapter6-report`."""

import importlib.util
import shutil
from pathlib import Path

import pytest

from nnbook.analysis.report import collect, render

from .cli import ROOT

REPORTS = ROOT / "reports"


def runs_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


@pytest.mark.parametrize("table, records", [
    ("chapters1-3-5/table.md", "chapters1-3-5/runs"),
    ("chapters1-3-5/float32/table.md", "chapters1-3-5/float32/runs"),
    ("chapters1-3-5/more-seeds.md", "chapters1-3-5/more-seeds"),
])
def test_chapters_1_3_5_tables_regenerate(table, records):
    assert runs_in(REPORTS / records), f"no records in {records}"
    assert render(collect([REPORTS / records]), "markdown") == (REPORTS / table).read_text()


def chapter6_report():
    """reports/chapter6/report.py as a module."""
    spec = importlib.util.spec_from_file_location("chapter6_report", REPORTS / "chapter6" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    return report


def test_chapter6_table_and_votes_regenerate(tmp_path, monkeypatch):
    committed = REPORTS / "chapter6"
    shutil.copytree(committed / "runs", tmp_path / "runs")
    report = chapter6_report()
    monkeypatch.chdir(tmp_path)  # the report works inside its folder (as report.main does)
    report.write_table_and_votes(report.finished_runs(Path("runs")))
    for name in ("table.md", "records.md", "votes/best/ensemble.json", "votes/last/ensemble.json"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name


@pytest.mark.parametrize("report", ["chapters1-3-5", "chapters1-3-5/float32"])
def test_chapters_1_3_5_origins_regenerate(report, capsys):
    spec = importlib.util.spec_from_file_location("origins", REPORTS / "origins.py")
    origins = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(origins)
    folders = [REPORTS / report / "runs"] + [f for f in [REPORTS / report / "more-seeds"] if f.is_dir()]
    origins.main([str(f) for f in folders])
    assert capsys.readouterr().out == (REPORTS / report / "records.md").read_text()


def test_chapter6_page_regenerates(tmp_path, monkeypatch):
    """index.html from the committed records, votes and filters: the same bytes (its pictures too)."""
    committed = REPORTS / "chapter6"
    for folder in ("runs", "votes", "filters"):
        shutil.copytree(committed / folder, tmp_path / folder)
    report = chapter6_report()
    monkeypatch.chdir(tmp_path)
    report.write_page(report.finished_runs(Path("runs")))
    made, kept = (tmp_path / "index.html").read_bytes(), (committed / "index.html").read_bytes()
    assert made == kept, f"index.html differs from the committed one ({len(made)} and {len(kept)} bytes): " \
        "make chapter6-report rewrites it"


def test_the_beyond_pilots_tables_regenerate():
    spec = importlib.util.spec_from_file_location("beyond_report", REPORTS / "beyond" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    runs = report.pilot_runs(REPORTS / "beyond" / "runs")
    assert runs, "no pilot records in reports/beyond/runs"
    assert report.pilots_markdown(runs) == (REPORTS / "beyond" / "pilots.md").read_text()
    assert report.records_markdown(runs) == (REPORTS / "beyond" / "records.md").read_text()
