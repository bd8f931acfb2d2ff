"""Runs of different experiments are never mixed: the report, the plot and the ensemble group runs
by config name and identity (config/identity.py), label them with their `--set` differences
(config/labels.py), and keep scaled-down runs apart from the book's protocol.

One real run of the shallow net (100 images, 1 epoch); its copies, with an edited config.yaml or
seed, stand for the runs of other experiments or seeds (every reader goes by those files)."""

import csv
import io
import json
import shutil

import pytest
import yaml

from nnbook.analysis import report
from nnbook.analysis.html_report import rows_with_runs
from nnbook.config import load_config
from nnbook.config.labels import experiments_of

from .cli import CONFIGS, read_json, run_captured, run_dirs


@pytest.fixture(scope="module")
def one_run(tmp_path_factory, mnist_slice):
    root = tmp_path_factory.mktemp("trained")
    trained = run_captured("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set",
                           "train_limit=100", "--set", "epochs=1", "--runs-dir", root, "--device", "cpu", "--quiet")
    assert trained.returncode == 0, trained.stderr
    (run,) = run_dirs(root)
    return run


def copy_run(run, to, seed=None, **changes):
    """A copy of `run` as if trained with `changes` to its config (and another seed)."""
    shutil.copytree(run, to)
    config = yaml.safe_load((to / "config.yaml").read_text())
    config.update(changes, **({"seed": seed} if seed is not None else {}))
    (to / "config.yaml").write_text(yaml.safe_dump(config))
    if seed is not None:
        summary = read_json(to / "summary.json")
        (to / "summary.json").write_text(json.dumps({**summary, "seed": seed}))
    return to


def test_labels_name_the_differences_from_the_shipped_config_or_from_each_other():
    shipped = load_config(CONFIGS / "ch6_shallow.yaml")
    changed = load_config(CONFIGS / "ch6_shallow.yaml", ["eta=0.5", "seed=3"])
    small = load_config(CONFIGS / "ch6_shallow.yaml", ["train_limit=1000", "epochs=1"])
    labels = {e.label: e for e in experiments_of([("ch6_shallow", c) for c in (shipped, changed, small)]).values()}
    assert list(labels) == ["ch6_shallow", "ch6_shallow @eta=0.5", "ch6_shallow @train_limit=1000,epochs=1"]
    assert labels["ch6_shallow @train_limit=1000,epochs=1"].scaled_down == ["train_limit=1000", "epochs=1"]
    assert labels["ch6_shallow @eta=0.5"].scaled_down == []  # another eta: not smaller, only other
    # A name no config ships: each experiment is told apart by the keys on which they disagree.
    mine = [("mine", load_config(CONFIGS / "ch6_shallow.yaml", [f"eta={eta}"])) for eta in (0.1, 0.2)]
    assert [e.label for e in experiments_of(mine).values()] == ["mine @eta=0.1", "mine @eta=0.2"]
    assert [e.label for e in experiments_of(mine[:1]).values()] == ["mine"]


def test_report_makes_a_row_per_experiment_and_sets_no_scaled_down_run_beside_the_book(one_run, tmp_path, cli):
    runs = tmp_path / "runs"
    copy_run(one_run, runs / "a0")
    copy_run(one_run, runs / "a1", seed=1)
    copy_run(one_run, runs / "b0", eta=0.5)
    rows = report.collect([runs])
    assert [(r.label.split(" @")[1].split(",")[-1], r.runs) for r in rows] == [("epochs=1", 2), ("eta=0.5", 1)]
    # the HTML page draws each experiment's curves from its own runs
    assert [len(item.paths) for item in rows_with_runs([runs])] == [2, 1]
    for row in rows:  # 100 images for 1 epoch: the book's figure is there, the difference is not
        assert row.scaled_down[1:] == ["train_limit=100", "epochs=1"] and row.scaled_down[0].startswith("data=")
        assert row.book == 97.80 and row.comparison.as_counted is not None and row.difference is None
    table = cli("report", runs, "--format", "csv")
    assert table.returncode == 0, table.stderr
    lines = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [line["differences"].endswith("eta=0.5") for line in lines] == [False, True]
    assert all(line["difference_pct_points"] == "" and line["scaled_down"] for line in lines)
    summary = read_json(one_run / "summary.json")
    # percentages, rounded as the table shows them
    assert float(lines[1]["test_at_best_validation_pct"]) == round(100 * summary["test_accuracy"], 2)
    assert len(lines[1]["test_at_best_validation_pct"].split(".")[-1]) <= 2


def test_plot_labels_each_experiment(one_run, tmp_path, monkeypatch):
    from nnbook.analysis import plots

    a, b = copy_run(one_run, tmp_path / "a"), copy_run(one_run, tmp_path / "b", eta=0.5)
    labels = []
    monkeypatch.setattr(plots, "run_label", lambda e, s: labels.append(e.label) or e.label)
    plots.plot_accuracy([a, b], tmp_path / "accuracy.png")
    assert labels[0] != labels[1] and labels[1].endswith(",eta=0.5")


def test_ensemble_refuses_other_experiments_and_a_seed_twice(one_run, tmp_path, cli):
    seed0, seed1 = copy_run(one_run, tmp_path / "s0"), copy_run(one_run, tmp_path / "s1", seed=1)
    other = copy_run(one_run, tmp_path / "other", seed=2, eta=0.5)
    copy = copy_run(one_run, tmp_path / "copy")
    mixed = cli("ensemble", seed0, seed1, other, "--out", tmp_path / "e1")
    assert mixed.returncode == 2 and mixed.stderr.count("\n") == 1, mixed.stderr
    assert "2 different experiments (2 of ch6_shallow @data=" in mixed.stderr and ",eta=0.5)" in mixed.stderr
    assert "--mixed" in mixed.stderr and not (tmp_path / "e1").exists()
    twice = cli("ensemble", seed0, seed1, copy, "--out", tmp_path / "e2")
    assert twice.returncode == 2 and "the same run twice" in twice.stderr and "seed 0" in twice.stderr
    asked = cli("ensemble", seed0, seed1, other, "--mixed", "--out", tmp_path / "e3")
    assert asked.returncode == 0, asked.stderr
    assert "combined 3 runs of 2 experiments (2 of ch6_shallow @" in asked.stdout
    record = read_json(tmp_path / "e3" / "ensemble.json")
    assert len(record["experiments"]) == 2 and record["experiments"][1].endswith(",eta=0.5")
    (row,) = report.collect([tmp_path / "e3"])
    assert row.book is None and "voted: ch6_shallow @" in row.note  # a mixed vote is no figure of the book's
    one = cli("ensemble", seed0, seed1, "--out", tmp_path / "e4")
    assert one.returncode == 0 and "experiments" not in read_json(tmp_path / "e4" / "ensemble.json")
