"""Where a report's numbers came from, read from the runs' own records: for each config, its
seeds, the stacks they trained in with each stack's training time, the processor and thread
count, the versions, and the commit of nnbook that trained them (runs recorded before commits
were recorded say so). A report's device and wall-time lines are this table, never typed.

A stack is the runs trained together in one process (summary.json's `group`); its training
time is its members' recorded seconds (the same for every member: they step together). Stacks
of one config that started together (one start stamp in their directory names) trained side by
side on workers, so the config's wall time is the slowest stack's; stacks that started at
different times are listed each with its own time and no total is made up for them.

Reads summaries only (runs/); never trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.analysis.experiments import experiment_of_each
from nnbook.runs import directory as runs
from nnbook.runs.records import Summary
from nnbook.stacks import seeds_text

_STAMP = re.compile(r"-(\d{8}-\d{6})(?:-\d+)?$")  # RUN = NAME-YYYYmmdd-HHMMSS[-N]


@dataclass
class Stack:
    start: str  # the start stamp of its directories, YYYYmmdd-HHMMSS
    seeds: list[int]
    seconds: float


def stacks_of(summaries: dict[Path, Summary]) -> list[Stack]:
    """The stacks among one config's runs, in order of start and first seed."""
    by_group: dict[tuple[str, ...], list[tuple[Path, Summary]]] = {}
    for path, summary in summaries.items():
        by_group.setdefault(tuple(summary.group or [path.name]), []).append((path, summary))
    stacks = []
    for members in by_group.values():
        match = _STAMP.search(members[0][0].name)
        stacks.append(Stack(match.group(1) if match else "?", sorted(s.seed for _, s in members),
                            max(s.seconds for _, s in members)))
    return sorted(stacks, key=lambda s: (s.start, s.seeds))


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _one_or_all(values: list[Optional[object]], missing: str = "not recorded") -> str:
    distinct = sorted({missing if v is None else str(v) for v in values})
    return ", ".join(distinct)


def _threads(values: list[Summary]) -> str:
    counts = _one_or_all([s.threads for s in values])
    return f"{counts} thread{'' if counts == '1' else 's'}"


def wall_time(stacks: list[Stack]) -> str:
    """The stacks' times; the slowest as the config's when they all started together."""
    if len(stacks) == 1:
        return _duration(stacks[0].seconds)
    each = "; ".join(f"seeds {seeds_text(s.seeds)}: {_duration(s.seconds)}" for s in stacks)
    if len({s.start for s in stacks}) == 1:
        return f"{_duration(max(s.seconds for s in stacks))}, the slowest of {len(stacks)} stacks side by side ({each})"
    return f"{len(stacks)} stacks started apart ({each})"


def origins_markdown(paths: list[Path]) -> str:
    """One row per experiment (config name and identity, labelled as the report labels it) among
    the run directories `paths`."""
    by_name: dict[str, dict[Path, Summary]] = {}
    for path, experiment in experiment_of_each(list(paths)).items():
        by_name.setdefault(experiment.label, {})[path] = runs.read_summary(path)
    lines = ["| config | seeds | stacks | training wall time | processor, threads | torch, numpy, Python | "
             "nnbook commit |", "|---|---|---|---|---|---|---|"]
    for name in sorted(by_name):
        summaries = by_name[name]
        values = list(summaries.values())
        stacks = stacks_of(summaries)
        commits = [(s.commit[:7] + ("" if s.tree_clean else " (tree changed)")) if s.commit else None
                   for s in values]
        lines.append(" | ".join([
            f"| {name}", seeds_text(s.seed for s in values),
            " + ".join(str(len(s.seeds)) for s in stacks), wall_time(stacks),
            f"{_one_or_all([s.device for s in values])} ({_one_or_all([s.hardware for s in values])}), "
            f"{_threads(values)}",
            f"{_one_or_all([s.torch for s in values])}, {_one_or_all([s.numpy for s in values])}, "
            f"{_one_or_all([s.python for s in values])}",
            _one_or_all(commits, "not recorded (before commits were)") + " |"]))
    return "\n".join(lines) + "\n"
