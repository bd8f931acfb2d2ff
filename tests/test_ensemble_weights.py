"""The book's ensemble: conv.py votes with each net as it stands after its last epoch; nnbook keeps
the best-validation network's predictions as its default and saves the last epoch's too, so
`nnbook ensemble --weights last` reproduces the book's procedure exactly."""

import json

import numpy as np

from nnbook.analysis.voting import plurality_vote
from nnbook.data import mnist as data

from .cli import CONFIGS, run_dirs


def test_the_last_epochs_predictions_are_saved_and_vote_with_weights_last(cli, tmp_path, mnist_slice):
    # A good first epoch, then an eta far too large: the best-validation epoch is not the last.
    train = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "epochs=3",
                "--set", "schedule={type: list, etas: [0.5, 30.0, 30.0]}", "--set", "eta=0.5", "--repeats", "3",
                "--device", "cpu", "--runs-dir", tmp_path / "runs", "--quiet")
    assert train.returncode == 0, train.stderr
    runs = run_dirs(tmp_path / "runs")
    test = data.load_file(mnist_slice).test
    last_accuracies = []
    for run in runs:
        best = np.load(run / "test_predictions.npy")
        last = np.load(run / "test_predictions_last.npy")
        metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        summary = json.loads((run / "summary.json").read_text())
        assert summary["best_epoch"] < len(metrics)  # so best and last differ
        assert (best.argmax(1) == test.y).mean() == summary["test_accuracy"]
        assert not np.array_equal(best, last)
        last_accuracies.append((last.argmax(1) == test.y).mean())

    vote = cli("ensemble", *runs, "--weights", "last", "--out", tmp_path / "last")
    assert vote.returncode == 0, vote.stderr
    assert "of their last-epoch networks" in vote.stdout
    record = json.loads((tmp_path / "last" / "ensemble.json").read_text())
    assert record["weights"] == "last"
    assert [m["test_accuracy"] for m in record["members"]] == last_accuracies
    votes = plurality_vote(np.stack([np.load(r / "test_predictions_last.npy").argmax(1) for r in runs]))
    assert record["accuracy"] == (votes == test.y).mean()

    best_vote = cli("ensemble", *runs, "--out", tmp_path / "best")
    assert best_vote.returncode == 0 and "best-validation networks" in best_vote.stdout


def test_a_run_without_last_epoch_predictions_is_skipped_with_the_way_out(cli, tmp_path, mnist_slice):
    train = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "epochs=1",
                "--repeats", "2", "--device", "cpu", "--runs-dir", tmp_path / "runs", "--quiet")
    assert train.returncode == 0, train.stderr
    runs = run_dirs(tmp_path / "runs")
    (runs[0] / "test_predictions_last.npy").unlink()  # as a run trained by an earlier nnbook
    result = cli("ensemble", *runs, "--weights", "last", "--out", tmp_path / "e")
    assert result.returncode == 2 and "at least 2 finished runs" in result.stderr
    assert "use --weights best" in result.stdout + result.stderr
    assert "at least 2 finished runs with test predictions, and the paths given hold 1 (skipped " \
           f"{runs[0]}: no test_predictions_last.npy" in result.stderr

    folder = cli("ensemble", tmp_path / "runs", "--out", tmp_path / "f")  # a folder of runs, as report takes
    assert folder.returncode == 0, folder.stderr
    assert [m["path"] for m in json.loads((tmp_path / "f" / "ensemble.json").read_text())["members"]] == \
           [str(run) for run in runs]
    alone = cli("ensemble", runs[0], "--out", tmp_path / "g")
    assert alone.returncode == 2
    assert alone.stderr.rstrip().endswith("at least 2 finished runs with test predictions, and the path given "
                                          "holds 1"), alone.stderr


def test_tied_votes_and_the_lowest_label_rule():
    import numpy as np

    from nnbook.analysis.voting import plurality_vote, tied_votes, vote_to_lowest_label

    # image 0: 8, 2, 2, 8, 4 (a tie of 8 and 2, 8 seen first); image 1: a clear 3
    predictions = np.array([[8, 3], [2, 3], [2, 3], [8, 1], [4, 3]])
    assert tied_votes(predictions).tolist() == [0]
    assert plurality_vote(predictions).tolist() == [8, 3]
    assert vote_to_lowest_label(predictions).tolist() == [2, 3]
