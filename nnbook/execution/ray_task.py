"""What travels to a Ray node and what it does there: train one stack, or continue a stopped one.

A task gets a `TaskSpec`. It trains in a temporary runs directory on its node and
returns every run directory there as bytes (runs/transfer.py); the driver writes
them into its own runs directory (ray_cluster.py). A stopped stack travels with its
task (`Shipped`: its runs as bytes, taken under the driver's locks), is written
under the same names in the temporary directory and continued there from its
leader, as `nnbook train --resume` continues it (stack.resume_stack); the driver
writes the result back over the directories it came from.

Ctrl-C: the driver cancels each running task without force, which Ray delivers to
the task as a SIGINT. The training takes it as it takes one at a terminal
(experiments/interrupts.py): the epoch in progress is dropped, every finished epoch
is kept and the runs end `interrupted`. Ray drops a cancelled task's return value,
so the task hands its runs to the driver's `Inbox` actor before it ends.

Nothing here imports Ray or torch at module level: the driver imports this module
without either loaded, the worker brings both.
"""

from __future__ import annotations

import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.config import Config
from nnbook.errors import Interrupted
from nnbook.execution.stack import Dirs, resume_stack, train_stack
from nnbook.experiments.display import Silent
from nnbook.runs.directory import is_run_dir, read_summary
from nnbook.runs.transfer import RunFiles, run_files, write_stack_files


@dataclass(frozen=True)
class Shipped:
    """A stopped stack on its way to a node: its runs' files by directory name, and which is the leader."""

    leader: str
    runs: dict[str, RunFiles]


@dataclass(frozen=True)
class TaskSpec:
    """One task's work: the stack's shared config and its members' own (stack.Stack.config and
    .configs), where the node finds the data (None: its default), its torch threads, and the
    stopped stack to continue instead of training the members from the start."""

    config: Config
    members: list[Config]
    data_dir: Optional[str]
    threads: int
    resume: Optional[Shipped] = None


@dataclass(frozen=True)
class TaskResult:
    """What comes back: the runs' files by directory name, the stack's failure (None: trained,
    or interrupted), and the node's host name."""

    runs: dict[str, RunFiles]
    error: Optional[str]
    node: str


def ship(leader: Path) -> Shipped:
    """The stopped stack that `leader` leads, as bytes (the caller holds its runs' locks)."""
    names = read_summary(leader).group or [leader.name]
    return Shipped(leader.name, {name: run_files(leader.parent / name) for name in names})


class Inbox:
    """A Ray actor of the driver's (ray_cluster.py makes it remote): which tasks have begun, and the
    runs of those that were stopped, by the key the driver gave each task."""

    def __init__(self):
        self.started: set[int] = set()
        self.kept: dict[int, TaskResult] = {}

    def begin(self, key: int) -> None:
        self.started.add(key)

    def keep(self, key: int, result: TaskResult) -> None:
        self.kept[key] = result

    def take(self) -> tuple[set[int], dict[int, TaskResult]]:
        """The tasks begun so far, and the runs kept since the last take."""
        kept, self.kept = self.kept, {}
        return set(self.started), kept


def train_task(spec: TaskSpec, inbox, key: int) -> TaskResult:
    """Runs on a Ray worker: train (or continue) one stack in a temporary runs directory and return
    its runs; stopped, hand them to `inbox` under `key` first."""
    import ray  # deferred: the worker's
    import torch

    inbox.begin.remote(key)  # a stopped task that had begun has runs to hand back: the driver waits for them
    torch.set_num_threads(spec.threads)  # the CPUs this task declared: tasks side by side never oversubscribe
    # A worker process outlives its task: leave it the signal handlers it had, not training's.
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with tempfile.TemporaryDirectory(prefix="nnbook-ray-") as tmp:
            dirs = Dirs(Path(tmp), spec.data_dir)
            try:
                if spec.resume is not None:
                    write_stack_files(dirs.runs_dir, spec.resume.runs)  # same names: the directory is empty
                    _, error = resume_stack(dirs.runs_dir / spec.resume.leader, dirs, Silent())
                else:
                    _, error = train_stack(spec.config, dirs, Silent(), spec.members)
            except (Interrupted, KeyboardInterrupt):
                ray.get(inbox.keep.remote(key, result_of(dirs.runs_dir, None)))
                raise
            return result_of(dirs.runs_dir, error)
    finally:
        for s, handler in handlers.items():
            if handler is not None:
                signal.signal(s, handler)


def result_of(runs_dir: Path, error: Optional[str]) -> TaskResult:
    """Every run directory under `runs_dir` as bytes (a directory with no summary.json yet is no run)."""
    runs = {p.name: run_files(p) for p in sorted(Path(runs_dir).iterdir()) if is_run_dir(p)}
    return TaskResult(runs, error, socket.gethostname())
