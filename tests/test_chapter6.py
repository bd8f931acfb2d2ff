"""Ensembles, evaluation, reports, plots and the chapter runner, on short real runs.

Every command runs in this process (`cli`, `run_captured`): none of these needs a fresh
interpreter, and the runs train on the session's slice of MNIST (conftest.SLICE)."""

import csv
import io
import json
import shutil
from collections import Counter

import numpy as np
import pytest

from nnbook.analysis import voting
from nnbook.analysis import report
from nnbook.analysis.evaluate import confusion_matrix, evaluate_run
from nnbook.data.expand import Expansion, expand

from nnbook.data import mnist as data

from .cli import run_captured
from .conftest import SLICE, read_json, run_dirs


@pytest.fixture(scope="session")
def short_runs(tmp_path_factory, mnist_slice):
    """Three real runs of the shallow net (1,000 images, 2 epochs) and one conv run."""
    root = tmp_path_factory.mktemp("runs")
    shallow = run_captured("train", "configs/ch6_shallow.yaml", "--set", f"data={mnist_slice}",
                           "--set", "train_limit=1000", "--set", "epochs=2", "--set", "monitor.training=true",
                           "--repeats", 3, "--runs-dir", root / "shallow", "--quiet")
    assert shallow.returncode == 0, shallow.stderr
    conv = run_captured("train", "configs/ch6_conv_only.yaml", "--set", f"data={mnist_slice}",
                        "--set", "train_limit=500", "--set", "epochs=1", "--runs-dir", root / "conv", "--quiet")
    assert conv.returncode == 0, conv.stderr
    return run_dirs(root / "shallow"), run_dirs(root / "conv")[0]


@pytest.fixture(scope="session")
def slice_test(mnist_slice):
    """The test split the short runs were evaluated on."""
    return data.load_file(mnist_slice).test


def votes_by_counter(predictions: np.ndarray) -> np.ndarray:
    """conv.py's rule, literally: Counter(votes).most_common(1) per image."""
    return np.array([Counter(predictions[:, n].tolist()).most_common(1)[0][0] for n in range(predictions.shape[1])])


def test_plurality_vote_breaks_ties_as_counter_most_common():
    rng = np.random.default_rng(0)
    for m in (2, 3, 4, 5):
        predictions = rng.integers(0, 4, size=(m, 3000))  # few labels: many ties
        assert np.array_equal(voting.plurality_vote(predictions), votes_by_counter(predictions))
    assert voting.plurality_vote(np.array([[3], [1], [1], [3]]))[0] == 3  # tie: the first-seen wins
    assert voting.plurality_vote(np.array([[3], [1], [1]]))[0] == 1


def test_mean_method_averages_probabilities():
    p = np.array([[[0.9, 0.1]], [[0.4, 0.6]], [[0.45, 0.55]]])  # two of three vote 1; the mean says 0
    assert voting.combine(p, "vote")[0] == 1 and voting.combine(p, "mean")[0] == 0


@pytest.fixture(scope="session")
def shallow_ensemble(short_runs, tmp_path_factory):
    """`nnbook ensemble` of the three shallow runs, made once: its directory and what it printed."""
    out = tmp_path_factory.mktemp("ensemble") / "ens"
    return out, run_captured("ensemble", *short_runs[0], "--out", out)


def test_ensemble_of_three_runs(short_runs, shallow_ensemble, slice_test):
    shallow, _ = short_runs
    out, result = shallow_ensemble
    assert result.returncode == 0, result.stderr
    record = read_json(out / "ensemble.json")
    probabilities = np.stack([np.load(p / "test_predictions.npy") for p in shallow])
    predicted = votes_by_counter(probabilities.argmax(-1))
    wrong = np.flatnonzero(predicted != slice_test.y)
    assert len(slice_test.y) == SLICE["test"]
    assert record["method"] == "vote" and record["name"] == "ch6_shallow_ensemble"
    assert record["n_errors"] == len(wrong) and record["accuracy"] == pytest.approx(1 - len(wrong) / SLICE["test"])
    assert [e["index"] for e in record["errors"]] == wrong.tolist()
    assert all(e["predicted"] == predicted[e["index"]] and e["label"] == slice_test.y[e["index"]]
               for e in record["errors"])
    for member, path in zip(record["members"], shallow):
        assert member["test_accuracy"] == pytest.approx(read_json(path / "summary.json")["test_accuracy"])
    assert (out / "ensemble_errors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"ensemble test accuracy {100 * record['accuracy']:.2f}% ({len(wrong)} errors)" in result.stdout
    assert "members disagree on" in result.stdout
    print(result.stdout)  # shown with -s: the closing note quotes it


def test_ensemble_of_a_mixed_folder_skips_and_says_why(short_runs, tmp_path, cli):
    shallow, conv = short_runs
    folder = tmp_path / "runs"
    folder.mkdir()
    for p in shallow + [conv]:
        shutil.copytree(p, folder / p.name)
    unfinished = folder / "unfinished"
    shutil.copytree(shallow[0], unfinished)
    summary = read_json(unfinished / "summary.json")
    (unfinished / "summary.json").write_text(json.dumps({**summary, "status": "running"}))
    no_predictions = folder / "no_predictions"
    shutil.copytree(shallow[1], no_predictions)
    (no_predictions / "test_predictions.npy").unlink()
    (folder / "notes").mkdir()
    result = cli("ensemble", *sorted(folder.iterdir()), "--only", "ch6_shallow", "--out", tmp_path / "e")
    assert result.returncode == 0, result.stderr
    assert f"skipped {unfinished}: unfinished (status stopped" in result.stdout
    assert f"skipped {no_predictions}: no saved test predictions" in result.stdout
    assert f"skipped {folder / 'notes'}: not a run directory" in result.stdout
    assert f"skipped {folder / conv.name}: config ch6_conv_only, not ch6_shallow" in result.stdout
    assert "combined 3 runs of ch6_shallow @data=" in result.stdout
    assert len(read_json(tmp_path / "e" / "ensemble.json")["members"]) == 3


def test_ensemble_refuses_different_test_data_and_too_few_runs(short_runs, tmp_path, cli):
    shallow, _ = short_runs
    other = tmp_path / "other"
    shutil.copytree(shallow[0], other)
    summary = read_json(other / "summary.json")
    (other / "summary.json").write_text(json.dumps({**summary, "test_sha256": "0" * 64}))
    mixed = cli("ensemble", shallow[1], shallow[2], other, "--out", tmp_path / "e")
    assert mixed.returncode == 1 and "different test data" in mixed.stderr and "Traceback" not in mixed.stderr
    one = cli("ensemble", shallow[0], tmp_path / "nothing")
    assert one.returncode == 2 and "at least 2 finished runs" in one.stderr
    assert "skipped" in one.stderr and one.stdout == ""  # one line: the error names what it skipped
    method = cli("ensemble", *shallow, "--method", "median")
    assert method.returncode == 2 and "'median' is not one of 'vote', 'mean'" in method.stderr


def test_evaluate_reproduces_the_runs_own_figures(short_runs, cli):
    shallow, _ = short_runs
    summary = read_json(shallow[0] / "summary.json")
    result = evaluate_run(shallow[0], "test", device="cpu")
    # model.pt is the best-validation network: its test accuracy is the run's reported figure.
    assert result.accuracy == pytest.approx(summary["test_accuracy"])
    n = SLICE["test"]
    assert result.n == n and result.errors == round(n * (1 - summary["test_accuracy"]))
    validation = cli("evaluate", shallow[0], "--split", "validation")
    assert validation.returncode == 0, validation.stderr
    assert f"accuracy {100 * summary['best_validation_accuracy']:.2f}%" in validation.stdout
    assert "confusion matrix" in validation.stdout
    bad = cli("evaluate", shallow[0], "--split", "train")
    assert bad.returncode == 2 and "'train' is not one of 'training', 'validation', 'test'" in bad.stderr


def test_evaluate_on_another_file(short_runs, tmp_path, mnist):
    shallow, _ = short_runs
    path = tmp_path / "exp.pkl.gz"
    expand(mnist, path, Expansion(train_limit=50))
    result = evaluate_run(shallow[0], "training", data=str(path), device="cpu")
    assert result.n == 250 and result.source == str(path)


def test_confusion_matrix_counts():
    c = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 1]), 3)
    assert c.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_report_groups_runs_and_sets_them_beside_the_book(short_runs, shallow_ensemble, cli):
    shallow, conv = short_runs
    summaries = [read_json(p / "summary.json") for p in shallow]
    best = max(summaries, key=lambda s: s["best_validation_accuracy"])
    tests = [s["test_accuracy"] for s in summaries]
    rows = {r.name: r for r in report.collect(shallow + [conv])}
    row = rows["ch6_shallow"]
    assert (row.runs, row.epochs, row.book) == (3, "2", 97.80)
    assert row.test_at_best == best["test_accuracy"]
    assert row.test_mean == pytest.approx(np.mean(tests)) and row.test_std == pytest.approx(np.std(tests, ddof=1))
    # 1,000 images of a slice for 2 epochs: scaled down from the shipped config, so no difference with the book
    assert [d.split("=")[0] for d in row.scaled_down] == ["data", "train_limit", "epochs"]
    assert row.difference is None and "scaled down (data=" in row.full_note
    assert row.label == f"ch6_shallow @{','.join(row.differences)}" and "monitor.training=true" in row.differences
    assert rows["ch6_conv_only"].book is None and rows["ch6_conv_only"].difference is None
    ens, made = shallow_ensemble
    assert made.returncode == 0, made.stderr
    result = cli("report", shallow[0].parent, ens, "--format", "csv")
    assert result.returncode == 0, result.stderr
    table = {r["config"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    assert float(table["ch6_shallow"]["test_at_best_validation_pct"]) == round(100 * best["test_accuracy"], 2)
    assert table["ch6_shallow"]["difference_pct_points"] == ""
    assert table["ch6_shallow_ensemble"]["runs"] == "3"
    markdown = cli("report", *shallow, "--format", "markdown")
    # Chapter 6's figure is the test accuracy at the best validation epoch of the best of 3 runs.
    assert (f"| {row.label} | 3 | 2 | 97.80 | test accuracy at the best validation epoch, best of 3 runs | "
            f"{100 * best['test_accuracy']:.2f} |") in markdown.stdout
    assert row.comparison.as_counted == best["test_accuracy"]
    bad = cli("report", *shallow, "--format", "html")
    assert bad.returncode == 2 and "'html' is not one of 'table', 'markdown', 'csv'" in bad.stderr


def test_plot_writes_curves_and_filters(short_runs, tmp_path, cli):
    shallow, conv = short_runs
    result = cli("plot", *shallow, conv, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["accuracy.png", f"filters-{conv.name}.png"]  # the shallow net has no conv layer
    assert all((tmp_path / n).read_bytes()[:4] == b"\x89PNG" for n in written)


def test_chapter6_quick_pass(tmp_path, mnist_slice, cli):
    data_dir = tmp_path / "data"
    # found as data: mnist_expanded; its validation and test splits are the slice's (1,000 images each)
    expand(data.load_file(mnist_slice), data_dir / "mnist_expanded.pkl.gz", Expansion(train_limit=100))
    out = tmp_path / "chapter"
    # The dropout net alone, 2 runs that are also the ensemble (the costly part is evaluating the
    # validation and test images with the big net).
    result = cli("chapter6", "--only", "ch6_relu_dropout", "--train-limit", 200, "--epochs-scale", 0.01,
                 "--repeats", 1, "--ensemble-size", 2, "--out", out, "--quiet", env={"NNBOOK_DATA": str(data_dir)})
    assert result.returncode == 0, result.stderr
    text = (out / "chapter6.md").read_text()
    assert "Scaled down" in text and "(1 epoch instead of 40/60), only the first 200 training images" in text
    # every row scaled down: labelled with how, and no difference with the book's figure
    assert "| ch6_relu_dropout @train_limit=200,epochs=1 | 2 | 1 |" in text
    assert "| ch6_relu_dropout_ensemble @train_limit=200,epochs=1 | 2 |" in text and "| 99.67 |" in text
    assert "| — | scaled down (train_limit=200, epochs=1): not the book's protocol; vote of 2" in text
    assert "vote of 2 (best networks)" in text and "vote of 2 (last networks)" in text  # both votes, as rows
    assert (out / "ensemble" / "ensemble_errors.png").exists() and (out / "relu_dropout_filters.png").exists()
    assert read_json(out / "ensemble_last" / "ensemble.json")["weights"] == "last"
    assert len(run_dirs(out / "runs")) == 2
    bad = cli("chapter6", "--only", "ch7_nothing", "--out", tmp_path / "x")
    assert bad.returncode == 2 and "not a chapter 6 config" in bad.stderr
