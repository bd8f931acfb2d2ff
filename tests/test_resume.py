"""Real trainings stopped by SIGINT, SIGTERM and SIGKILL at chosen moments, then resumed.

Every training that receives a signal is `python -m nnbook train` in a
subprocess, on the session's slice of the real MNIST (1,000 training images,
6 epochs, dropout, reshuffling, L2 and momentum on, so that the data-order and
dropout generators, the weights and the velocities all have to be restored
exactly), and every resumed run is compared with one that was never
interrupted: on the CPU they must be identical, timings aside. Resuming needs
no signal, so it runs in this process (`cli`), as do most runs compared with.
Every training here uses one torch thread, in this process and in the others
(`--threads 1`): a result compared bit for bit must not depend on how a float
sum was split between threads.

The moment of a signal is not left to chance. The training stops itself (SIGSTOP)
halfway through a chosen epoch (tests/pause.py), so it cannot have run on however
late this process looks; it is checked while it cannot move on, sent the signal and
continued (SIGCONT), which delivers the signal at once.
"""

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from nnbook.config import load_config

from .cli import CONFIGS, ROOT, default_signals, read_json, run_dirs, torch_threads
from .pause import wait_until, wait_until_stopped

EPOCHS = 6
TRAIN_LIMIT, BATCH = 1000, 20
SETTINGS = ["--set", f"train_limit={TRAIN_LIMIT}", "--set", f"epochs={EPOCHS}", "--set", f"mini_batch_size={BATCH}",
            "--set", "shuffle=true", "--set", "layers.0.p_dropout=0.2", "--set", "lmbda=0.5", "--set", "mu=0.5",
            "--device", "cpu"]
CONFIG = CONFIGS / "ch6_shallow.yaml"


def halfway_through(epoch: int) -> int:
    """The number of the mini-batch step halfway through `epoch` (1-based), counted from 1."""
    steps = TRAIN_LIMIT // BATCH
    return (epoch - 1) * steps + steps // 2


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The trainings of this process on one torch thread, as those in subprocesses (`start`)."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def args(mnist_slice) -> list[str]:
    """`nnbook train ARGS` as every training here is run."""
    return ["train", str(CONFIG), "--set", f"data={mnist_slice}", *SETTINGS]


def start(args: list[str], runs_dir: Path, *extra, cwd=ROOT, env=None, stdout=subprocess.PIPE,
          pause_at: int = 0) -> subprocess.Popen:
    """`nnbook train` in the background on one torch thread, with SIGINT and SIGTERM at their
    defaults even if this process ignores them (pytest as a background job of a script, under
    nohup); with `pause_at`, stopped just before that mini-batch step (tests/pause.py)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT), **(env or {})}
    program = ["tests.pause", str(pause_at)] if pause_at else ["nnbook"]
    return subprocess.Popen([sys.executable, "-m", *program, *args, "--runs-dir", str(runs_dir), "--threads", "1",
                             *map(str, extra)],
                            cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals)


@contextmanager
def stopped(proc: subprocess.Popen):
    """Inside the block, the training stopped where it stopped itself (`start(pause_at=...)`),
    so that what its files show stays true; continued after it, which delivers any signal
    sent meanwhile."""
    wait_until_stopped(proc)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def the_run(runs_dir: Path) -> Path:
    dirs = run_dirs(runs_dir) if runs_dir.exists() else []
    return dirs[0] if dirs else runs_dir / "none-yet"


def metrics_lines(run_dir: Path) -> int:
    file = run_dir / "metrics.jsonl"
    return file.read_text().count("\n") if file.exists() else 0


def interrupt_after(args, runs_dir: Path, epochs: int, signum: int) -> tuple[Path, int, subprocess.CompletedProcess]:
    """Start a training and send `signum` halfway through the epoch after the first `epochs`
    (0: halfway through the first), with at least one more epoch to come; wait for it to
    end. Returns the run, the epochs in metrics.jsonl when the signal was sent, and how the
    training ended."""
    assert epochs <= EPOCHS - 2, "the signal must come with an epoch still to train after the one under way"
    proc = start(args, runs_dir, pause_at=halfway_through(epochs + 1))
    with stopped(proc):
        sent_at = metrics_lines(the_run(runs_dir))
        assert sent_at == epochs  # every file of those epochs written, none of the next one
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=300)
    return the_run(runs_dir), sent_at, subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def metrics(run_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("seconds")
    return rows


def assert_same_result(run_dir: Path, reference: Path) -> None:
    """Identical metrics (timings aside), best model, predictions and summary."""
    assert metrics(run_dir) == metrics(reference)
    a, b = read_json(run_dir / "summary.json"), read_json(reference / "summary.json")
    assert a["threads"] == b["threads"] == 1  # bit for bit only on the same number of threads
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
def reference(tmp_path_factory, args):
    """One uninterrupted run, made from an empty working directory with an empty
    HOME, so that what it writes outside its runs directory can be seen."""
    base = tmp_path_factory.mktemp("reference")
    work, home = base / "work", base / "home"
    work.mkdir()
    home.mkdir()
    env = {"HOME": str(home), "XDG_CACHE_HOME": "", "NNBOOK_DATA": "", "PYTHONDONTWRITEBYTECODE": "1",
           "MPLCONFIGDIR": ""}
    proc = start(args, work / "runs", cwd=work, env=env)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return {"run": the_run(work / "runs"), "work": work, "home": home}


def test_nothing_is_written_outside_the_runs_directory(reference):
    """...but the data file's arrays, once, in the user's cache (data/array_cache.py)."""
    assert [p.name for p in reference["work"].iterdir()] == ["runs"]
    arrays = reference["home"] / ".cache" / "nnbook" / "arrays"
    assert {p.parent for p in reference["home"].rglob("*.npy")} == {*arrays.glob("*-v1")} and len([*arrays.glob("*-v1")]) == 1
    assert [p for p in reference["home"].rglob("*") if p.is_file() and arrays not in p.parents] == []
    assert read_json(reference["run"] / "summary.json")["status"] == "completed"
    assert assert_consistent(reference["run"]) == EPOCHS


def test_same_config_and_seed_give_identical_metrics(reference, tmp_path, args, cli):
    result = cli(*args, "--runs-dir", tmp_path / "runs")  # this process, the reference another one
    assert result.returncode == 0, result.stderr
    again = the_run(tmp_path / "runs")
    assert_same_result(again, reference["run"])
    seconds = [json.loads(line)["seconds"] for line in (again / "metrics.jsonl").read_text().splitlines()]
    assert all(s > 0 for s in seconds)


def test_ctrl_c_keeps_completed_epochs_and_resume_is_exact(reference, tmp_path, args, cli):
    run, sent_at, done = interrupt_after(args, tmp_path / "runs", 2, signal.SIGINT)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert f"nnbook train --resume {run}" in done.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "interrupted"
    n = assert_consistent(run)
    assert n == sent_at == 2  # the epoch under way (the third) is abandoned; the two before are kept
    assert f"epochs 1-{n} are saved" in done.stderr and f"Epoch {n}: validation" in done.stdout
    assert summary["best_epoch"] is not None and (run / "model.pt").exists()  # the best model so far

    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming after epoch {n} of {EPOCHS}" in resumed.stdout
    assert_same_result(run, reference["run"])
    assert not (tmp_path / "runs" / "other").exists() and run_dirs(tmp_path / "runs") == [run]

    again = cli("train", "--resume", run)  # a finished run says so and does nothing
    assert again.returncode == 0
    assert "already completed" in again.stdout and "nothing to resume" in again.stdout
    assert_same_result(run, reference["run"])


def test_sigterm_before_the_first_epoch_then_resume_from_the_start(reference, tmp_path, args, cli):
    runs_dir = tmp_path / "runs"
    proc = start(args, runs_dir, pause_at=halfway_through(1))
    with stopped(proc):
        # No file of epoch 1 is begun (nor a temporary one of them): the signal comes before the epoch's files.
        written = [p.name for p in the_run(runs_dir).iterdir()]
        assert not [name for name in written if any(f in name for f in ("model", "predictions", "checkpoint",
                                                                         "metrics"))], written
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    run = the_run(runs_dir)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and "SIGTERM" in err and f"nnbook train --resume {run}" in err
    assert read_json(run / "summary.json")["status"] == "interrupted"
    assert assert_consistent(run) == 0
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming from the start" in resumed.stdout
    assert_same_result(run, reference["run"])


@pytest.mark.parametrize("epochs", [0, 1, 3])
def test_sigkill_at_several_moments_leaves_valid_files_and_resumes_exactly(reference, tmp_path, args, cli, epochs):
    run, sent_at, done = interrupt_after(args, tmp_path / "runs", epochs, signal.SIGKILL)
    assert done.returncode == -signal.SIGKILL
    n = assert_consistent(run, killed=True)
    assert n == sent_at  # a kill writes nothing more
    assert read_json(run / "summary.json")["status"] == "running"
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference["run"])
    assert_consistent(run)


def fill_pipe(fd: int) -> None:
    """Write NULs into a non-blocking pipe until it holds no more."""
    for size in (4096, 1):
        try:
            while True:
                os.write(fd, b"\0" * size)
        except BlockingIOError:
            pass


def drain(fd: int, timeout: float = 300) -> str:
    """Everything left in the pipe until its last writer closes it, without the NULs."""
    chunks, deadline = [], time.monotonic() + timeout
    while True:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            pytest.fail(f"the training still writes its output after {timeout} s")
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            os.close(fd)
            return b"".join(chunks).decode(errors="replace").replace("\0", "")
        chunks.append(chunk)


def main_thread(pid: int) -> dict[str, str]:
    """/proc's view of the process's main thread, the one that runs Python's signal
    handlers and writes the run's files: its status fields and `syscall`, the system
    call it is blocked in (number and arguments) or `running`."""
    task = Path(f"/proc/{pid}/task/{pid}")
    fields = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line)
    fields = {key: value.strip() for key, value in fields.items()}
    fields["syscall"] = (task / "syscall").read_text().strip()
    return fields


@pytest.fixture(scope="module")
def write_syscall() -> str:
    """The number /proc/PID/task/TID/syscall shows for a thread blocked in write(2). It differs
    between architectures, so it is read off a thread of this process blocked writing to a full
    pipe. Skips where /proc does not show a thread's system call (not Linux, or a kernel
    without it): the test below needs it to see the training blocked and the signal handled."""
    if not Path(f"/proc/self/task/{threading.get_native_id()}/syscall").exists():
        pytest.skip("/proc/PID/task/TID/syscall is not available here: this test needs Linux's /proc")
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    fill_pipe(write_end)
    os.set_blocking(write_end, True)
    tid = []
    writer = threading.Thread(target=lambda: (tid.append(threading.get_native_id()), os.write(write_end, b"\0")),
                              daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            fields = Path(f"/proc/self/task/{tid[0]}/syscall").read_text().split() if tid else []
            if len(fields) > 1 and fields[1] == hex(write_end):  # blocked, its first argument the pipe
                return fields[0]
            if time.monotonic() > deadline:
                pytest.skip(f"/proc does not show a thread blocked in write(2) here: {fields}")
            time.sleep(0.01)
    finally:
        os.read(read_end, 1 << 16)  # room in the pipe: the write ends
        writer.join()
        os.close(read_end)
        os.close(write_end)


def blocked_writing_stdout(pid: int, write: str) -> bool:
    thread = main_thread(pid)
    return thread["State"].startswith("S") and thread["syscall"].split()[:2] == [write, "0x1"]


def handled(pid: int, signum: int, switches_before: int, write: str) -> bool:
    """The signal is no longer pending, and the main thread has run since (its Python handler
    runs before write(2) is retried) and is blocked writing its output again."""
    thread = main_thread(pid)
    pending = int(thread["SigPnd"], 16) | int(thread["ShdPnd"], 16)
    return (not pending & (1 << (signum - 1)) and int(thread["voluntary_ctxt_switches"]) > switches_before
            and blocked_writing_stdout(pid, write))


def test_a_second_ctrl_c_stops_at_once_and_damaged_files_are_repaired(reference, tmp_path, args, cli, write_syscall):
    """The first Ctrl-C comes while an epoch's files are being finished, so it is held back
    until they are (interrupts.protected); the second one stops the training at once.

    The moment is made, not waited for: this test stops reading the training's output, so
    the line it prints at the end of an epoch, inside the protected block, after the
    epoch's files, blocks on a full pipe, as when a terminal is paused with Ctrl-S. The
    pipe is filled while the training is stopped halfway through epoch 3: it blocks on
    epoch 3's line."""
    runs_dir = tmp_path / "runs"
    read_end, write_end = os.pipe()
    proc = start(args, runs_dir, stdout=write_end, pause_at=halfway_through(3))
    filler = os.open(f"/proc/self/fd/{write_end}", os.O_WRONLY | os.O_NONBLOCK)  # its own O_NONBLOCK, not the child's
    os.close(write_end)
    try:
        with stopped(proc):
            assert metrics_lines(the_run(runs_dir)) == 2
            fill_pipe(filler)
        wait_until(proc, lambda: blocked_writing_stdout(proc.pid, write_syscall), "a training blocked on its output")
        blocked_at = metrics_lines(the_run(runs_dir))
        assert blocked_at == 3
        switches = int(main_thread(proc.pid)["voluntary_ctxt_switches"])
        proc.send_signal(signal.SIGINT)
        wait_until(proc, lambda: handled(proc.pid, signal.SIGINT, switches, write_syscall), "the first SIGINT handled")
        proc.send_signal(signal.SIGINT)
    finally:
        os.close(filler)
    out = drain(read_end)
    err = proc.communicate(timeout=300)[1]
    run = the_run(runs_dir)
    assert proc.returncode == 130, err
    assert err.strip() == f"stopped at once (SIGINT twice); resume with: nnbook train --resume {run}", err
    assert f"Epoch {blocked_at - 1}: validation" in out
    # Every file of the epoch was written before the line that blocked; nothing after it.
    assert read_json(run / "summary.json")["status"] == "running"
    assert assert_consistent(run) == blocked_at

    # What a power cut can leave: a half-written last line, and only checkpoint.prev.pt
    # (a kill between the two renames of save_checkpoint).
    (run / "checkpoint.pt").unlink()
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 99, "train_co')
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming after epoch {blocked_at - 1} of {EPOCHS}" in resumed.stdout
    assert_same_result(run, reference["run"])
    assert_consistent(run)


def test_resume_refuses_a_changed_config_unless_forced(tmp_path, args, cli):
    run, _, done = interrupt_after(args, tmp_path / "runs", 1, signal.SIGINT)
    assert done.returncode == 130
    n = assert_consistent(run)
    before = (run / "metrics.jsonl").read_text()

    refused = cli("train", "--resume", run, "--set", "eta=0.05")
    assert refused.returncode == 2
    assert "eta: 0.1 -> 0.05" in refused.stderr and "--force" in refused.stderr
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("mini_batch_size: 20", "mini_batch_size: 25"))
    refused = cli("train", "--resume", run)
    assert refused.returncode == 2 and "mini_batch_size: 20 -> 25" in refused.stderr
    fixed = cli("train", "--resume", run, "--set", "layers.0.units=50", "--force")
    assert fixed.returncode == 2 and "layers.0.units: 100 -> 50" in fixed.stderr
    assert "cannot change" in fixed.stderr

    with open(run / ".lock", "a") as held:  # as if another process were training it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        second = cli("train", "--resume", run, "--force")
    assert second.returncode == 1 and "being trained by another nnbook process" in second.stderr
    assert (run / "metrics.jsonl").read_text() == before  # nothing was touched

    forced = cli("train", "--resume", run, "--set", f"epochs={n}", "--force")
    assert forced.returncode == 0, forced.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == n
    assert set(summary["resumed_with_changes"]) == {"mini_batch_size: 20 -> 25", f"epochs: {EPOCHS} -> {n}"}
    assert load_config(config).epochs == n


def test_divergence_stops_at_once_keeps_what_was_written_and_suggests_a_smaller_eta(tmp_path, args, cli):
    done = cli(*args, "--set", "eta=1e38", "--runs-dir", tmp_path / "runs")
    assert done.returncode == 1, done.stderr
    assert "diverged" in done.stderr and "smaller eta" in done.stderr and "--set eta=2.5e+37" in done.stderr
    assert "Traceback" not in done.stderr
    run = the_run(tmp_path / "runs")
    summary = read_json(run / "summary.json")
    assert summary["status"] == "diverged" and summary["diverged_in_epoch"] == 1
    assert_consistent(run)
    again = cli("train", "--resume", run)
    assert again.returncode == 1 and "diverged in epoch 1" in again.stderr and "--set eta=" in again.stderr


def test_runs_trained_together_resume_together_exactly(tmp_path, args, cli):
    """repeats: 2 in one stacked model. A kill can leave one member's files an epoch
    behind the other's; the group resumes from the epoch both have."""
    together = cli(*args, "--repeats", "2", "--runs-dir", tmp_path / "ref")
    assert together.returncode == 0, together.stderr
    references = run_dirs(tmp_path / "ref")

    runs_dir = tmp_path / "runs"
    proc = start(args, runs_dir, "--repeats", "2", pause_at=halfway_through(3))
    with stopped(proc):
        assert [metrics_lines(run) for run in run_dirs(runs_dir)] == [2, 2]
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    first, second = run_dirs(runs_dir)
    assert assert_consistent(first, killed=True) == assert_consistent(second, killed=True) == 2
    # As if the kill had come while the second member's checkpoint was being replaced:
    (second / "checkpoint.pt").unlink()
    resumed = cli("train", "--resume", second)
    assert resumed.returncode == 0, resumed.stderr
    assert "resum" in resumed.stdout.lower()
    for run, reference_run in zip((first, second), references):
        assert_same_result(run, reference_run)
