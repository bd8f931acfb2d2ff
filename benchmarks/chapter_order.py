"""What taking a chapter's stacks longest first saves (`nnbook chapter6 --jobs N`), by simulation.

Each chapter 6 config's time per run is measured as `nnbook list` measures it (a few steps on one
thread, scaled to the config's epochs and training set). Its runs (3 each; 5 for the dropout net)
are cut as `--jobs W` cuts them when nothing is forced (each worker one stack of its share), a
stack of k counted as k runs, and handed to W workers as the pool hands them (the next stack to
the first worker that frees): in the configs' order, and longest first (`execution/local.stacks_of`,
what `chapter6 --jobs` does). The chapter's simulated wall time for each W is printed beside the
lower bound, max(all the work / W, the longest stack). A model of the schedule, not a measurement
of training: it shows when the order matters (many workers, few long stacks), not exact hours.

    python benchmarks/chapter_order.py            # prints, and writes benchmarks/results/chapter_order.txt
"""

from __future__ import annotations

import argparse
import heapq
import math
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.config import load_config  # noqa: E402
from nnbook.experiments.chapter6 import CHAPTER6, ENSEMBLE_OF  # noqa: E402
from nnbook.execution.local import stacks_of  # noqa: E402
from nnbook.execution.timing import seconds_per_run  # noqa: E402


def wall_time(stack_seconds: list[float], workers: int) -> float:
    """When the last of `workers` finishes, each taking the next stack as it frees."""
    free = [0.0] * workers
    for seconds in stack_seconds:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free)


def stack_times(jobs, seconds: dict[str, float]) -> list[float]:
    """Each stack's seconds: its runs' (a stack of k counted as k runs)."""
    return [seconds[job.point.name] * len(job.members) for job in jobs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[2, 4, 8, 16])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "chapter_order.txt")
    args = parser.parse_args()

    configs = [load_config(ROOT / "configs" / f"{name}.yaml") for name in CHAPTER6]
    runs = {c.name: 5 if c.name == ENSEMBLE_OF else 3 for c in configs}
    per_run, device = seconds_per_run(configs, "cpu")
    seconds = dict(zip(CHAPTER6, per_run))
    lines = [f"{platform.processor() or platform.machine()}, {device}, one thread per run: seconds per run as "
             "`nnbook list` estimates them",
             *(f"  {name:24} {runs[name]} x {seconds[name] / 60:6.1f} min" for name in CHAPTER6), "",
             f"{'workers':>7}  {'in order':>9}  {'longest first':>13}  {'lower bound':>11}  saved"]
    for w in args.workers:
        todo = [(c, list(range(runs[c.name])), []) for c in configs]
        stacks = [math.ceil(runs[c.name] / w) for c in configs]
        every = stack_times(stacks_of(todo, stacks), seconds)
        in_order = wall_time(every, w)
        longest = wall_time(stack_times(stacks_of(todo, stacks, [seconds[c.name] for c in configs]), seconds), w)
        bound = max(sum(every) / w, max(every))
        lines.append(f"{w:>7}  {in_order / 3600:>7.1f} h  {longest / 3600:>11.1f} h  {bound / 3600:>9.1f} h  "
                     f"{1 - longest / in_order:.0%}")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
