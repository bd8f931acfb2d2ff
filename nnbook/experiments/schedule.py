"""How K runs share the machine: the schedule, chosen from measurements, not by rule.

K runs of one architecture can train as one stack (a StackedNet: K members, a few
large ops per step), as worker processes (one per core, each with its own threads),
or both: W workers, each training its share of the runs in stacks of at most S
members. Which is fastest depends on the net, K and the machine: on a 2-core CPU a
stack of 4 costs 2.1 runs' time, a stack of 3 nearly as much, and a process per
core cannot split a third run over two cores. So nnbook times one step of each
candidate stack size at each thread count it would use (training/timing.py) and
takes the schedule with the shortest estimated wall time:

  - the runs are cut into jobs of at most S members, the larger first;
  - W workers take the jobs in turn, each job costing (steps) x (its stack's step
    time at the worker's threads); the estimate is the last worker's finish.

Workers side by side contend a little for memory bandwidth (two single-thread
runs side by side: 1.05x one alone, measured), which the estimate ignores.

The arithmetic is torch-free; `schedule_for` measures (training/timing.py, imported
only when it has to time something).
"""

from __future__ import annotations

import heapq
import math
import os
from dataclasses import dataclass
from typing import Callable

from nnbook.errors import ConfigError

MAX_STACK = 8  # stacks larger than this are not timed on the CPU (their cost per run stops falling)
# Training shorter than this (one run's steps at full speed, times K) is not worth a measurement
# of several seconds: it trains as asked, or, with nothing forced, as one stack in this process.
WORTH_MEASURING = 120.0
MIN_STEPS = 20_000  # fewer steps in all than this (well under a minute) is short without timing anything


@dataclass(frozen=True)
class Schedule:
    workers: int  # processes training at once (1: this process)
    stack: int  # the most members one stack trains
    threads: int  # torch threads per worker

    def jobs(self, n: int) -> list[int]:
        """The stack sizes of n runs' jobs: as even as `stack` allows, the larger first."""
        return job_sizes(n, self.stack)

    def describe(self, n: int) -> str:
        sizes = self.jobs(n)
        stacks = ", ".join(str(s) for s in sizes)
        if self.workers == 1:
            where = f"in this process ({self.threads} thread{'s' if self.threads != 1 else ''})"
        else:
            where = f"on {self.workers} workers of {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{n} run{'s' if n != 1 else ''} as stack{'s' if len(sizes) > 1 else ''} of {stacks} {where}"


def job_sizes(n: int, stack: int) -> list[int]:
    """n runs cut into ceil(n/stack) jobs of sizes differing by at most one, the larger first (none for none)."""
    if n <= 0:
        return []
    count = math.ceil(n / max(1, stack))
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def split(items: list, stack: int) -> list[list]:
    """items cut, in order, into the pieces `job_sizes` gives: what every schedule's stacks are."""
    pieces, start = [], 0
    for size in job_sizes(len(items), stack):
        pieces.append(items[start:start + size])
        start += size
    return pieces


def makespan(sizes: list[int], workers: int, job_seconds: Callable[[int], float]) -> float:
    """When the last of `workers` finishes, each taking the next job (in order) when free."""
    free = [0.0] * workers
    for size in sizes:
        start = heapq.heappop(free)
        heapq.heappush(free, start + job_seconds(size))
    return max(free)


def candidates(n: int, cores: int, max_stack: int = MAX_STACK) -> list[Schedule]:
    """Every schedule worth timing for n runs on `cores` cores: 1..min(n, cores) workers
    sharing the cores evenly, each with stacks of 1..min(its share, max_stack) members."""
    out = []
    for workers in range(1, min(n, cores) + 1):
        threads = max(1, cores // workers)
        share = math.ceil(n / workers)
        out += [Schedule(workers, stack, threads) for stack in range(1, min(share, max_stack) + 1)]
    return out


def choose(n: int, cores: int, per_step: Callable[[int, int], float],
           max_stack: int = MAX_STACK) -> tuple[Schedule, dict[Schedule, float]]:
    """The candidate with the least estimated wall time for n runs, and every candidate's
    estimate (in steps' time). per_step(stack, threads): seconds of one step of a stack that size."""
    return choose_among(candidates(n, cores, max_stack), n, per_step)

def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_workers_device(workers: int | None, device) -> None:
    """Several workers train on the CPU only: asked for on another device, a one-line ConfigError."""
    if workers is not None and workers > 1 and device.type != "cpu":
        raise ConfigError(f"--jobs {workers}: several workers train on the CPU only (this is on {device}); "
                          "leave --jobs out, or add --device cpu")


def schedule_for(config, n: int, steps: int, device, workers: int | None = None, stack: int | None = None,
                 threads: int | None = None) -> tuple[Schedule, str]:
    """How to train n runs of `config` (each `steps` SGD steps) on `device`, and why, in words.
    `workers` / `stack`: what the user forced (--jobs, --stack); the rest is measured on the CPU.
    threads: the thread count asked for (--threads), else one per core."""
    total = threads or cores()
    check_workers_device(workers, device)
    if n == 1:
        return Schedule(1, 1, total), "one run"
    if device.type != "cpu":  # a GPU: one stack of everything keeps it busy
        return Schedule(1, stack or n, total), "one stack on the GPU" if not stack else "--stack"
    if workers is not None and stack is not None:
        return Schedule(workers, stack, max(1, total // workers)), "--jobs and --stack"
    w = workers or 1
    asked = Schedule(w, stack or math.ceil(n / w), max(1, total // w))  # each worker one stack of its share
    options = [c for c in candidates(n, total)
               if (workers is None or c.workers == workers) and (stack is None or c.stack == stack)]
    if len(options) <= 1:  # e.g. --stack larger than MAX_STACK: nothing to compare, take it as asked
        return (options or [asked])[0], "as asked"
    if steps * n < MIN_STEPS:
        return asked, "short: not measured"
    from nnbook.training.timing import stack_step_seconds  # deferred: torch

    per_step = stack_step_seconds(config, device)
    try:
        if per_step(1, total) * steps * n < WORTH_MEASURING:
            return asked, "short: not measured"
        best, estimates = choose_among(options, n, per_step)
    except Exception as e:  # noqa: BLE001 - a config that cannot train fails in training, with its own message
        return asked, f"not measured: {type(e).__name__}"
    per_epoch = estimates[best] * steps / config.epochs
    return best, (f"chosen by timing {len(per_step.measured)} stack sizes: about {per_epoch:.3g} s of steps "
                  f"per epoch for all {n}")


def choose_among(options: list[Schedule], n: int,
                 per_step: Callable[[int, int], float]) -> tuple[Schedule, dict[Schedule, float]]:
    """`choose`, over a given list of candidates."""
    per_step = pruned(per_step, options)
    estimates = {s: makespan(s.jobs(n), s.workers, lambda size, s=s: per_step(size, s.threads)) for s in options}
    # Ties (within 2%) go to fewer processes, then to larger stacks: less memory, fewer files open.
    best = min(estimates.values())
    near = [s for s, t in estimates.items() if t <= best * 1.02]
    return min(near, key=lambda s: (s.workers, -s.stack)), estimates


def pruned(per_step: Callable[[int, int], float], options: list[Schedule]) -> Callable[[int, int], float]:
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


def schedule_of_config(config, n: int, workers: int | None = None, stack: int | None = None,
                       threads: int | None = None) -> tuple[Schedule, str]:
    """`schedule_for` n runs of `config` on the device it names (auto: a GPU if there is one)."""
    if n <= 1 and workers is None:
        return Schedule(1, 1, threads or cores()), "one run"
    from nnbook.training.devices import resolve_device  # deferred: torch
    from nnbook.training.timing import training_images

    steps = config.epochs * (training_images(config) // config.mini_batch_size)
    return schedule_for(config, n, steps, resolve_device(config.device), workers, stack, threads)
