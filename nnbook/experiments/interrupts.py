"""Ctrl-C and SIGTERM while training: stop cleanly once, at once twice.

`catch_interrupts()` installs handlers for SIGINT and SIGTERM for the duration
of a `with` block (and, once a signal came, leaves behind handlers that end the
process at once, so that no later Ctrl-C prints a traceback on the way out):

  - the first signal raises `Interrupt` (a KeyboardInterrupt) where the program
    is, so a long epoch is abandoned straight away. While a `protected()` block
    runs (an epoch's files being written) it is held back and raised when the
    block ends, so the files of one epoch are written all or not at all;
  - a second signal raises `ForcedExit` at once, even inside `protected()`.
    Every file is written to a temporary file and renamed (runs/directory.py), so even
    then nothing on disk is torn: `--resume` picks up from the last checkpoint.

A signal that was ignored when the block began (SIGINT in a background job of
a script, `nohup`) stays ignored. Owns no files and knows nothing of training.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as shells report it


class Interrupt(KeyboardInterrupt):
    """The first SIGINT or SIGTERM: stop, keep what is consistent, say how to resume."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 130)


class ForcedExit(BaseException):
    """A second signal: leave now, writing nothing more. Not an Exception, so that no
    `except Exception` on the way out can swallow it."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = EXIT_CODES.get(signum, 130)


class Interrupts:
    """The state of the installed handlers: which signal came, and whether one waits."""

    def __init__(self) -> None:
        self.received: Optional[int] = None  # the first signal's number
        self.pending = False  # the first signal came inside protected() and is not raised yet
        self._depth = 0  # nesting of protected()

    def handle(self, signum: int, frame=None) -> None:
        if self.received is not None:
            raise ForcedExit(signum)
        self.received = signum
        if self._depth:
            self.pending = True
            return
        raise Interrupt(signum)

    @contextmanager
    def protected(self) -> Iterator[None]:
        """Hold a first signal back until the block ends (a second one still goes through)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.pending:
            self.pending = False
            raise Interrupt(self.received)


@contextmanager
def catch_interrupts() -> Iterator[Interrupts]:
    """Handle SIGINT and SIGTERM as above inside the block; restore the old handlers after it.
    Outside the main thread (where Python cannot install handlers) nothing is installed."""
    state = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield state
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(s, state.handle)
    try:
        yield state
    finally:
        if state.received is not None:
            exit_at_once_on_signals()  # the process is on its way out: a further signal ends it
        else:
            for s, handler in previous.items():
                if handler is not signal.SIG_IGN:
                    signal.signal(s, handler if handler is not None else signal.SIG_DFL)


def exit_at_once_on_signals() -> None:
    """From now on SIGINT and SIGTERM end the process at once, without unwinding: for
    the last moments of a process whose files are all written (interpreter shutdown
    would otherwise show a KeyboardInterrupt traceback)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for s in SIGNALS:
        if signal.getsignal(s) is not signal.SIG_IGN:
            signal.signal(s, lambda signum, frame: os._exit(EXIT_CODES.get(signum, 130)))
