"""How K runs share this machine: the placement, chosen from measurements, not by rule.

K runs of one architecture can train as one stack (a StackedNet: K members, a few
large ops per step), as worker processes (one per core, each with its own threads),
or both: W workers, each training its share of the runs in stacks of at most S
members. Which is fastest depends on the net, K and the machine: on a 2-core CPU a
stack of 4 costs 2.1 runs' time, a stack of 3 nearly as much, and a process per
core cannot split a third run over two cores. So nnbook times one step of each
candidate stack size at each thread count it would use (execution/timing.py) and
takes the placement with the shortest estimated wall time:

  - the runs are cut into stacks of at most S members, the larger first (nnbook/stacks.py);
  - W workers take the stacks in turn, each stack costing (steps) x (its stack's step
    time at the worker's threads); the estimate is the last worker's finish.

Workers side by side contend a little for memory bandwidth (two single-thread
runs side by side: 1.05x one alone, measured), which the estimate ignores.

Torch-free: `placement_for` is given the timer (execution/timing.stack_step_seconds) by
execution/train.placement_of_config, which a dry run calls without one, so it times nothing.
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass
from typing import Callable, Optional

from nnbook.choices import Choice
from nnbook.errors import ConfigError
from nnbook.stacks import stack_sizes

MAX_STACK = 8  # stacks larger than this are not timed on the CPU (their cost per run stops falling)
# Training shorter than this (one run's steps at full speed, times K) is not worth a measurement
# of several seconds: it trains as asked, or, with nothing forced, as one stack in this process.
WORTH_MEASURING = 120.0
MIN_STEPS = 20_000  # fewer steps in all than this (well under a minute) is short without timing anything
TRAINING_IMAGES = {"mnist": 50_000, "mnist_expanded": 250_000}


def training_images(config) -> int:
    """The training images of one epoch of `config`."""
    n = TRAINING_IMAGES.get(config.data, 50_000)  # a file of the user's: counted as the book's size
    return min(config.train_limit or n, n)


def steps_of(config) -> int:
    """The SGD steps of one run of `config`, all its epochs."""
    return config.epochs * (training_images(config) // config.mini_batch_size)


class Executor(Choice):
    """Where the stacks train: `local`, this machine (this process or its worker processes);
    `ray`, a Ray cluster (one task per stack)."""

    local = "local"
    ray = "ray"


@dataclass(frozen=True)
class RayOptions:
    address: Optional[str] = None  # the cluster to join (None: Ray's default, or a new local one)
    cpus_per_task: float = 1  # CPUs each task declares, and the torch threads it uses
    gpus_per_task: Optional[float] = None  # None: 1 where the cluster has GPUs and the config may use them


@dataclass(frozen=True)
class Asked:
    """What the command line asked of the placement; None: nnbook chooses."""

    executor: Executor = Executor.local
    workers: Optional[int] = None  # --jobs: worker processes on this machine
    stack: Optional[int] = None  # --stack N: the most members one stack trains
    threads: Optional[int] = None  # --threads: torch threads per process
    ray: RayOptions = RayOptions()


@dataclass(frozen=True)
class Placement:
    """Where K runs train on this machine: `workers` processes at once (1: this process), each
    training stacks of at most `stack` members with `threads` torch threads."""

    workers: int  # processes training at once (1: this process)
    stack: int  # the most members one stack trains
    threads: int  # torch threads per worker

    def stack_sizes(self, n: int) -> list[int]:
        """The sizes of n runs' stacks: as even as `stack` allows, the larger first."""
        return stack_sizes(n, self.stack)

    def describe(self, n: int) -> str:
        sizes = self.stack_sizes(n)
        stacks = ", ".join(str(s) for s in sizes)
        if self.workers == 1:
            where = f"in this process ({self.threads} thread{'s' if self.threads != 1 else ''})"
        else:
            where = f"on {self.workers} workers of {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{n} run{'s' if n != 1 else ''} as stack{'s' if len(sizes) > 1 else ''} of {stacks} {where}"


def makespan(sizes: list[int], workers: int, stack_seconds: Callable[[int], float]) -> float:
    """When the last of `workers` finishes, each taking the next stack (in order) when free."""
    free = [0.0] * workers
    for size in sizes:
        start = heapq.heappop(free)
        heapq.heappush(free, start + stack_seconds(size))
    return max(free)


def candidates(n: int, cores: int, max_stack: int = MAX_STACK, per_worker: Optional[int] = None) -> list[Placement]:
    """Every placement worth timing for n runs on `cores` cores: 1..min(n, cores) workers
    sharing the cores evenly (or each with `per_worker` threads), each with stacks of
    1..min(its share, max_stack) members."""
    out = []
    for workers in range(1, min(n, cores) + 1):
        threads = per_worker or max(1, cores // workers)
        share = math.ceil(n / workers)
        out += [Placement(workers, stack, threads) for stack in range(1, min(share, max_stack) + 1)]
    return out


def choose(n: int, cores: int, per_step: Callable[[int, int], float],
           max_stack: int = MAX_STACK) -> tuple[Placement, dict[Placement, float]]:
    """The candidate with the least estimated wall time for n runs, and every candidate's
    estimate (in steps' time). per_step(stack, threads): seconds of one step of a stack that size."""
    return choose_among(candidates(n, cores, max_stack), n, per_step)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Torch threads per training process when --threads is not given: one (or OMP_NUM_THREADS, where the
# environment sets it), with several runs spread over the cores as workers of a thread each. A
# mini-batch-10 step is a chain of tiny ops, and with more threads than free cores every op waits for
# a descheduled thread: one epoch of ch6_dbl_conv_relu on 2,000 images on this 2-core machine with
# other programs running (load average 17) took 12.7-13.7 s on one thread against 51.6-54.3 s on two
# (torch's default, one per core), 4x slower; the issue that asked for this measured up to 13x under
# heavier load. On a quiet 2-core machine two threads are faster for one run (benchmarks/threads.py,
# results/threads.json: quiet and with a busy process per core); that is what --threads 2 gives back
# where the cores are known to be free. A fixed default also keeps a run's numbers independent of the
# machine's load: the thread count changes how torch splits float sums.
THREADS_PER_PROCESS = 1


def default_threads() -> int:
    """Torch threads for a training process when --threads is not given (THREADS_PER_PROCESS)."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return THREADS_PER_PROCESS


def check_workers_device(workers: int | None, device) -> None:
    """Several workers train on the CPU only: asked for on another device, a one-line ConfigError."""
    if workers is not None and workers > 1 and device.type != "cpu":
        raise ConfigError(f"--jobs {workers}: several workers train on the CPU only (this is on {device}); "
                          "leave --jobs out, or add --device cpu")


def placement_for(config, n: int, steps: int, device, asked: Asked = Asked(),
                  timer: Optional[Callable] = None) -> tuple[Placement, str]:
    """How to train n runs of `config` (each `steps` SGD steps) on `device`, and why, in words.
    `asked.workers` / `asked.stack`: what the user forced (--jobs, --stack); the rest is measured on
    the CPU by `timer(config, device)` (timing.stack_step_seconds: per_step(k, threads)). device
    None: not known, as in a dry run, which times nothing. asked.threads: the threads asked for
    (--threads), shared by the workers; else each worker has `default_threads()`, at most one a core."""
    workers, stack = asked.workers, asked.stack
    # --threads is the budget the workers share; by default every core, a worker default_threads() each
    total, each = (asked.threads, None) if asked.threads else (cores(), default_threads())
    if device is not None:
        check_workers_device(workers, device)
    if n == 1:
        return Placement(1, 1, each or total), "one run"
    if device is not None and device.type != "cpu":  # a GPU: one stack of everything keeps it busy
        return Placement(1, stack or n, each or total), "one stack on the GPU" if not stack else "--stack"
    if workers is not None and stack is not None:
        return Placement(workers, stack, each or max(1, total // workers)), "--jobs and --stack"
    w = workers or 1
    as_asked = Placement(w, stack or math.ceil(n / w), each or max(1, total // w))  # a stack of its share each
    options = [c for c in candidates(n, total, per_worker=each)
               if (workers is None or c.workers == workers) and (stack is None or c.stack == stack)]
    if len(options) <= 1:  # e.g. --stack larger than MAX_STACK: nothing to compare, take it as asked
        return (options or [as_asked])[0], "as asked"
    if steps * n < MIN_STEPS:
        return as_asked, "short: not measured"
    if device is None or timer is None:
        return as_asked, "not timed in a dry run: training times a few steps first"
    per_step = timer(config, device)
    try:
        if per_step(1, total) * steps * n < WORTH_MEASURING:
            return as_asked, "short: not measured"
        best, estimates = choose_among(options, n, per_step)
    except Exception as e:  # noqa: BLE001 - a config that cannot train fails in training, with its own message
        return as_asked, f"not measured: {type(e).__name__}"
    per_epoch = estimates[best] * steps / config.epochs
    return best, (f"chosen by timing {len(per_step.measured)} stack sizes: about {per_epoch:.3g} s of steps "
                  f"per epoch for all {n}")


def choose_among(options: list[Placement], n: int,
                 per_step: Callable[[int, int], float]) -> tuple[Placement, dict[Placement, float]]:
    """`choose`, over a given list of candidates."""
    per_step = pruned(per_step, options)
    estimates = {s: makespan(s.stack_sizes(n), s.workers, lambda size, s=s: per_step(size, s.threads)) for s in options}
    # Ties (within 2%) go to fewer processes, then to larger stacks: less memory, fewer files open.
    best = min(estimates.values())
    near = [s for s, t in estimates.items() if t <= best * 1.02]
    return min(near, key=lambda s: (s.workers, -s.stack)), estimates


def pruned(per_step: Callable[[int, int], float], options: list[Placement]) -> Callable[[int, int], float]:
    """per_step, timing stack sizes upwards at each thread count only while the cost per run
    still falls: after two sizes without a new best, a larger stack is taken to cost the best
    per-run cost times its size (it is not measured, so choosing takes seconds, not minutes)."""
    table: dict[tuple[int, int], float] = {}
    for threads in sorted({s.threads for s in options}):
        largest = max(s.stack for s in options if s.threads == threads)
        best_k, misses = 1, 0
        for k in range(1, largest + 1):
            if misses >= 2:
                table[(k, threads)] = table[(best_k, threads)] / best_k * k
                continue
            table[(k, threads)] = per_step(k, threads)
            if table[(k, threads)] / k < table[(best_k, threads)] / best_k:
                best_k, misses = k, 0
            elif k > 1:
                misses += 1
    return lambda k, threads: table[(k, threads)] if (k, threads) in table else per_step(k, threads)
