"""A run's predictions on another split, from its saved networks (analysis/predictions.py): the
best-validation network's validation predictions score the run's own best validation accuracy,
the last network's its last epoch's; they are kept in the run and read back the next time. And
`nnbook ensemble --split validation`, the vote that choices are made with before the test set is
read: computed from those predictions, and left out of `nnbook report`."""

import json

import numpy as np
import pytest

from nnbook.analysis.predictions import split_predictions
from nnbook.errors import NnbookError

from .cli import CONFIGS, run_dirs


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_slice):
    """Three runs of a small net, trained as one stack."""
    from .cli import run_captured

    runs = tmp_path_factory.mktemp("runs")
    result = run_captured("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set",
                          "train_limit=300", "--set", "epochs=3", "--set", "device=cpu", "--repeats", "3",
                          "--runs-dir", runs, "-q")
    assert result.returncode == 0, result.stderr
    assert len(run_dirs(runs)) == 3
    return runs


@pytest.fixture(scope="module")
def run(trained):
    return run_dirs(trained)[0]


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float((probabilities.argmax(1) == labels).mean())


def test_validation_predictions_score_the_runs_own_validation_accuracies(run, mnist_slice):
    from nnbook.data import mnist

    labels = mnist.load_file(mnist_slice).validation.y
    summary = json.loads((run / "summary.json").read_text())
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    best = split_predictions(run, "validation")
    last = split_predictions(run, "validation", last=True)
    assert best.shape == last.shape == (len(labels), 10) and best.dtype == np.float32
    assert np.allclose(best.sum(1), 1, atol=1e-5)
    assert accuracy(best, labels) == pytest.approx(summary["best_validation_accuracy"], abs=1e-9)
    assert accuracy(last, labels) == pytest.approx(metrics[-1]["validation_accuracy"], abs=1e-9)
    assert (run / "validation_predictions.npy").is_file() and (run / "validation_predictions_last.npy").is_file()
    (run / "model.pt").rename(run / "model.moved")  # read back from the run, not computed again
    try:
        assert np.array_equal(split_predictions(run, "validation"), best)
    finally:
        (run / "model.moved").rename(run / "model.pt")


def test_the_test_predictions_are_trainings_own_and_a_run_without_a_network_says_so(run, tmp_path):
    assert np.array_equal(split_predictions(run, "test"), np.load(run / "test_predictions.npy"))
    bare = tmp_path / run.name
    bare.mkdir()
    for name in ("config.yaml", "summary.json", "metrics.jsonl"):
        (bare / name).write_bytes((run / name).read_bytes())
    with pytest.raises(NnbookError, match=r"no saved network \(model.pt\), so no validation predictions"):
        split_predictions(bare, "validation")
    with pytest.raises(NnbookError, match=r"no checkpoint of its last epoch"):
        split_predictions(bare, "validation", last=True)
    (bare / "model.pt").write_bytes(b"not a network")  # a damaged file: one line, no traceback
    with pytest.raises(NnbookError, match=r"unreadable model.pt"):
        split_predictions(bare, "validation")


def test_a_vote_on_validation_is_the_vote_of_the_runs_validation_predictions_and_no_report_row(
        trained, mnist_slice, tmp_path, cli):
    from nnbook.analysis.voting import plurality_vote
    from nnbook.data import mnist

    labels = mnist.load_file(mnist_slice).validation.y
    result = cli("ensemble", trained, "--split", "validation", "--weights", "last", "--out", tmp_path / "vote")
    assert result.returncode == 0, result.stderr
    assert "on the validation images" in result.stdout and "ensemble validation accuracy" in result.stdout
    record = json.loads((tmp_path / "vote" / "ensemble.json").read_text())
    assert record["split"] == "validation" and record["weights"] == "last" and record["n_validation"] == len(labels)
    runs = run_dirs(trained)
    for member, path in zip(record["members"], runs):
        last_epoch = json.loads((path / "metrics.jsonl").read_text().splitlines()[-1])
        assert member["validation_accuracy"] == pytest.approx(last_epoch["validation_accuracy"], abs=1e-9)
    voted = plurality_vote(np.stack([np.load(p / "validation_predictions_last.npy").argmax(1) for p in runs]))
    assert record["accuracy"] == pytest.approx(float((voted == labels).mean()), abs=1e-12)
    assert record["n_errors"] == int((voted != labels).sum())

    test_vote = cli("ensemble", trained, "--out", tmp_path / "test_vote")  # the default: the test images
    assert test_vote.returncode == 0, test_vote.stderr
    assert "split" not in json.loads((tmp_path / "test_vote" / "ensemble.json").read_text())
    report = cli("report", *runs, tmp_path / "vote", tmp_path / "test_vote", "--format", "csv")
    assert report.returncode == 0, report.stderr
    assert report.stdout.count("ch6_shallow_ensemble") == 1  # the test vote's row; the validation vote has none
