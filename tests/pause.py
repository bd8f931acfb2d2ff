"""`python -m tests.pause STEP ARGS...`: `python -m nnbook ARGS...` that stops itself
(SIGSTOP) just before its STEP-th training step (mini-batch), counted from 1 over the
process, and goes on when it is sent SIGCONT.

For tests that signal a training at a moment chosen in advance. A training that the test
freezes once it sees some file may, on a slow or loaded machine, have run on for any number
of epochs by then; one that stops itself stops exactly there, however late the test looks.
The test waits for the stop (`wait_until_stopped`), checks the files, sends its signal and
continues the process, which then takes the signal before that step.

The step is counted by wrapping what `nnbook.training.loop.make_step` returns, the object
the loop calls once per mini-batch; nothing else in nnbook changes. `before_step` is that
counter for a test's own process, where a training stopped by Ctrl-C at a chosen step needs
no second process (tests/test_packed_members.py).
"""

from __future__ import annotations

import os
import runpy
import signal
import subprocess
import sys
import time
from typing import Callable


def before_step(n: int, action: Callable[[], None]) -> Callable:
    """What to put in place of `nnbook.training.loop.make_step` so that `action()` runs just
    before the n-th training step (mini-batch) taken from then on, counted from 1 over the process:
    stopping the process (`stop_before_step`), or, in a test's own process, raising the `Interrupt`
    that a Ctrl-C raises there (monkeypatch it in, so that it is undone after the test)."""
    from nnbook.training import loop

    make_step = loop.make_step
    taken = [0]

    class Counted:
        """The loop's step, counted; anything else it is asked for is the step's own."""

        def __init__(self, step):
            self._step = step

        def __getattr__(self, name):
            return getattr(self._step, name)

        def __call__(self, *args, **kwargs):
            taken[0] += 1
            if taken[0] == n:
                action()
            return self._step(*args, **kwargs)

    return lambda *args, **kwargs: Counted(make_step(*args, **kwargs))


def stop_before_step(n: int) -> None:
    from nnbook.training import loop

    loop.make_step = before_step(n, lambda: os.kill(os.getpid(), signal.SIGSTOP))


def wait_until(proc: subprocess.Popen, ready, what: str, timeout: float = 300) -> None:
    """Return once ready() holds, polling up to `timeout` s; fail the test if `proc` ends first
    or the time runs out (then it is killed)."""
    import pytest  # the test's side only

    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"training ended before {what}: rc {proc.returncode}\n{out}\n{err}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout} s")
        time.sleep(0.01)


def wait_until_stopped(proc: subprocess.Popen, timeout: float = 300) -> None:
    """Return once `proc` is stopped (SIGSTOP), however long that takes up to `timeout` s.
    waitid(WNOWAIT) reaps nothing, and poll() does not see a stop: Popen still collects the exit."""

    def stopped() -> bool:
        info = os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        return info is not None and info.si_code == os.CLD_STOPPED

    wait_until(proc, stopped, "its stop", timeout)


if __name__ == "__main__":
    stop_before_step(int(sys.argv[1]))
    sys.argv = ["nnbook", *sys.argv[2:]]
    runpy.run_module("nnbook", run_name="__main__", alter_sys=True)
