"""Continuing a finished run for more epochs (`--resume RUN --set epochs=N`): where the protocol
continues, 2 epochs and then 1 more are exactly 3 epochs straight; where it does not, one line
says why.

Every run here is tiny (300 training images of the session's slice) and computes in float64 on
one torch thread, so that "exactly" means bit for bit.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nnbook.config import load_config
from nnbook.experiments.resume import why_not_longer

from .cli import CONFIGS, read_json, run_dirs

CONFIG = CONFIGS / "ch6_shallow.yaml"
# Dropout, reshuffling, momentum and L2: every generator and the velocities have to carry on.
SETTINGS = ["--set", "train_limit=300", "--set", "dtype=float64", "--set", "shuffle=true", "--set", "mu=0.5",
            "--set", "lmbda=0.5", "--set", "layers.0.p_dropout=0.2", "--device", "cpu", "--threads", "1", "-q"]


def train(cli, mnist_slice, runs_dir: Path, epochs: int, *extra) -> list[Path]:
    done = cli("train", CONFIG, "--set", f"data={mnist_slice}", *SETTINGS, "--set", f"epochs={epochs}", *extra,
               "--runs-dir", runs_dir)
    assert done.returncode == 0, done.stderr
    return run_dirs(runs_dir)


def metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(run: Path, straight: Path) -> None:
    assert metrics(run) == metrics(straight)
    a, b = read_json(run / "summary.json"), read_json(straight / "summary.json")
    for key in ("status", "epochs_completed", "best_validation_accuracy", "best_epoch", "test_accuracy"):
        assert a[key] == b[key], key
    for name, p in torch.load(straight / "model.pt", weights_only=True).items():
        assert torch.equal(torch.load(run / "model.pt", weights_only=True)[name], p), name
    for predictions in ("test_predictions.npy", "test_predictions_last.npy"):
        assert np.array_equal(np.load(run / predictions), np.load(straight / predictions)), predictions
    assert load_config(run / "config.yaml") == load_config(straight / "config.yaml")


@pytest.mark.parametrize("schedule", [
    [],
    ["--set", "schedule={type: halving, patience: 1}"],
    ["--set", "schedule={type: steps, at: {3: 0.05}}"],
    ["--set", "schedule={type: list, etas: [0.1, 0.3, 0.02]}", "--repeats", "2"],  # a group of two, stacked
])
def test_two_epochs_then_one_more_are_three_straight(cli, mnist_slice, tmp_path, schedule):
    straight = train(cli, mnist_slice, tmp_path / "straight", 3, *schedule)
    continued = train(cli, mnist_slice, tmp_path / "continued", 2, *schedule)

    again = cli("train", "--resume", continued[0], "-q")  # nothing asked: a finished run says so
    assert again.returncode == 0 and "already completed (2 epochs" in again.stdout
    assert f"to train it longer: nnbook train --resume {continued[0]} --set epochs=N, N > 2" in again.stdout

    longer = cli("train", "--resume", continued[0], "--set", "epochs=3", "--threads", "1")
    assert longer.returncode == 0, longer.stderr
    assert "continuing with epochs: 2 -> 3" in longer.stdout and "Resuming after epoch 2 of 3" in longer.stdout
    for run, reference in zip(continued, straight, strict=True):
        assert_same_run(run, reference)
        assert read_json(run / "summary.json")["resumed_with_changes"] == ["epochs: 2 -> 3"]
        assert not (run / ".lock").exists()


def test_a_run_that_stopped_early_is_not_continued(cli, mnist_slice, tmp_path, monkeypatch):
    """min_improvement with patience 1 and a gain of 0.9 asked for stops every run in epoch 2."""
    (run,) = train(cli, mnist_slice, tmp_path, 3, "--set",
                   "early_stopping={rule: min_improvement, patience: 1, min_delta: 0.9}")
    assert read_json(run / "summary.json")["status"] == "early_stopped"
    before = (run / "summary.json").read_text()
    refused = cli("train", "--resume", run, "--set", "epochs=5")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == (f"error: --resume {run} --set epochs=5: cannot continue it, the run stopped early in "
                              "epoch 2: its early_stopping rule (min_improvement, patience 1) ended it, as it would "
                              "have ended a longer run; nothing would train\n")
    assert (run / "summary.json").read_text() == before and not (run / ".lock").exists()

    def no_lock(path):  # as on a read-only share, where no lock file can be made
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("nnbook.runs.directory.hold_lock", no_lock)
    asked = cli("train", "--resume", run, "-q")  # nothing asked of a finished run: it needs no lock to say so
    assert asked.returncode == 0 and "already early stopped (2 epochs" in asked.stdout, asked.stderr
    assert "to train it longer" not in asked.stdout  # an early-stopped run cannot be


def test_a_geometric_schedule_is_not_continued(cli, mnist_slice, tmp_path):
    (run,) = train(cli, mnist_slice, tmp_path, 2, "--set", "schedule={type: geometric, eta_end: 0.01}")
    refused = cli("train", "--resume", run, "--set", "epochs=3")
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: --resume {run} --set epochs=3: cannot continue it, its geometric "
                                     "schedule brings eta to eta_end = 0.01 at the last epoch")
    assert refused.stderr.count("\n") == 1


def test_an_exhausted_halving_schedule_is_named(tmp_path):
    config = load_config(CONFIG, ["schedule={type: halving, patience: 2, stop_ratio: 0.25}"])
    stopped = [[{"epoch": 9, "status": "early_stopped", "eta": 0.025}]]
    assert why_not_longer(config, stopped) == (
        "the run stopped early in epoch 9: its halving schedule, exhausted (eta fell to 0.025, stop_ratio 0.25 "
        "of its start), ended it, as it would have ended a longer run; nothing would train")
    training = [[{"epoch": 9, "status": None, "eta": 0.05}], *stopped]  # one member goes on: the group continues
    assert why_not_longer(config, training) is None
