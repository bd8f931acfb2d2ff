"""The placement on worker processes of this machine (CPU workers, or one per GPU): a pool of
worker processes, one per device, one stack each.

Each stack in flight is a fresh interpreter (spawn: forking a process that may hold
CUDA state is unsafe) that trains its stack silently on its own device and sends
back the stack's outcome; the driver streams the stacks (stack.stream_stacks) and the
sweep display shows a line per finished stack.

The workers are the driver's alone to stop, so that none is ever left behind:
  - each runs in its own process group, so a Ctrl-C at the terminal reaches the
    driver only, and the driver passes the first SIGINT or SIGTERM it gets on to
    every worker: their runs end `interrupted` (resumable, `nnbook train --resume`)
    and the driver waits for them, then stops with `Interrupted`;
  - a second signal is passed on too (a worker then stops at once, its files whole,
    as experiments/interrupts.py describes), and a worker still there 10 s later is killed;
  - a worker whose driver dies (even by SIGKILL) signals itself, as the driver would have.
A worker started and not yet in its own process group (microseconds) may see a
terminal's Ctrl-C itself as well; it then stops at once, as on a second signal.
torch is imported only in the workers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from pathlib import Path
from typing import Optional

from nnbook.errors import Interrupted
from nnbook.experiments.display import Silent
from nnbook.experiments.failures import describe_failure
from nnbook.experiments.interrupts import EXIT_CODES, ForcedExit, Interrupt, catch_interrupts
from nnbook.execution.placement import default_threads
from nnbook.execution.stack import INTERRUPTED_SWEEP, Dirs, Outcome, Stack, resume_stack, stream_stacks, train_stack

GRACE = 10.0  # seconds a worker has to stop after a second signal before it is killed


def run_on_devices(stacks: list[Stack], dirs: Dirs, display, devices: list[str], threads: Optional[int] = None,
                   fail_fast: bool = False) -> list[Outcome]:
    """Train the stacks, one worker per device at a time (a device may be named more than once:
    CPU workers); see the module's docstring for signals. threads: torch threads per worker
    (default: default_threads() each)."""
    workers = Workers(dirs, devices, threads, display)
    with catch_interrupts() as interrupts:
        workers.interrupts = interrupts
        outcomes: list[Outcome] = []
        try:
            outcomes = stream_stacks(stacks, workers, display, fail_fast)
        except (Interrupted, KeyboardInterrupt):  # the first signal (stream_stacks makes it Interrupted)
            if interrupts.received is None:
                raise
        finally:
            workers.wind_down(interrupts)  # passes a signal on; waits for what --fail-fast left running
        if interrupts.received is not None:  # also a signal that came while winding down
            raise Interrupted(INTERRUPTED_SWEEP, EXIT_CODES.get(interrupts.received, 130))
    return outcomes


class Workers:
    """The worker processes, each with the pipe its outcome comes back on."""

    def __init__(self, dirs: Dirs, devices: list[str], threads: Optional[int] = None, display=None):
        self.context = multiprocessing.get_context("spawn")
        # (slot, device): a device may be named more than once (CPU workers); the slot tells them apart
        self.devices = devices
        self.free = list(enumerate(devices, 1))
        self.interrupts = None  # the driver's signal handlers (catch_interrupts), while it streams
        self.display = display  # gets each worker's epochs (`worker_progress`), when it has that method
        self.outcomes: dict = {}  # worker -> its final message, once read
        self.threads = threads or default_threads()  # a thread each: never more threads than cores
        self.dirs = dirs
        self.started: list = []  # every worker process, to wait for at the end
        self.pipes: dict = {}  # worker -> (the end its outcome arrives on, its device), until collected

    def capacity(self) -> int:
        return len(self.devices)

    def cancel(self, handles) -> None:
        pass  # a worker stops only on a signal (wind_down); --fail-fast lets those running finish

    def submit(self, stack: Stack):
        slot, device = self.free.pop(0)
        receive, send = self.context.Pipe(duplex=False)
        worker = self.context.Process(target=work, name=f"nnbook-worker-{slot}", daemon=True,
                                      args=(send, stack, self.dirs, device, self.threads))
        with self.interrupts.protected():  # a signal now waits until the worker is known, so it is passed on
            worker.start()
            self.started.append(worker)
            self.pipes[worker] = (receive, (slot, device))
        send.close()  # the worker's end: the pipe reads as closed once the worker is gone
        return worker

    def wait_one(self, handles):
        """The next worker to finish; the epochs the workers report meanwhile go to the display."""
        by_pipe = {self.pipes[w][0]: w for w in handles}
        while True:
            for pipe in multiprocessing.connection.wait(list(by_pipe)):  # a message, or a worker gone
                worker = by_pipe[pipe]
                try:
                    message = pipe.recv()
                except (EOFError, OSError):
                    message = ("crashed", None)
                if message[0] != "progress":
                    self.outcomes[worker] = message
                    return worker
                show = getattr(self.display, "worker_progress", None)
                if show is not None:
                    show(self.where(worker), message[1])

    def where(self, worker) -> str:
        slot, device = self.pipes[worker][1]
        return f"worker {slot}" if device == "cpu" else device

    def collect(self, worker, stack: Stack) -> Outcome:
        where = self.where(worker)
        receive, (slot, device) = self.pipes.pop(worker)
        kind, value = self.outcomes.pop(worker, ("crashed", None))
        receive.close()
        worker.join()
        self.free.append((slot, device))
        if kind == "done":
            paths, error = value
            return Outcome.of(stack, paths, error, where=where)
        return Outcome(stack, [], value or f"{where} ended without a result ({exit_text(worker)})", where=where)

    def signal(self, signum: int) -> None:
        for worker in self.started:
            if worker.pid is not None and worker.exitcode is None:
                try:
                    os.kill(worker.pid, signum)
                except ProcessLookupError:
                    pass

    def wind_down(self, interrupts) -> None:
        """Return once no worker is left. After a signal every worker is sent it; after a
        second one the same, and those still there GRACE seconds later are killed; the
        second signal is raised again (ForcedExit) once they are gone."""
        passed_on, forced, deadline = None, None, None
        while True:
            try:
                alive = [w for w in self.started if w.pid is not None and w.exitcode is None]
                if not alive:
                    break
                if interrupts.received is not None and passed_on is None:
                    passed_on = interrupts.received
                    self.signal(passed_on)
                if deadline is not None and time.monotonic() > deadline:
                    for w in alive:
                        w.kill()
                multiprocessing.connection.wait([w.sentinel for w in alive], timeout=0.5)
            except Interrupt:
                continue  # the first signal, come now: passed on at the top of the loop
            except ForcedExit as second:
                forced = forced or second
                self.signal(second.signum)
                deadline = deadline or time.monotonic() + GRACE
        for w in self.started:
            w.join()
        for receive, _ in self.pipes.values():
            receive.close()
        self.pipes.clear()
        if forced is not None:
            raise forced


def exit_text(worker) -> str:
    code = worker.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def work(results, stack: Stack, dirs: Dirs, device: str, threads: int) -> None:
    """A worker process: train one stack on `device` (or resume a stopped stack, on the device it was
    trained on) and send ("done", (paths, error)) back, or ("stopped" | "crashed", why)."""
    try:
        os.setpgid(0, 0)  # its own process group: a Ctrl-C at the terminal reaches the driver only
    except OSError:
        pass
    # The driver's signals must reach the training, even where the driver's own were ignored
    # (a sweep run with nohup: ignored dispositions survive exec).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stop_when_the_driver_dies()
    import torch  # deferred: the worker's own interpreter, not the driver's

    torch.set_num_threads(threads)
    try:
        if stack.resume is not None:
            outcome = ("done", resume_stack(Path(stack.resume), dirs, Relay(results)))
        else:
            on_device = [m.model_copy(update={"device": device}) for m in stack.configs]
            outcome = ("done", train_stack(stack.config.model_copy(update={"device": device}), dirs,
                                           Relay(results), on_device))
    except (Interrupted, KeyboardInterrupt, ForcedExit) as e:
        outcome = ("stopped", str(e) or type(e).__name__)
    except BaseException as e:  # noqa: BLE001 - whatever it was, the driver reports it as this stack's failure
        outcome = ("crashed", describe_failure(e))
    try:
        results.send(outcome)
    except OSError:
        pass  # the driver is gone


def stop_when_the_driver_dies() -> None:
    driver = multiprocessing.parent_process()
    if driver is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([driver.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)  # as the driver would have: the runs end interrupted

    threading.Thread(target=watch, name="nnbook-driver-watch", daemon=True).start()


class Relay(Silent):
    """A worker's training display: each epoch, one line sent to the driver ("progress", text)."""

    def __init__(self, pipe):
        self.pipe, self.epochs, self.name = pipe, 0, ""

    def start(self, config, n_train, env, members, stacks) -> None:
        points = list(dict.fromkeys(m.name for m in members))  # a packed stack names all its points
        self.epochs, self.name = config.epochs, points[0] if len(points) == 1 else " + ".join(points)

    def epoch(self, report) -> None:
        shown = [f"{100 * r.validation_accuracy:.2f}%" for r in report.records if r is not None]
        text = f"{self.name} epoch {report.epoch}/{self.epochs}, validation {', '.join(shown) or '(all stopped)'}"
        try:
            self.pipe.send(("progress", text))
        except OSError:
            pass  # the driver is gone; the runs' files still say everything
