"""The pure pieces of interruption and resume: signal handling, config differences,
the choice of the epoch to resume, atomic files."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nnbook import files
from nnbook.errors import NnbookError
from nnbook.files import atomic_text, atomic_write
from nnbook.runs.directory import Run, check_runs_dir
from nnbook.experiments.interrupts import ForcedExit, Interrupt, Interrupts, catch_interrupts
from nnbook.runs.records import Summary
from nnbook.experiments.resume import common_epoch, config_changes

from .cli import ROOT, default_signals


def test_first_signal_interrupts_second_forces_exit():
    state = Interrupts()
    with pytest.raises(Interrupt) as first:
        state.handle(signal.SIGTERM)
    assert first.value.exit_code == 143 and str(first.value) == "SIGTERM"
    assert isinstance(first.value, KeyboardInterrupt)
    with pytest.raises(ForcedExit) as second:
        state.handle(signal.SIGINT)
    assert second.value.exit_code == 130 and not isinstance(second.value, Exception)


def test_a_signal_inside_protected_waits_for_the_block_to_end():
    state = Interrupts()
    written = []
    with pytest.raises(Interrupt):
        with state.protected():
            state.handle(signal.SIGINT)  # held back: the epoch's files are written whole
            written.append("checkpoint")
            with state.protected():  # nested blocks raise only at the outermost end
                written.append("metrics")
            written.append("summary")
    assert written == ["checkpoint", "metrics", "summary"]
    assert not state.pending


def test_a_second_signal_inside_protected_goes_through_at_once():
    state = Interrupts()
    written = []
    with pytest.raises(ForcedExit):
        with state.protected():
            state.handle(signal.SIGINT)
            state.handle(signal.SIGINT)
            written.append("never")
    assert written == []


@pytest.mark.parametrize("int_before, term_before", [
    (signal.default_int_handler, signal.SIG_IGN),  # a terminal's Ctrl-C; SIGTERM ignored (nohup-like)
    (signal.SIG_IGN, signal.SIG_DFL),  # a background job of a script: SIGINT inherited as ignored
])
def test_handlers_are_installed_and_restored_and_ignored_signals_stay_ignored(int_before, term_before):
    """Each disposition is set here, not inherited: pytest itself may run with SIGINT ignored
    (a background job), and what the test means must not depend on how it was started."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, int_before)
    signal.signal(signal.SIGTERM, term_before)
    try:
        with catch_interrupts() as state:
            for s, before in ((signal.SIGINT, int_before), (signal.SIGTERM, term_before)):
                expected = signal.SIG_IGN if before is signal.SIG_IGN else state.handle
                assert signal.getsignal(s) == expected, signal.Signals(s).name
        assert signal.getsignal(signal.SIGINT) == int_before
        assert signal.getsignal(signal.SIGTERM) == term_before
    finally:
        for s, handler in saved.items():  # what this process had, whatever that was
            signal.signal(s, handler)


# A process that takes a first signal inside catch_interrupts, then a second one after the block:
# the second must end it at once with the shell's code, unwinding nothing (no `finally`, no traceback).
AFTER_A_SIGNAL = textwrap.dedent("""
    import os, signal, sys, time
    from nnbook.experiments.interrupts import Interrupt, catch_interrupts

    try:
        with catch_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # the handler raises at once
    except Interrupt:
        print("stopped cleanly", flush=True)
    try:
        os.kill(os.getpid(), signal.{second})
        time.sleep(5)
    finally:
        print("unwound", flush=True)
    sys.exit(3)
""")


@pytest.mark.parametrize("second, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_after_a_signal_a_further_one_ends_the_process_at_once(second, code):
    result = subprocess.run([sys.executable, "-c", AFTER_A_SIGNAL.format(second=second)], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=60, preexec_fn=default_signals)
    assert result.returncode == code
    assert result.stdout == "stopped cleanly\n" and result.stderr == ""


def test_config_changes_name_every_difference_with_dotted_keys():
    old = {"eta": 0.1, "epochs": 60, "device": "auto", "layers": [{"type": "fc", "units": 100}],
           "early_stopping": None}
    new = {"eta": 0.05, "epochs": 60, "device": "cuda", "layers": [{"type": "fc", "units": 30}],
           "early_stopping": {"patience": 5}}
    assert config_changes(old, new) == ["eta: 0.1 -> 0.05", "layers.0.units: 100 -> 30",
                                        "early_stopping: null -> {'patience': 5}"]
    assert config_changes(old, dict(old)) == []
    assert config_changes(old, {**old, "layers": []}) == ["layers: [{'type': 'fc', 'units': 100}] -> []"]


def ckpt(epoch, status=None):
    return {"epoch": epoch, "status": status, "metrics": [{"epoch": e} for e in range(1, epoch + 1)]}


def test_common_epoch_is_the_newest_every_member_has():
    runs = [None, None]
    # The kill came after member 0 wrote epoch 3 and before member 1 did.
    epoch, chosen = common_epoch(runs, [[ckpt(3), ckpt(2)], [ckpt(2), ckpt(1)]])
    assert epoch == 2 and [c["epoch"] for c in chosen] == [2, 2]
    # Member 1 stopped early after epoch 2; it goes on frozen in the stack.
    epoch, chosen = common_epoch(runs, [[ckpt(5), ckpt(4)], [ckpt(2, "early_stopped"), ckpt(1)]])
    assert epoch == 5 and chosen[1]["status"] == "early_stopped" and chosen[1]["epoch"] == 5
    assert len(chosen[1]["metrics"]) == 2
    # Killed during the first epoch's writes: start again from the initial weights.
    epoch, chosen = common_epoch(runs, [[ckpt(1)], []])
    assert epoch == 0 and chosen == [{}, {}]


def test_atomic_write_keeps_the_previous_version_and_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target, previous = tmp_path / "checkpoint.pt", tmp_path / "checkpoint.prev.pt"
    atomic_write(target, b"epoch 1", keep_previous=previous)
    atomic_write(target, b"epoch 2", keep_previous=previous)
    assert target.read_bytes() == b"epoch 2" and previous.read_bytes() == b"epoch 1"

    def half_then_full(fd, data):  # the disk fills in the middle of the file
        os.write(fd, data[:3])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "write_bytes", half_then_full)
    with pytest.raises(OSError) as failed:
        atomic_write(target, b"epoch 3", keep_previous=previous)
    assert failed.value.errno == errno.ENOSPC and failed.value.filename == str(target)
    assert target.read_bytes() == b"epoch 2" and previous.read_bytes() == b"epoch 1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.prev.pt", "checkpoint.pt"]


def test_runs_dir_must_be_writable(tmp_path):
    check_runs_dir(tmp_path / "new" / "runs")
    assert (tmp_path / "new" / "runs").is_dir() and list((tmp_path / "new" / "runs").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(NnbookError, match="is not writable"):
        check_runs_dir(tmp_path / "file" / "runs")


def test_leftover_temporary_files_are_removed_and_others_kept(tmp_path):
    run = Run(tmp_path, Summary())
    atomic_text(tmp_path / "summary.json", "{}")
    (tmp_path / ".summary.json.abc123").write_text("{")
    (tmp_path / ".lock").write_text("")
    (tmp_path / "notes.txt").write_text("mine")
    assert run.remove_temporary_files() == [".summary.json.abc123"]
    assert sorted(p.name for p in Path(tmp_path).iterdir()) == [".lock", "notes.txt", "summary.json"]


def test_a_checkpoint_with_code_in_it_is_refused(tmp_path):
    """weights_only=True: a pickle that would call a function is an error, never run."""
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    (tmp_path / "checkpoint.pt").write_bytes(pickle.dumps({"epoch": 1, "net": Evil()}, protocol=2))
    with pytest.raises(NnbookError, match="not a readable nnbook checkpoint"):
        Run(tmp_path, Summary()).load_checkpoints()
