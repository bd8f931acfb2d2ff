"""Stacks trained on this machine: in this process one after another, or on worker processes.

In this process each stack is shown as `nnbook train` shows it; with several visible
GPUs, or CPU workers, pool.py trains one stack per device at once, in worker processes.
A failed stack never stops the others (stack.py). The display comes from the command;
this module shows nothing itself. torch is imported only to count GPUs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from nnbook.config import Config
from nnbook.errors import Interrupted
from nnbook.execution.pool import run_on_devices
from nnbook.execution.stack import INTERRUPTED_SWEEP, Dirs, Experiment, Outcome, Stack, resume_stack, train_stack
from nnbook.records import INTERRUPTED
from nnbook.runs.directory import is_run_dir, read_summary
from nnbook.stacks import in_stacks


def local_devices(config: Config) -> list[str]:
    """One device per visible GPU when there are several and the config lets nnbook
    choose (device auto or cuda); otherwise [] (train in this process, one stack at a time)."""
    if config.device not in ("auto", "cuda"):
        return []
    import torch  # deferred: a CPU sweep (and --help) never loads it here

    n = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else []


def run_local(stacks: list[Stack], dirs: Dirs, display, fail_fast: bool = False,
              devices: Optional[list[str]] = None, threads: Optional[int] = None) -> list[Outcome]:
    """Train the stacks on this machine: in this process one after another, each shown on
    `display.training()` as `nnbook train` shows it; or, given several `devices` (a device
    may be named more than once: ["cpu"] * N is N CPU workers, each with `threads`), one worker
    process per device, with a done / running / failed display. Without `devices`, one per
    visible GPU when there are several."""
    if devices is None:
        devices = local_devices(stacks[0].point.config) if stacks else []
    if len(devices) > 1:
        return run_on_devices(stacks, dirs, display, devices, threads, fail_fast)
    outcomes = []
    for i, stack in enumerate(stacks, 1):
        display.stack_header(i, len(stacks), stack)
        try:
            if stack.resume is not None:  # a stopped stack, continued whole in its own directories
                paths, error = resume_stack(Path(stack.resume), dirs, display.training())
            else:
                paths, error = train_stack(stack.config, dirs, display.training(), stack.configs)
        except (Interrupted, KeyboardInterrupt) as stop:
            raise Interrupted(INTERRUPTED_SWEEP, getattr(stop, "exit_code", 130)) from None
        outcomes.append(Outcome.of(stack, paths, error))
        display.finished(outcomes[-1])
        if error and fail_fast:
            break
    return outcomes


def stacks_of(todo: list[tuple], stacks: list[int], run_seconds: Optional[list[float]] = None) -> list[Stack]:
    """The stacks of `execution/train.train_all`: for each (config, seeds, stopped stacks) of `todo`, a stack per
    stopped stack (experiments/chapter6.StoppedStack: resumed whole) and the seeds cut into stacks of at
    most its entry in `stacks`; in `todo`'s order or, given each config's seconds per run, longest first
    (a stack of k counted as k runs, a stopped stack as its epochs left; equal ones keep their order)."""
    queue = []
    for i, ((config, seeds, stopped), most) in enumerate(zip(todo, stacks)):
        experiment = Experiment(config)
        for old in stopped:
            left = 1 - old.epochs_completed / config.epochs
            queue.append((-run_seconds[i] * len(old.seeds) * left if run_seconds else 0.0,
                          Stack([(experiment, s) for s in old.seeds], resume=old.leader)))
        for piece in in_stacks([(experiment, s) for s in seeds], most):
            queue.append((-run_seconds[i] * len(piece) if run_seconds else 0.0, Stack(piece)))
    return [stack for _, stack in sorted(queue, key=lambda pair: pair[0])]


class ConfigsDone:
    """A sweep display that also calls on_config(config, outcomes) once all of a config's stacks are in."""

    def __init__(self, inner, queue: list[Stack], on_config):
        self.inner, self.on_config = inner, on_config
        self.left: dict[str, tuple] = {}  # experiment's name -> (config, its stacks, their outcomes so far)
        for stack in queue:
            config, n, outcomes = self.left.get(stack.point.name, (stack.point.config, 0, []))
            self.left[stack.point.name] = (config, n + 1, outcomes)

    def finished(self, outcome, running: Optional[int] = None, queued: Optional[int] = None) -> None:
        self.inner.finished(outcome, running=running, queued=queued)
        config, n, outcomes = self.left[outcome.stack.point.name]
        outcomes.append(outcome)
        if len(outcomes) == n:
            self.on_config(config, outcomes)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def resume_hints(runs_dir: Path, name: str, since: str) -> str:
    """How to resume the stacks of `name` that this command left interrupted in runs_dir (their
    directories stamped `since` or later; older runs are not its to name): one command per stack."""
    leaders = []
    for path in sorted(Path(runs_dir).glob(f"{name}-*")):
        if path.name[len(name) + 1:len(name) + 16] < since:
            continue
        try:
            summary = read_summary(path) if is_run_dir(path) else None
        except (OSError, ValueError):
            continue
        if (summary is not None and summary.name == name and summary.status == INTERRUPTED
                and (summary.group or [path.name])[0] == path.name):
            leaders.append(path)
    if not leaders:
        return "nothing was left to resume"
    return "resume with: " + "; ".join(f"nnbook train --resume {p}" for p in leaders)
