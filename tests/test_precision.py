"""The `dtype` key: a float64 run computes everything in float64 (parameters, data,
targets, the step, evaluation, saved predictions, checkpoints, resume); the
initial weights are the same draws on every CPU and in both precisions; and why
chapters 1-5 need it: float32 sigmoid saturates to exactly 1."""

import json

import numpy as np
import pytest
import torch

from nnbook.config import validate
from nnbook.nn.activations import ACTIVATIONS
from nnbook.nn.net import build_model

from .conftest import CONFIGS, run_dirs

FC = {"name": "p", "layers": [{"type": "fc", "units": 30}, {"type": "softmax"}], "epochs": 1, "eta": 0.1}


def test_dtype_defaults_to_float32_and_takes_float64_only_by_name():
    assert validate(dict(FC), "test").dtype == "float32"
    assert validate({**FC, "dtype": "float64"}, "test").dtype == "float64"
    with pytest.raises(Exception, match="float32.*float64|float64.*float32"):
        validate({**FC, "dtype": "double"}, "test")
    with pytest.raises(Exception, match="mps"):
        validate({**FC, "dtype": "float64", "device": "mps"}, "test")


def test_the_book_programs_configs_say_float64_and_chapter_6_float32():
    from nnbook.config import load_config

    for path in sorted(CONFIGS.glob("ch*.yaml")):
        if "sweep" in path.name:
            continue
        want = "float32" if path.name.startswith("ch6_") else "float64"
        assert load_config(path).dtype == want, path.name


def test_a_seed_draws_the_same_weights_in_both_precisions():
    c32 = validate({**FC, "layers": [{"type": "conv_pool", "filters": 4, "kernel": 5}, *FC["layers"]],
                    "init": "default"}, "test")
    c64 = c32.model_copy(update={"dtype": "float64"})
    n32, n64 = build_model(c32, [3, 4]), build_model(c64, [3, 4])
    for p32, p64 in zip(n32.parameters(), n64.parameters()):
        assert p32.dtype == torch.float32 and p64.dtype == torch.float64
        assert torch.equal(p32, p64.to(torch.float32))  # float32's are float64's draws rounded
        assert (p64 != p32.to(torch.float64)).any()  # float64 keeps the bits float32 rounds away


def test_float32_sigmoid_saturates_where_float64_keeps_a_gradient():
    """Chapter 1's N(0, 1) weights give pre-activations of std ~9: many units sit above
    z = 16.6, where float32's sigmoid is exactly 1 and the gradient through it exactly 0."""
    sigmoid = ACTIVATIONS["sigmoid"]
    for z, saturated_in_float32 in ((20.0, True), (15.0, False)):
        slopes = {}
        for dtype in (torch.float32, torch.float64):
            a = sigmoid.fn(torch.tensor([z], dtype=dtype))
            slopes[dtype] = sigmoid.backward(torch.ones_like(a), a).item()
        assert (slopes[torch.float32] == 0.0) == saturated_in_float32
        assert 0 < slopes[torch.float64] < 1e-6  # float64 keeps a small gradient at both


def stopped_after_first_epoch(run):
    """A finished one-epoch run made into one stopped after its first epoch: its files are
    those Ctrl-C leaves there (the epoch's checkpoint, metrics and best model), and its
    summary says interrupted."""
    summary = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    (run / "test_predictions_last.npy").unlink()


def test_a_float64_run_computes_saves_and_resumes_in_float64(cli, mnist_slice, tmp_path):
    args = [CONFIGS / "ch3_784_30_10_l2.yaml", "--set", f"data={mnist_slice}", "--set", "mu=0.5", "--device", "cpu",
            "--quiet"]
    whole = cli("train", *args, "--set", "epochs=2", "--runs-dir", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    [run] = run_dirs(tmp_path / "whole")
    assert "dtype: float64" in (run / "config.yaml").read_text()
    for name in ("test_predictions.npy", "test_predictions_last.npy"):
        assert np.load(run / name).dtype == np.float64
    weights = torch.load(run / "model.pt", weights_only=True)
    assert {w.dtype for w in weights.values()} == {torch.float64}

    # One epoch, then resumed to two: the same numbers, bit for bit.
    first = cli("train", *args, "--set", "epochs=1", "--runs-dir", tmp_path / "parts")
    assert first.returncode == 0, first.stderr
    [part] = run_dirs(tmp_path / "parts")
    stopped_after_first_epoch(part)
    saved = torch.load(part / "checkpoint.pt", weights_only=True)
    assert {w.dtype for w in saved["net"].values()} == {torch.float64}
    assert {v.dtype for v in saved["velocity"]} == {torch.float64}
    resumed = cli("train", "--resume", part, "--set", "epochs=2", "--force", "--quiet")
    assert resumed.returncode == 0, resumed.stderr

    def metrics(path):
        rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert metrics(part) == metrics(run)
    resumed_weights = torch.load(part / "model.pt", weights_only=True)
    assert all(torch.equal(resumed_weights[k], weights[k]) for k in weights)


def test_resume_refuses_a_change_of_dtype_even_when_forced(cli, mnist_slice, tmp_path):
    args = [CONFIGS / "ch3_784_30_10_l2.yaml", "--set", f"data={mnist_slice}", "--set", "epochs=1",
            "--device", "cpu", "--quiet", "--runs-dir", tmp_path]
    assert cli("train", *args).returncode == 0
    [run] = run_dirs(tmp_path)
    stopped_after_first_epoch(run)
    refused = cli("train", "--resume", run, "--set", "dtype=float32", "--set", "epochs=2", "--force")
    assert refused.returncode == 2 and "dtype" in refused.stderr and "Traceback" not in refused.stderr


def test_dry_run_and_list_show_the_dtype(cli):
    dry = cli("train", CONFIGS / "ch1_784_30_10.yaml", "--dry-run")
    assert dry.returncode == 0 and "dtype: float64" in dry.stdout and "one network, float64" in dry.stdout
    listing = cli("list", "--no-timing", "--chapter", "1")
    assert listing.returncode == 0 and "float64" in listing.stdout


def test_a_saved_float64_network_is_rebuilt_with_every_bit_of_its_weights():
    from nnbook.training.inference import saved_network

    config = validate({**FC, "dtype": "float64"}, "test")
    weights = build_model(config, [5]).member_weights(0)
    rebuilt = saved_network(config, weights, "cpu").net
    for name, p in rebuilt.named_parameters():
        assert p.dtype == torch.float64 and torch.equal(p[0], weights[name]), name
