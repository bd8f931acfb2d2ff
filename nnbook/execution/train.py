"""The execution layer's door: a set of runs trained where the command asked.

A set of runs is a list of `Runs` (a config, the seeds still to train, and its stacks
that stopped earlier, each resumed whole). `Asked` (placement.py) says where: in this
process, the stacks one after another; on worker processes of this machine (pool.py),
a worker that frees taking the next stack of any config; or on a Ray cluster
(ray_cluster.py), a task per stack. Unforced, the stacks, workers and threads are
chosen by timing a few steps on the CPU (placement.py).

`nnbook train` (`train_runs`), `nnbook chapter6` (`train_runs` per config, or
`train_all` with --jobs or Ray) and `nnbook sweep` (`train_stacks`, given the stacks of
its plan) all come here. The command passes the displays in (`Displays`): a training
display for this process, a display with a line per stack for workers and Ray.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from nnbook.config import Config, run_config
from nnbook.errors import Interrupted, NnbookError
from nnbook.execution.local import ConfigsDone, resume_hints, run_local, stacks_of
from nnbook.execution.placement import Asked, Executor, Placement, default_threads, placement_for, steps_of
from nnbook.execution.pool import run_on_devices
from nnbook.execution.ray_cluster import run_ray
from nnbook.execution.stack import Dirs, Outcome, Stack
from nnbook.experiments.display import Display, RunResult
from nnbook.runs.directory import read_summary

RERUN_TO_CONTINUE = "interrupted: every completed epoch is kept; run the same command again to continue"


@dataclass
class Runs:
    """Runs of one config to train: `seeds` from the start, each of `stopped` (StoppedStack,
    experiments/resume.py) resumed whole from its leader."""

    config: Config
    seeds: list[int]
    stopped: list = field(default_factory=list)
    source: str = ""  # where the config came from, for messages (default: its name)


@dataclass(frozen=True)
class Displays:
    """What the command shows: `training()` a fresh display of one stack training in this process
    (nnbook train's), `pool()` a fresh display of stacks on workers or Ray (a line per stack)."""

    training: Callable[[], Display]
    pool: Callable[[], object]


def train_runs(runs: Runs, dirs: Dirs, displays: Displays, asked: Asked = Asked(), dataset=None) -> list[RunResult]:
    """Train `runs.seeds` of one config where `asked` says (unforced: the placement chosen for them),
    shown by a training display in this process, or a line per stack and the result table at the end.
    `dataset`: one already loaded (this process only)."""
    config, seeds = runs.config, runs.seeds
    started = time.strftime("%Y%m%d-%H%M%S")  # run directories are stamped so: those made from now on
    if asked.executor is Executor.ray:
        try:
            return train_all([runs], dirs, displays, asked)
        except Interrupted as stop:  # the runs came back `interrupted`: each stack resumes on its own
            raise Interrupted(f"interrupted: every completed epoch is kept; "
                              f"{resume_hints(dirs.runs_dir, config.name, started)}", stop.exit_code) from None
    placement, why = placement_of_config(config, len(seeds), asked)
    display = displays.training()
    if len(seeds) > 1:
        display.print(f"Placement: {placement.describe(len(seeds))} ({why})")
    if placement.workers == 1:
        from nnbook.experiments.experiment import Source, train_experiment  # deferred: torch (--help stays fast)

        use_threads(placement.threads)
        return train_experiment(config, dirs, display, Source(runs.source or config.name, dataset),
                                members=[run_config(config, s) for s in seeds], stack=placement.stack)
    try:
        outcomes = run_on_devices(stacks_of([(config, seeds, [])], [placement.stack]), dirs, displays.pool(),
                                  ["cpu"] * placement.workers, placement.threads)
    except Interrupted as stop:
        raise Interrupted(f"interrupted: every completed epoch is kept; "
                          f"{resume_hints(dirs.runs_dir, config.name, started)}", stop.exit_code) from None
    results = results_of(outcomes)
    display.finish(results)
    raise_if_failed(outcomes)
    return results


def train_all(todo: list[Runs], dirs: Dirs, displays: Displays, asked: Asked,
              on_config: Optional[Callable[[Config, list[RunResult]], None]] = None) -> list[RunResult]:
    """Every config's seeds and stopped stacks of `todo` on one pool of `asked.workers` CPU workers, or
    on a Ray cluster (a task per stack; a stopped stack travels with its task): the seeds cut into the stacks each config's placement chooses
    (Ray: one stack of its seeds; or `asked.stack`), each stopped stack resumed whole; a worker that
    frees takes the next stack, of whichever config, longest first. on_config(config, its runs) as
    each config's last stack ends, after its result table. Returns every run trained."""
    display = displays.pool()
    ray = asked.executor is Executor.ray
    workers = asked.workers or 1
    most = [stack_limit(runs, asked, display) for runs in todo]
    threads = max(1, asked.threads // workers) if asked.threads else default_threads()
    try:
        from nnbook.execution.timing import seconds_per_run  # deferred: torch

        run_seconds, _ = seconds_per_run([runs.config for runs in todo], "cpu")  # as `nnbook list` estimates
        order = "longest first (by a short timing of each config)"
    except Exception as e:  # noqa: BLE001 - as in placement_for: a config that cannot train fails in training
        run_seconds, order = None, f"in the configs' order (not timed: {type(e).__name__})"
    if not ray:
        display.print(f"The {len(todo)} configs' stacks on {workers} workers of {threads} "
                      f"thread{'s' if threads > 1 else ''}, {order}, each worker taking the next stack as it frees")
    trained: list[RunResult] = []

    def done(config, outcomes) -> None:
        results = results_of(outcomes)
        trained.extend(results)
        displays.training().finish(results)
        if on_config is not None:
            on_config(config, results)

    queue = stacks_of([(runs.config, runs.seeds, runs.stopped) for runs in todo], most, run_seconds)
    shown = ConfigsDone(display, queue, done)
    try:
        if ray:  # a stopped stack travels to its task and comes back continued (ray_cluster.py)
            outcomes = run_ray(queue, dirs, shown, asked.ray)
        else:
            outcomes = run_on_devices(queue, dirs, shown, ["cpu"] * workers, threads)
    except Interrupted as stop:
        raise Interrupted(RERUN_TO_CONTINUE, stop.exit_code) from None
    raise_if_failed(outcomes)
    return trained


def placement_of_config(config: Config, n: int, asked: Asked = Asked(),
                        dry_run: bool = False) -> tuple[Placement, str]:
    """`placement_for` n runs of `config` on the device it names (auto: a GPU if there is one), timed
    there; a dry run neither times nor loads torch (the device is not known then)."""
    if n <= 1 and asked.workers is None:
        return Placement(1, 1, asked.threads or default_threads()), "one run"
    if dry_run:
        return placement_for(config, n, steps_of(config), None, asked)
    from nnbook.execution.timing import stack_step_seconds  # deferred: torch
    from nnbook.training.devices import resolve_device

    return placement_for(config, n, steps_of(config), resolve_device(config.device), asked, stack_step_seconds)


def stack_limit(runs: Runs, asked: Asked, display) -> int:
    """The most members of a stack of `runs`' seeds in `train_all`, said on `display`."""
    if not runs.seeds:  # only stopped stacks to resume: their stacks are as they were
        return 1
    if asked.executor is Executor.ray:  # a task per stack: the config's seeds as one stack, or stacks of --stack
        return asked.stack or len(runs.seeds)
    placement, why = placement_of_config(runs.config, len(runs.seeds),
                                         Asked(workers=asked.workers or 1, stack=asked.stack))
    display.print(f"Placement: {runs.config.name}: {len(runs.seeds)} run(s) as stacks of at most "
                  f"{placement.stack} ({why})")
    return placement.stack


def train_stacks(stacks: list[Stack], dirs: Dirs, display, asked: Asked, fail_fast: bool = False) -> list[Outcome]:
    """A sweep's stacks (its plan's): on this machine, in this process one after another (several
    visible GPUs: one worker each; `asked.workers` > 1: CPU workers), or on a Ray cluster."""
    if not stacks:
        return []
    if asked.executor is Executor.ray:
        return run_ray(stacks, dirs, display, asked.ray, fail_fast)
    workers = asked.workers or 1
    threads = asked.threads or default_threads()
    if workers == 1:
        use_threads(threads)  # the stacks that train in this process (a worker sets its own)
    return run_local(stacks, dirs, display, fail_fast, ["cpu"] * workers if workers > 1 else None, threads)


def use_threads(threads: int) -> None:
    """Train in this process on `threads` torch threads (recorded in each run's summary.json)."""
    import torch  # deferred: only what trains here loads it

    torch.set_num_threads(threads)


def results_of(outcomes: list[Outcome]) -> list[RunResult]:
    """The runs the stacks' outcomes wrote, by seed."""
    return sorted((RunResult(p, read_summary(p)) for o in outcomes for p in o.paths), key=lambda r: r.summary.seed)


def raise_if_failed(outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if o.error]
    if failed:
        raise NnbookError(f"{len(failed)} of {len(outcomes)} stacks failed (first: {failed[0].stack.label}: "
                          f"{failed[0].error}); their completed epochs are kept: resume with nnbook train --resume")
