"""How runs are cut into stacks, defined once: a stack is the runs trained together as the
members of one StackedNet, in one process.

n runs with at most `most` members a stack make ceil(n / most) stacks whose sizes differ by
at most one, the larger first, so the stacks of a placement (execution/placement.py), of a
sweep's packed points (sweep/plan.py) and of `nnbook train --stack` (experiments/experiment.py)
are the same pieces. Plain numbers and lists; no torch.
"""

from __future__ import annotations

import math


def stack_sizes(n: int, most: int) -> list[int]:
    """n runs cut into ceil(n/most) stacks of sizes differing by at most one, the larger first (none for none)."""
    if n <= 0:
        return []
    count = math.ceil(n / max(1, most))
    base, extra = divmod(n, count)
    return [base + 1] * extra + [base] * (count - extra)


def in_stacks(items: list, most: int) -> list[list]:
    """items cut, in order, into the pieces `stack_sizes` gives."""
    pieces, start = [], 0
    for size in stack_sizes(len(items), most):
        pieces.append(items[start:start + size])
        start += size
    return pieces


def seeds_text(seeds) -> str:
    """A set of runs' seeds as a person writes them: "0-4" for consecutive seeds, else "0,2,5"."""
    seeds = sorted(seeds)
    if len(seeds) > 1 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))
