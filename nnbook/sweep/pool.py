"""The local executor on several devices (GPUs): a pool of worker processes, one per device, one job each.

Each job in flight is a fresh interpreter (spawn: forking a process that may hold
CUDA state is unsafe) that trains its job silently on its own device and sends
back the job's outcome; the driver streams the jobs (jobs.stream_jobs) and the
sweep display shows a line per finished job.

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

from nnbook.errors import Interrupted
from nnbook.experiments.display import Silent
from nnbook.experiments.failures import describe_failure
from nnbook.experiments.interrupts import EXIT_CODES, ForcedExit, Interrupt, catch_interrupts
from nnbook.sweep.jobs import INTERRUPTED_SWEEP, Outcome, stream_jobs, train_job
from nnbook.sweep.plan import Job

GRACE = 10.0  # seconds a worker has to stop after a second signal before it is killed


def run_on_devices(jobs: list[Job], runs_dir: Path, data_dir, display, fail_fast: bool,
                   devices: list[str]) -> list[Outcome]:
    """Train the jobs, one worker per device at a time; see the module's docstring for signals."""
    workers = Workers(runs_dir, data_dir, devices)
    with catch_interrupts() as interrupts:
        outcomes: list[Outcome] = []
        try:
            outcomes = stream_jobs(jobs, lambda: len(devices), lambda job: workers.submit(job, interrupts),
                                   workers.wait_one, workers.collect, lambda handles: None, display, fail_fast)
        except (Interrupted, KeyboardInterrupt):  # the first signal (stream_jobs makes it Interrupted)
            if interrupts.received is None:
                raise
        finally:
            workers.wind_down(interrupts)  # passes a signal on; waits for what --fail-fast left running
        if interrupts.received is not None:  # also a signal that came while winding down
            raise Interrupted(INTERRUPTED_SWEEP, EXIT_CODES.get(interrupts.received, 130))
    return outcomes


class Workers:
    """The worker processes, each with the pipe its outcome comes back on."""

    def __init__(self, runs_dir: Path, data_dir, devices: list[str]):
        self.context = multiprocessing.get_context("spawn")
        self.free = list(devices)
        self.threads = max(1, (os.cpu_count() or 1) // len(devices))  # never oversubscribe the cores
        self.runs_dir, self.data_dir = str(runs_dir), data_dir
        self.started: list = []  # every worker process, to wait for at the end
        self.pipes: dict = {}  # worker -> (the end its outcome arrives on, its device), until collected

    def submit(self, job: Job, interrupts):
        device = self.free.pop(0)
        receive, send = self.context.Pipe(duplex=False)
        worker = self.context.Process(target=work, name=f"nnbook-sweep-{device}", daemon=True,
                                      args=(send, job.config, self.runs_dir, self.data_dir, device, self.threads))
        with interrupts.protected():  # a signal now waits until the worker is known, so it is passed on
            worker.start()
            self.started.append(worker)
            self.pipes[worker] = (receive, device)
        send.close()  # the worker's end: the pipe reads as closed once the worker is gone
        return worker

    def wait_one(self, handles):
        by_pipe = {self.pipes[w][0]: w for w in handles}
        ready = multiprocessing.connection.wait(list(by_pipe))  # an outcome, or a worker gone without one
        return by_pipe[ready[0]]

    def collect(self, worker, job: Job) -> Outcome:
        receive, device = self.pipes.pop(worker)
        try:
            kind, value = receive.recv()
        except (EOFError, OSError):
            kind, value = "crashed", None
        receive.close()
        worker.join()
        self.free.append(device)
        if kind == "done":
            paths, error = value
            return Outcome.of(job, paths, error, where=device)
        return Outcome(job, [], value or f"the worker on {device} ended without a result ({exit_text(worker)})",
                       where=device)

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


def work(results, config, runs_dir: str, data_dir, device: str, threads: int) -> None:
    """A worker process: train one job on `device` and send ("done", (paths, error)) back, or
    ("stopped" | "crashed", why)."""
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
        outcome = ("done", train_job(config.model_copy(update={"device": device}), Path(runs_dir), data_dir,
                                     Silent()))
    except (Interrupted, KeyboardInterrupt, ForcedExit) as e:
        outcome = ("stopped", str(e) or type(e).__name__)
    except BaseException as e:  # noqa: BLE001 - whatever it was, the driver reports it as this job's failure
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
