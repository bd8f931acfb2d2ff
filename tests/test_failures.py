"""Failures while training leave every run in a true state: a full disk, a failed write, out of
memory, an exception in a callback; what readers make of a run whose process is gone; the
modes of the files written; resume's locks; the Ray copy-back.

A full disk is real where a tmpfs can be mounted (root): one too small for a run's second
epoch. Everywhere, it is also made at the one seam every byte of a run goes through
(nnbook/files.write_bytes), at chosen moments: from a chosen write on, each write puts half
its bytes on the disk and then fails with ENOSPC, as write(2) does when the disk fills. The
trainings are the real CLI in this process (`cli`), on the session's slice of MNIST, with
reshuffling, dropout, L2 and momentum, so that resuming has every generator to restore; a
resumed run must then equal one that never failed, timings aside (CPU).
"""

import errno
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from nnbook import files
from nnbook.cli import run as run_cli
from nnbook.errors import NnbookError
from nnbook.runs.directory import read_summary
from nnbook.experiments.failures import TrainingFailed, describe_failure
from nnbook.runs.transfer import write_stack_files

from .cli import CONFIGS, read_json, run_dirs

EPOCHS = 3
SETTINGS = ["--set", "train_limit=1000", "--set", f"epochs={EPOCHS}", "--set", "mini_batch_size=10",
            "--set", "shuffle=true", "--set", "layers.0.p_dropout=0.2", "--set", "lmbda=0.5", "--set", "mu=0.5",
            "--device", "cpu"]


@pytest.fixture(scope="module")
def args(mnist_slice) -> list[str]:
    return ["train", str(CONFIGS / "ch6_shallow.yaml"), "--set", f"data={mnist_slice}", *SETTINGS]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, args) -> Path:
    """The same training, never failed."""
    runs = tmp_path_factory.mktemp("reference")
    assert run_cli([*args, "--runs-dir", str(runs), "--quiet"]) == 0
    (run,) = run_dirs(runs)
    return run


class Disk:
    """The disk under files.write_bytes: it fills when `fills(file, epochs)` first says so
    (`file`: the name being written, `epochs`: the lines in that run's metrics.jsonl), and
    stays full until free() (or, `once`, for that one write)."""

    def __init__(self, monkeypatch, fills, once=False):
        self.fills, self.once = fills, once
        self.full = False
        self.filled_at = None  # (file, epochs) of the first write refused
        self.real = files.write_bytes
        monkeypatch.setattr(files, "write_bytes", self.write)

    def write(self, fd, data):
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        # A temporary file `.<name>.<random>` is written for <name>
        name = path.name[1:].rsplit(".", 1)[0] if path.name.startswith(".") else path.name
        metrics = path.parent / "metrics.jsonl"
        epochs = metrics.read_text().count("\n") if metrics.exists() else 0
        if self.filled_at is None and self.fills(name, epochs):
            self.full, self.filled_at = True, (name, epochs)
        if not self.full:
            return self.real(fd, data)
        if self.once:
            self.full = False
        os.write(fd, data[:len(data) // 2])  # what fitted
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def free(self):
        self.full = False
        self.fills = lambda name, epochs: False


def metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("seconds")
    return rows


def assert_same_result(run: Path, reference: Path) -> None:
    """Identical metrics (timings aside), best model, predictions and summary."""
    assert metrics(run) == metrics(reference)
    a, b = read_json(run / "summary.json"), read_json(reference / "summary.json")
    for key in ("status", "epochs_completed", "best_validation_accuracy", "best_epoch", "test_accuracy"):
        assert a[key] == b[key], key
    assert "error" not in a
    ours, theirs = (torch.load(r / "model.pt", weights_only=True) for r in (run, reference))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert np.array_equal(np.load(run / "test_predictions.npy"), np.load(reference / "test_predictions.npy"))


def leftovers(run: Path) -> list[str]:
    return [p.name for p in run.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_disk_that_fills_and_stays_full_ends_in_one_line_and_resumes_exactly(tmp_path, monkeypatch, cli, args,
                                                                               reference):
    """The checkpoint of epoch 2 is refused, and so is everything after it: summary.json
    cannot say `failed`, so readers see the run as stopped (its lock is free)."""
    disk = Disk(monkeypatch, lambda name, epochs: name == "checkpoint.pt" and epochs == 1)
    result = cli(*args, "--runs-dir", tmp_path)
    (run,) = run_dirs(tmp_path)
    assert result.returncode == 1 and disk.filled_at == ("checkpoint.pt", 1)
    assert one_line(result.stderr) == (
        f"error: training failed in epoch 2: no space left on device writing {run}/checkpoint.pt; epoch 1 "
        f"is saved in {run} (summary.json could not be updated: report and resume see it as stopped); free "
        f"some space on the disk that holds {run}, then resume with: nnbook train --resume {run}")
    assert leftovers(run) == []
    assert len(metrics(run)) == 1 and (run / "metrics.jsonl").read_text().endswith("}\n")
    assert torch.load(run / "checkpoint.pt", weights_only=True)["epoch"] == 1
    on_disk = read_json(run / "summary.json")
    assert on_disk["status"] == "running" and on_disk["epochs_completed"] == 1
    assert read_summary(run).status == "stopped"  # the process that wrote `running` holds no lock

    disk.free()
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming after epoch 1 of {EPOCHS}" in resumed.stdout
    assert_same_result(run, reference)
    assert leftovers(run) == []


@pytest.fixture
def small_disk(tmp_path, reference):
    """A tmpfs with room for a run's first epoch and not for its second: the reference run's
    files after one epoch (each a whole number of pages), and 24 pages more, less than the
    temporary file of the second checkpoint needs. Skipped where no tmpfs can be mounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8); the full disk is tested through files.write_bytes")
    page = os.sysconf("SC_PAGE_SIZE")
    first_epoch = [p for p in reference.iterdir() if p.name not in ("checkpoint.prev.pt", ".lock")]
    pages = sum(-(-p.stat().st_size // page) for p in first_epoch) + 24
    disk = tmp_path / "disk"
    disk.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={pages * page}", "tmpfs", str(disk)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({made.stderr.strip()}); the full disk is tested through "
                    "files.write_bytes")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_real_full_disk_ends_in_one_line_and_resumes_exactly_once_space_is_freed(small_disk, cli, args,
                                                                                   reference):
    runs = small_disk / "runs"
    result = cli(*args, "--runs-dir", runs)
    (run,) = run_dirs(runs)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith(f"error: training failed in epoch 2: no space left on device writing {run}/")
    assert f"epoch 1 is saved in {run}; free some space on the disk that holds {run}" in line
    assert line.endswith(f"then resume with: nnbook train --resume {run}")
    assert leftovers(run) == [] and len(metrics(run)) == 1
    summary = read_json(run / "summary.json")  # the failed write's temporary file is gone: room for this
    assert summary["status"] == "failed" and summary["error"].startswith("no space left on device writing ")

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference)


@pytest.mark.parametrize("refused", ["checkpoint.pt", "metrics.jsonl", "test_predictions.npy"])
def test_one_failed_write_marks_the_run_failed_and_it_resumes_exactly(tmp_path, monkeypatch, cli, args,
                                                                      reference, refused):
    """One write refused half-way (the disk was full for a moment): summary.json still says
    why, the half-written file is gone (or cut back to whole lines), and resuming gives
    the same run as one that never failed."""
    before = {}

    def fills(name, epochs):
        if name == refused and epochs >= 1:
            before["model"] = (run_dirs(tmp_path)[0] / "model.pt").read_bytes()
            return True
        return False

    disk = Disk(monkeypatch, fills, once=True)
    result = cli(*args, "--runs-dir", tmp_path)
    (run,) = run_dirs(tmp_path)
    assert result.returncode == 1 and disk.filled_at is not None, result.stderr
    n = disk.filled_at[1]  # the epochs completed when the write was refused
    cause = f"no space left on device writing {run}/{refused}"
    assert one_line(result.stderr).startswith(f"error: training failed in epoch {n + 1}: {cause}; ")
    assert f"then resume with: nnbook train --resume {run}" in result.stderr
    summary = read_json(run / "summary.json")
    assert summary["status"] == "failed" and summary["error"] == cause
    assert summary["epochs_completed"] == n == len(metrics(run))
    assert leftovers(run) == [] and (run / "metrics.jsonl").read_text().endswith("}\n")
    if refused == "test_predictions.npy":  # the best model and its predictions are replaced together or not at all
        assert (run / "model.pt").read_bytes() == before["model"]

    disk.free()
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference)


@pytest.mark.parametrize("error, cause, advice, resume", [
    (MemoryError(), "out of memory", "free memory (close other programs", True),
    (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
     "out of memory on the GPU (CUDA out of memory. Tried to allocate 2.00 GiB)", "nvidia-smi", False),
    (ValueError("a display that breaks"), "ValueError: a display that breaks", "`nnbook --debug` shows", False),
])
def test_out_of_memory_or_an_exception_in_a_callback_ends_in_one_line(tmp_path, monkeypatch, cli, args, reference,
                                                                       error, cause, advice, resume):
    from nnbook.ui.train_display import TrainDisplay

    shown = TrainDisplay.epoch

    def epoch(self, report):
        if report.epoch == 2:
            raise error
        return shown(self, report)

    monkeypatch.setattr(TrainDisplay, "epoch", epoch)
    result = cli(*args, "--runs-dir", tmp_path)
    (run,) = run_dirs(tmp_path)
    assert result.returncode == 1
    line = one_line(result.stderr)
    # epoch 2's files were written before the display was told of it
    assert line.startswith(f"error: training failed in epoch 3: {cause}; epochs 1-2 are saved in {run}; ")
    assert advice in line and line.endswith(f"then resume with: nnbook train --resume {run}")
    summary = read_json(run / "summary.json")
    assert summary["status"] == "failed" and summary["error"] == cause and summary["epochs_completed"] == 2
    if not resume:  # resuming a failed run is the same for every cause
        return
    monkeypatch.setattr(TrainDisplay, "epoch", shown)
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_result(run, reference)


def test_debug_shows_the_cause_with_its_traceback(tmp_path, monkeypatch, cli, args):
    Disk(monkeypatch, lambda name, epochs: name == "checkpoint.pt")
    with pytest.raises(TrainingFailed) as failed:  # `run` re-raises under --debug: Python prints the chain
        cli(*args, "--set", "epochs=1", "--runs-dir", tmp_path, env={"NNBOOK_DEBUG": "1"})
    assert isinstance(failed.value.__cause__, OSError) and failed.value.__cause__.errno == errno.ENOSPC


def test_a_failure_before_training_names_its_cause(tmp_path, monkeypatch, cli, args):
    """The disk is full from the start: not even a run directory can be made."""
    Disk(monkeypatch, lambda name, epochs: True)
    result = cli(*args, "--runs-dir", tmp_path)
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("error: training failed before it began: no space left on device writing ")
    assert line.endswith("then train it again") and "free some space" in line
    assert run_dirs(tmp_path) == []  # the half-made directory (no summary.json) is removed


def test_describe_failure_names_the_cause_in_one_line():
    assert describe_failure(OSError(errno.EROFS, os.strerror(errno.EROFS), "runs/x/summary.json")) == (
        "read-only file system writing runs/x/summary.json")
    assert describe_failure(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                                         "8 GB\nmore")) == ("out of memory (DefaultCPUAllocator: can't allocate "
                                                            "memory: you tried to allocate 8 GB)")
    assert describe_failure(NnbookError("a message of nnbook's own")) == "a message of nnbook's own"
    assert describe_failure(KeyError("x")) == "KeyError: 'x'"


# ----------------------------------------------------------------------------- a run whose process is gone


@pytest.fixture
def finished_run(tmp_path, cli, args) -> Path:
    result = cli(*args, "--set", "epochs=1", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path / "runs")
    return run


def held(run: Path):
    """The run's lock, held as another process's training would hold it (a second open file)."""
    fd = os.open(run / ".lock", os.O_RDONLY | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def set_status(run: Path, status: str) -> None:
    summary = read_json(run / "summary.json")
    (run / "summary.json").write_text(json.dumps({**summary, "status": status}))


def test_running_with_a_free_lock_reads_as_stopped_and_resumes(finished_run, cli):
    run = finished_run
    set_status(run, "running")  # as a killed process, or a disk too full to say why, leaves it
    assert read_summary(run).status == "stopped"
    fd = held(run)
    try:
        assert read_summary(run).status == "running"  # someone trains it right now
        busy = cli("train", "--resume", run)
        assert busy.returncode == 1 and "is being trained by another nnbook process" in busy.stderr
    finally:
        os.close(fd)
    (run / ".lock").unlink()  # left by the holder above: nothing trains the run now
    assert read_summary(run).status == "stopped"
    ensemble = cli("ensemble", run, run)  # readers see it as stopped, not as still training
    assert ensemble.returncode == 2 and ensemble.stdout == ""  # one line, on stderr: what was skipped and why
    assert f"skipped {run}: unfinished (status stopped, 1 epochs)" in ensemble.stderr
    resumed = cli("train", "--resume", run)
    assert resumed.returncode == 0, resumed.stderr
    assert read_json(run / "summary.json")["status"] == "completed"


def test_a_released_lock_file_is_gone_and_a_stale_open_of_it_locks_nothing(tmp_path):
    path = tmp_path / ".lock"
    fd = files.hold_lock(path)
    stale = os.open(path, os.O_RDONLY)  # another process opened it just before the holder let go
    files.release_lock(fd, path)
    assert not path.exists() and not files.is_held(path)
    fcntl.flock(stale, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the removed file's lock, which no name leads to ...
    try:
        again = files.hold_lock(path)  # ... so a new holder makes the file anew and holds it
        assert files.is_held(path) and not files._is_named(stale, path)
        files.release_lock(again, path)
    finally:
        os.close(stale)


def test_resume_takes_the_lock_before_it_reads_the_status(finished_run, cli):
    """Held by another process, a run is not to be read as it was: even `completed` may be
    about to change (another resume of it repairing its files)."""
    fd = held(finished_run)
    try:
        result = cli("train", "--resume", finished_run)
    finally:
        os.close(fd)
    assert result.returncode == 1 and "is being trained by another nnbook process" in result.stderr
    assert "already completed" not in result.stdout
    again = cli("train", "--resume", finished_run)
    assert again.returncode == 0 and "already completed" in again.stdout


# ----------------------------------------------------------------------------- files as others can read them


def test_every_file_honours_the_umask(tmp_path, cli, args, mnist_slice):
    """0640 under umask 027: neither mkstemp's 0600 nor a mode of nnbook's own choosing."""
    before, mode = os.umask(0o027), 0o640
    try:
        result = cli(*args, "--set", "epochs=2", "--repeats", "2", "--runs-dir", tmp_path)
        assert result.returncode == 0, result.stderr
        runs = run_dirs(tmp_path)
        ensemble = cli("ensemble", *runs, "--out", tmp_path / "ensemble", "--runs-dir", tmp_path)
        assert ensemble.returncode == 0, ensemble.stderr
        sweep = cli("sweep", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=500",
                    "--set", "epochs=1", "--set", "device=cpu", "--grid", "lmbda=0", "--runs-dir", tmp_path / "sweep",
                    "--quiet")
        assert sweep.returncode == 0, sweep.stderr
    finally:
        os.umask(before)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"summary.json", "config.yaml", "metrics.jsonl", "model.pt", "checkpoint.pt",
                                         "test_predictions.npy", "ensemble.json", "ch6_shallow.sweep.md"}
    assert {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in written
            if p.stat().st_mode & 0o777 != mode} == {}


# ----------------------------------------------------------------------------- the Ray executor's copy-back


def summary_of(group) -> bytes:
    return (json.dumps({"name": "x", "seed": 0, "status": "interrupted", "group": group}, indent=2) + "\n").encode()


def test_a_copied_back_stack_never_lands_in_an_existing_run_and_its_members_still_name_each_other(tmp_path,
                                                                                                 monkeypatch):
    from nnbook.runs import transfer

    monkeypatch.setattr(transfer, "SUFFIXES", 3)  # ``, `-r1`, `-r2`
    for name in ("x", "x-r1", "x-r2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("theirs")
    stack = {"x": {"summary.json": summary_of(["x", "x-1"]), "config.yaml": b"name: x\n"},
             "x-1": {"summary.json": summary_of(["x", "x-1"]), "config.yaml": b"name: x\n"}}
    with pytest.raises(NnbookError, match="cannot copy the runs x, x-1 back"):
        write_stack_files(tmp_path, stack)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x", "x-r1", "x-r2"]
    assert all(sorted(q.name for q in p.iterdir()) == ["summary.json"] and (p / "summary.json").read_text()
               == "theirs" for p in tmp_path.iterdir())
    (tmp_path / "x-r1" / "summary.json").unlink()
    (tmp_path / "x-r1").rmdir()
    # `x-r1` is free, `x-1-r1` too: both members get -r1, and each summary's group says so
    assert write_stack_files(tmp_path, stack) == [tmp_path / "x-r1", tmp_path / "x-1-r1"]
    for name in ("x-r1", "x-1-r1"):
        assert json.loads((tmp_path / name / "summary.json").read_text())["group"] == ["x-r1", "x-1-r1"]
        assert (tmp_path / name / "config.yaml").read_bytes() == b"name: x\n"


def test_a_stack_written_back_cut_short_anywhere_leaves_its_members_a_common_checkpoint(tmp_path, monkeypatch):
    """write_back replaces a resumed stack's files in an order that, stopped after any file, leaves
    every member the old checkpoint or the new one's previous: the epoch a resume picks up."""
    from nnbook.runs import transfer

    def files(epoch):
        return {"checkpoint.prev.pt": f"{epoch - 1}".encode(), "checkpoint.pt": f"{epoch}".encode(),
                "metrics.jsonl": f"{epoch}".encode(), "summary.json": f"{epoch}".encode()}

    names = ["x", "x-1", "x-2"]
    writes = 4 * len(names)
    for cut in range(writes + 1):
        for name in names:
            (tmp_path / name).mkdir(parents=True, exist_ok=True)
            for file_name, data in files(5).items():
                (tmp_path / name / file_name).write_bytes(data)
        done = []

        def write_until_cut(path, data, done=done, cut=cut):
            if len(done) == cut:
                raise OSError("cut")
            done.append(path)
            path.write_bytes(data)

        monkeypatch.setattr(transfer, "atomic_write", write_until_cut)
        try:
            transfer.write_back(tmp_path, {name: files(9) for name in names})
        except OSError:
            assert cut < writes
        epochs = [{int((tmp_path / n / f).read_text()) for f in ("checkpoint.prev.pt", "checkpoint.pt")} for n in names]
        assert set.intersection(*epochs), (cut, epochs)
        summaries = {(tmp_path / n / "summary.json").read_text() for n in names}
        assert summaries == ({"9"} if cut == writes else {"5"} if cut < writes - 2 else {"5", "9"})


def test_a_copy_back_that_fails_leaves_nothing(tmp_path, monkeypatch):
    Disk(monkeypatch, lambda name, epochs: name == "summary.json")
    with pytest.raises(OSError):
        write_stack_files(tmp_path, {"x": {"summary.json": b"{}", "config.yaml": b"name: x\n"}})
    assert list(tmp_path.iterdir()) == []
