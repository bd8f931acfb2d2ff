"""The plan of a sweep: which runs are already done, and the stacks left to train.

A rerun skips the runs already done: a run directory whose summary has the
point's name and seed, a finished status (or diverged), and the same resolved
config, the device aside. A stack that stopped before its end (Ctrl-C, a kill)
is continued whole from its last finished epoch, as `nnbook train --resume` would,
where every member is a run of a point of this sweep not done since; so an
interrupted sweep resumes where it stopped. What is left becomes stacks (execution/stack.py), each one `StackedNet`: the
consecutive seeds of one point or, when packing (`stack`), up to that many runs
of any points whose configs differ only in what a stack takes per member (eta,
lmbda, mu, seed: config.stack_key), so the nine points of a lambda sweep train as
one stack.

Reads run directories only through runs/; trains nothing.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Optional

from nnbook.config import stack_key
from nnbook.config.identity import identity
from nnbook.errors import ConfigError, NnbookError
from nnbook.execution.stack import Stack
from nnbook.runs.directory import is_run_dir, read_config, read_summary
from nnbook.records import NOTHING_LEFT, RUNNING
from nnbook.stacks import in_stacks
from nnbook.sweep.grid import Point, Sweep



def done_runs(sweep: Sweep, runs_dir: Path) -> dict[tuple[str, int], Path]:
    """(point name, seed) -> the run directory that already did it (the latest, if several)."""
    points = {p.name: p for p in sweep.points}
    found: dict[tuple[str, int], Path] = {}
    if not Path(runs_dir).is_dir():
        return found
    for path in sorted(Path(runs_dir).iterdir()):  # names end in a timestamp: sorted is oldest first
        if not is_run_dir(path):
            continue
        try:
            summary = read_summary(path)
            point = points.get(summary.name)
            if point is None or summary.status not in NOTHING_LEFT:
                continue
            # the point's name and this seed matched above; the rest is the experiment (config/identity.py)
            if identity(read_config(path)) == identity(point.config):
                found[(point.name, summary.seed)] = path
        except (OSError, ValueError, TypeError, AttributeError, NnbookError):
            continue  # unreadable, or an older schema: not a match, so it is trained again
    return found


def stopped_stacks(sweep: Sweep, runs_dir: Path, done: dict[tuple[str, int], Path]) -> list[Stack]:
    """The sweep's stacks that stopped before their end, each to resume whole from its leader: all its
    members here, each a run of a point of this sweep (a seed the point asks, the same experiment),
    none running in another process, and some not finished and not done since by another run. Where
    a point's seed is in several, the latest stack resumes; the others are left as they are."""
    points = {p.name: p for p in sweep.points}
    stacks: dict[tuple[str, ...], dict[str, tuple[Point, int, bool]]] = {}  # group -> members: point, seed, left
    for path in sorted(Path(runs_dir).iterdir()) if Path(runs_dir).is_dir() else []:
        if not is_run_dir(path):
            continue
        try:
            summary = read_summary(path)
            point = points.get(summary.name)
            if (point is None or summary.status == RUNNING or summary.seed not in point.seeds
                    or identity(read_config(path)) != identity(point.config)):
                continue
            left = summary.status not in NOTHING_LEFT
            if left and (point.name, summary.seed) in done:
                continue  # trained again since
            stacks.setdefault(tuple(summary.group or [path.name]), {})[path.name] = (point, summary.seed, left)
        except (OSError, ValueError, TypeError, AttributeError, NnbookError):
            continue  # unreadable, or an older schema: trained again
    claimed: set[tuple[str, int]] = set()
    found = []
    for group, members in sorted(stacks.items(), reverse=True):  # names end in a timestamp: latest first
        pairs = {(p.name, seed) for p, seed, left in members.values() if left}
        if set(members) == set(group) and pairs and not pairs & claimed:
            claimed |= pairs
            found.append(Stack([members[name][:2] for name in group], resume=Path(runs_dir) / group[0]))
    return found[::-1]


def plan(sweep: Sweep, runs_dir: Path, stack: Optional[int] = None,
         done: Optional[dict[tuple[str, int], Path]] = None) -> tuple[list[Stack], dict[tuple[str, int], Path]]:
    """The stacks still to train and the runs already done: first the stopped stacks to resume, then
    the seeds not started. stack None: one stack per point (or per gap in its seeds); stack N: packed,
    up to N runs of points that share a stack_key per stack.
    done: the runs already done, when the caller has read them (done_runs)."""
    done = done_runs(sweep, runs_dir) if done is None else done
    stopped = stopped_stacks(sweep, runs_dir, done)
    resumed = {(p.name, s) for stopped_stack in stopped for p, s in stopped_stack.members}
    todo = [(point, s) for point in sweep.points for s in point.seeds
            if (point.name, s) not in done and (point.name, s) not in resumed]
    if stack is None:
        stacks = []
        for point in sweep.points:
            mine = [s for p, s in todo if p is point]
            for _, group in itertools.groupby(enumerate(mine), key=lambda pair: pair[1] - pair[0]):
                stacks.append(Stack([(point, s) for _, s in group]))
        return stopped + stacks, done
    if stack < 1:
        raise ConfigError(f"--stack {stack}: give the most runs one stack may train, at least 1")
    buckets: dict[str, list[tuple[Point, int]]] = {}  # in the grid's order
    for point, s in todo:
        buckets.setdefault(stack_key(point.config), []).append((point, s))
    # the same stacks the placement estimated: as even as `stack` allows (nnbook/stacks.py)
    return stopped + [Stack(piece) for members in buckets.values() for piece in in_stacks(members, stack)], done
