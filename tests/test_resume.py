"""Real trainings stopped by SIGINT, SIGTERM and SIGKILL at several moments, then resumed.

Every test runs the real CLI on a slice of MNIST (2,000 images, 6 epochs,
dropout, reshuffling, L2 and momentum on, so that the data-order and dropout
generators, the weights and the velocities all have to be restored exactly)
and compares the resumed run
with one that was never interrupted: on the CPU they must be identical,
timings aside.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nnbook.config import load_config

from .conftest import CONFIGS, ROOT, nnbook, read_json, run_dirs

EPOCHS = 6
SLICE = ["--set", "train_limit=2000", "--set", f"epochs={EPOCHS}", "--set", "mini_batch_size=20",
         "--set", "shuffle=true", "--set", "layers.0.p_dropout=0.2", "--set", "lmbda=0.5", "--set", "mu=0.5",
         "--device", "cpu"]
CONFIG = CONFIGS / "ch6_shallow.yaml"


def start(runs_dir: Path, *extra, cwd=ROOT, env=None) -> subprocess.Popen:
    """`nnbook train` in the background, with SIGINT at its default even if this
    shell ignores it (a background job of a script)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "nnbook", "train", str(CONFIG), *SLICE, "--runs-dir",
                             str(runs_dir), *extra], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_until(proc: subprocess.Popen, ready, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"training ended before {what}: rc {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.01)


def the_run(runs_dir: Path) -> Path:
    dirs = run_dirs(runs_dir) if runs_dir.exists() else []
    return dirs[0] if dirs else runs_dir / "none-yet"


def metrics_lines(run_dir: Path) -> int:
    file = run_dir / "metrics.jsonl"
    return file.read_text().count("\n") if file.exists() else 0


def interrupt_after(runs_dir: Path, lines: int, signum: int, *extra) -> tuple[Path, subprocess.CompletedProcess]:
    """Start a training, send `signum` once `lines` epochs are in metrics.jsonl
    (0: once the run directory exists), wait for it to end."""
    proc = start(runs_dir, *extra)
    if lines:
        wait_until(proc, lambda: metrics_lines(the_run(runs_dir)) >= lines, f"{lines} metrics lines")
    else:
        wait_until(proc, lambda: (the_run(runs_dir) / "summary.json").exists(), "a run directory")
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return the_run(runs_dir), subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("seconds")
    return rows


def assert_same_result(run_dir: Path, reference: Path) -> None:
    """Identical metrics (timings aside), best model, predictions and summary."""
    assert metrics(run_dir) == metrics(reference)
    a, b = read_json(run_dir / "summary.json"), read_json(reference / "summary.json")
    for key in ("status", "epochs_completed", "best_validation_accuracy", "best_epoch", "test_accuracy"):
        assert a[key] == b[key], key
    for name, p in torch.load(run_dir / "model.pt", weights_only=True).items():
        assert torch.equal(p, torch.load(reference / "model.pt", weights_only=True)[name]), name
    assert np.array_equal(np.load(run_dir / "test_predictions.npy"), np.load(reference / "test_predictions.npy"))


def assert_consistent(run_dir: Path, killed: bool = False) -> int:
    """Every file whole and valid; metrics.jsonl, summary.json and the checkpoint agree
    (a hard kill may leave the summary and metrics one step behind the checkpoint).
    Returns the number of epochs in metrics.jsonl."""
    load_config(run_dir / "config.yaml")
    summary = read_json(run_dir / "summary.json")
    text = (run_dir / "metrics.jsonl").read_text() if (run_dir / "metrics.jsonl").exists() else ""
    assert text == "" or text.endswith("\n")
    rows = [json.loads(line) for line in text.splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    n = len(rows)
    assert summary["epochs_completed"] in ((n - 1, n) if killed else (n,))
    if (run_dir / "checkpoint.pt").exists():
        saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)
        assert len(saved["metrics"]) in ((n, n + 1) if killed else (n,))
        assert saved["metrics"][:n] == rows
        if saved["status"] is None:  # a stopped run's checkpoint counts the epoch it stopped in
            assert saved["epoch"] == len(saved["metrics"])
    else:
        assert n == 0 or (killed and (run_dir / "checkpoint.prev.pt").exists())
    if not killed:
        assert not [p for p in run_dir.iterdir() if p.name.startswith(".") and p.name != ".lock"], "temporary files"
    return n


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted run, made from an empty working directory with an empty
    HOME, so that what it writes outside its runs directory can be seen."""
    base = tmp_path_factory.mktemp("reference")
    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    env = {"HOME": str(home), "XDG_CACHE_HOME": "", "NNBOOK_DATA": "", "PYTHONDONTWRITEBYTECODE": "1",
           "MPLCONFIGDIR": ""}
    proc = start(work / "runs", cwd=work, env=env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return {"run": the_run(work / "runs"), "work": work, "home": home}


def test_nothing_is_written_outside_the_runs_directory(reference):
    assert [p.name for p in reference["work"].iterdir()] == ["runs"]
    assert list(reference["home"].rglob("*")) == []
    assert read_json(reference["run"] / "summary.json")["status"] == "completed"
    assert assert_consistent(reference["run"]) == EPOCHS


def test_same_config_and_seed_give_identical_metrics(reference, tmp_path):
    proc = start(tmp_path / "runs")
    proc.communicate(timeout=600)
    assert proc.returncode == 0
    again = the_run(tmp_path / "runs")
    assert_same_result(again, reference["run"])
    seconds = [json.loads(line)["seconds"] for line in (again / "metrics.jsonl").read_text().splitlines()]
    assert all(s > 0 for s in seconds)


def test_ctrl_c_keeps_completed_epochs_and_resume_is_exact(reference, tmp_path):
    run, done = interrupt_after(tmp_path / "runs", 2, signal.SIGINT)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert f"nnbook train --resume {run}" in done.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "interrupted"
    n = assert_consistent(run)
    assert 2 <= n < EPOCHS, "the signal must land before the run ends"
    assert f"epochs 1-{n} are saved" in done.stderr and f"Epoch {n}: validation" in done.stdout
    assert summary["best_epoch"] is not None and (run / "model.pt").exists()  # the best model so far

    resumed = nnbook("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming after epoch {n} of {EPOCHS}" in resumed.stdout
    assert_same_result(run, reference["run"])
    assert not (tmp_path / "runs" / "other").exists() and run_dirs(tmp_path / "runs") == [run]

    again = nnbook("train", "--resume", run)  # a finished run says so and does nothing
    assert again.returncode == 0
    assert "already completed" in again.stdout and "nothing to resume" in again.stdout
    assert_same_result(run, reference["run"])


def test_sigterm_before_the_first_epoch_then_resume_from_the_start(reference, tmp_path):
    run, done = interrupt_after(tmp_path / "runs", 0, signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert "Traceback" not in done.stderr and "SIGTERM" in done.stderr
    n = assert_consistent(run)
    assert n < EPOCHS
    resumed = nnbook("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference["run"])


@pytest.mark.parametrize("lines", [0, 1, 3])
def test_sigkill_at_several_moments_leaves_valid_files_and_resumes_exactly(reference, tmp_path, lines):
    run, done = interrupt_after(tmp_path / "runs", lines, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    n = assert_consistent(run, killed=True)
    assert n < EPOCHS, "the kill must land before the run ends"
    assert read_json(run / "summary.json")["status"] == "running"
    resumed = nnbook("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference["run"])
    assert_consistent(run)


def test_a_second_ctrl_c_stops_at_once_and_damaged_files_are_repaired(reference, tmp_path):
    proc = start(tmp_path / "runs")
    run_dir = lambda: the_run(tmp_path / "runs")  # noqa: E731
    wait_until(proc, lambda: metrics_lines(run_dir()) >= 2, "2 metrics lines")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    # Where the second signal lands decides what is said: "stopped at once ... resume with",
    # "interrupted by SIGINT ... resume with", or nothing when it comes while the process
    # is already on its way out. Never a traceback, and the files are whole either way.
    assert proc.returncode == 130 and "Traceback" not in err, err
    run = run_dir()
    n = assert_consistent(run, killed=True)
    assert n < EPOCHS

    # What a power cut can leave: a half-written last line, and only checkpoint.prev.pt
    # (a kill between the two renames of save_checkpoint).
    (run / "checkpoint.pt").unlink()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 99, "train_co')
    resumed = nnbook("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming after epoch" in resumed.stdout
    assert_same_result(run, reference["run"])
    assert_consistent(run)


def test_resume_refuses_a_changed_config_unless_forced(tmp_path):
    run, done = interrupt_after(tmp_path / "runs", 1, signal.SIGINT)
    assert done.returncode == 130
    n = assert_consistent(run)
    before = (run / "metrics.jsonl").read_text()

    refused = nnbook("train", "--resume", run, "--set", "eta=0.05")
    assert refused.returncode == 2
    assert "eta: 0.1 -> 0.05" in refused.stderr and "--force" in refused.stderr
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("mini_batch_size: 20", "mini_batch_size: 25"))
    refused = nnbook("train", "--resume", run)
    assert refused.returncode == 2 and "mini_batch_size: 20 -> 25" in refused.stderr
    fixed = nnbook("train", "--resume", run, "--set", "layers.0.units=50", "--force")
    assert fixed.returncode == 2 and "layers.0.units: 100 -> 50" in fixed.stderr
    assert "cannot change" in fixed.stderr
    import fcntl

    with open(run / ".lock", "a") as held:  # as if another process were training it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = nnbook("train", "--resume", run, "--force")
    assert second.returncode == 1 and "being trained by another nnbook process" in second.stderr
    assert (run / "metrics.jsonl").read_text() == before  # nothing was touched

    forced = nnbook("train", "--resume", run, "--set", f"epochs={n}", "--force")
    assert forced.returncode == 0, forced.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == n
    assert set(summary["resumed_with_changes"]) == {"mini_batch_size: 20 -> 25", f"epochs: {EPOCHS} -> {n}"}
    assert load_config(config).epochs == n


def test_divergence_stops_at_once_keeps_what_was_written_and_suggests_a_smaller_eta(tmp_path):
    done = nnbook("train", CONFIG, *SLICE, "--set", "eta=1e38", "--runs-dir", tmp_path / "runs")
    assert done.returncode == 1, done.stderr
    assert "diverged" in done.stderr and "smaller eta" in done.stderr and "--set eta=2.5e+37" in done.stderr
    assert "Traceback" not in done.stderr
    run = the_run(tmp_path / "runs")
    summary = read_json(run / "summary.json")
    assert summary["status"] == "diverged" and summary["diverged_in_epoch"] == 1
    assert_consistent(run)
    again = nnbook("train", "--resume", run)
    assert again.returncode == 1 and "diverged in epoch 1" in again.stderr and "--set eta=" in again.stderr


def test_runs_trained_together_resume_together_exactly(tmp_path):
    """repeats: 2 in one stacked model. A kill can leave one member's files an epoch
    behind the other's; the group resumes from the epoch both have."""
    ref = start(tmp_path / "ref", "--repeats", "2")
    ref.communicate(timeout=600)
    assert ref.returncode == 0
    references = run_dirs(tmp_path / "ref")

    proc = start(tmp_path / "runs", "--repeats", "2")
    runs_dir = tmp_path / "runs"
    wait_until(proc, lambda: runs_dir.exists() and len(run_dirs(runs_dir)) == 2
               and metrics_lines(run_dirs(runs_dir)[1]) >= 2,
               "2 metrics lines of both members")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)
    first, second = run_dirs(runs_dir)
    n = assert_consistent(second, killed=True)
    assert n < EPOCHS
    # As if the kill had come while the second member's checkpoint was being replaced:
    (second / "checkpoint.pt").unlink()
    resumed = nnbook("train", "--resume", second)
    assert resumed.returncode == 0, resumed.stderr
    assert "resum" in resumed.stdout.lower()
    for run, reference_run in zip((first, second), references):
        assert_same_result(run, reference_run)
