"""`data: mnist_expanded` makes the expanded set on first use, once, even with two
processes asking at the same moment; a directory where it cannot be made gets one line
naming it and the way out."""

import fcntl
import threading

import pytest

from nnbook.data import mnist
from nnbook.errors import NnbookError


def test_a_second_process_waits_for_the_first_and_reuses_its_file(tmp_path):
    lock = open(tmp_path / f".{mnist.EXPANDED_FILE}.lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)  # "another process" is making the file
    said, found, spoke = [], [], threading.Event()

    def say(message):
        said.append(message)
        spoke.set()

    waiter = threading.Thread(target=lambda: found.append(mnist.make_expanded_on_first_use(tmp_path, say)),
                              daemon=True)
    waiter.start()
    # It says it waits before it blocks on the lock: wait for that message, however slow the machine.
    assert spoke.wait(timeout=120), "no message from the waiting side in 120 s"
    assert said == [f"waiting for another nnbook process that is making {tmp_path / mnist.EXPANDED_FILE} ..."]
    assert waiter.is_alive() and found == []  # still waiting: the lock is held
    target = tmp_path / mnist.EXPANDED_FILE
    target.write_bytes(b"made by the other process")  # it renames its finished file into place, then unlocks
    fcntl.flock(lock, fcntl.LOCK_UN)
    waiter.join(timeout=120)
    assert not waiter.is_alive(), "still waiting 120 s after the lock was released"
    assert found == [target] and target.read_bytes() == b"made by the other process"
    assert len(said) == 1  # it made nothing itself
    lock.close()


def test_an_unusable_data_directory_names_itself_and_the_way_out(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with pytest.raises(NnbookError) as e:
        mnist.resolve_data_path("mnist_expanded", blocked / "data")
    message = str(e.value)
    assert "cannot be made there" in message and str(blocked / "data") in message
    assert "--data-dir" in message and "NNBOOK_DATA" in message and "\n" not in message
