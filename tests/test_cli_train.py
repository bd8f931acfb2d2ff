"""`nnbook train` end to end: the real CLI on slices of the real MNIST."""

import json

import numpy as np
import torch
import yaml

from .conftest import CONFIGS, nnbook, read_json, run_dirs


def test_train_writes_a_complete_run_directory(tmp_path):
    result = nnbook("train", CONFIGS / "ch6_dbl_conv_relu.yaml", "--set", "train_limit=1000", "--set", "epochs=2",
                    "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Epoch 1: validation" in result.stdout and "Result" in result.stdout
    (run,) = run_dirs(tmp_path)
    assert run.name.startswith("ch6_dbl_conv_relu-")
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "summary.json", "model.pt",
                                                "test_predictions.npy", "checkpoint.pt"}
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2]
    for line in lines:
        assert set(line) >= {"epoch", "train_cost", "validation_accuracy", "test_accuracy", "eta", "seconds"}
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2 and summary["seed"] == 0
    best = max(lines, key=lambda l: (l["validation_accuracy"], l["epoch"]))
    assert summary["best_epoch"] == best["epoch"]
    assert summary["test_accuracy"] == best["test_accuracy"] > 0.5  # far above chance
    assert summary["torch"].startswith("2.") and summary["device"] == "cpu"

    predictions = np.load(run / "test_predictions.npy")
    assert predictions.shape == (10000, 10) and predictions.dtype == np.float32
    assert np.allclose(predictions.sum(1), 1, atol=1e-4)
    from nnbook.data import mnist as data

    test = data.load("mnist").test
    assert (predictions.argmax(1) == test.y).mean() == summary["test_accuracy"]
    weights = torch.load(run / "model.pt", weights_only=True)
    assert weights["layers.0.weight"].shape == (20, 1, 5, 5)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["train_limit"] == 1000 and resolved["epochs"] == 2 and resolved["seed"] == 0


def test_resolved_config_reruns_and_never_overwrites(tmp_path):
    first = nnbook("train", CONFIGS / "ch6_shallow.yaml", "--set", "train_limit=500", "--set", "epochs=1",
                   "--seed", "3", "--runs-dir", tmp_path)
    assert first.returncode == 0, first.stderr
    (run,) = run_dirs(tmp_path)
    again = nnbook("train", run / "config.yaml", "--runs-dir", tmp_path)
    assert again.returncode == 0, again.stderr
    runs = run_dirs(tmp_path)
    assert len(runs) == 2
    a, b = (read_json(r / "summary.json") for r in runs)
    assert a["seed"] == b["seed"] == 3
    assert a["test_accuracy"] == b["test_accuracy"]  # same config and seed on the CPU: same result


def test_repeats_make_one_run_directory_per_seed(tmp_path):
    result = nnbook("train", CONFIGS / "ch6_shallow.yaml", "--set", "train_limit=500", "--set", "epochs=1",
                    "--repeats", "3", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    runs = run_dirs(tmp_path)
    assert sorted(read_json(r / "summary.json")["seed"] for r in runs) == [0, 1, 2]
    assert "Best of 3 runs by validation" in result.stdout and "mean ± std" in result.stdout


def test_dry_run_prints_the_model_and_trains_nothing(tmp_path):
    result = nnbook("train", CONFIGS / "ch6_relu_dropout.yaml", "--dry-run", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "40x4x4" in result.stdout and "1,672,570" in result.stdout and "p_dropout 0.5" in result.stdout
    assert "Dry run" in result.stdout
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_config_mistake_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "ch6_shallow.yaml").read_text().replace("eta:", "etta:"))
    result = nnbook("train", bad)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'etta'" in result.stderr and "did you mean 'eta'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_teaches():
    result = nnbook("train", "--help")
    assert result.returncode == 0
    for words in ("--set", "--dry-run", "--runs-dir", "metrics.jsonl", "Examples"):
        assert words in result.stdout


def test_data_command_finds_the_verified_book_file():
    result = nnbook("data")
    assert result.returncode == 0, result.stderr
    assert "mnist.pkl.gz" in result.stdout and "sha256 verified" in result.stdout


def test_threads_option_is_applied_and_recorded(tmp_path):
    result = nnbook("train", CONFIGS / "ch6_shallow.yaml", "--set", "train_limit=300", "--set", "epochs=1",
                    "--threads", "1", "--runs-dir", tmp_path, "-q")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path)
    assert read_json(run / "summary.json")["threads"] == 1
