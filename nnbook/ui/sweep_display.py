"""What `nnbook sweep` shows: the plan, a line per finished stack of runs, and the grid.

It is given everything it shows (the sweep, its stacks, their outcomes with the runs'
summaries, the grid's rows): it never reads files, and imports nothing of sweep/ or
runs/. Never imports torch."""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nnbook.tables import Column, fitted_table
from nnbook.ui.console import output_console, pct, print_whole
from nnbook.ui.train_display import TrainDisplay, point_of


class SweepDisplay:
    """What `nnbook sweep` shows: the plan, a line per finished stack of runs (with a
    live done / running / failed count when several train at once), and the grid.
    `quiet` silences the training of each stack, never the plan, results or grid."""

    def __init__(self, console: Optional[Console] = None, quiet: bool = False):
        self.console = output_console(console)
        self.quiet = quiet
        self.done = self.failed = 0
        self._bar: Optional[Progress] = None
        self._task = None
        self._workers: dict[str, object] = {}  # worker -> its line under the bar

    def print(self, *args, **kwargs) -> None:
        print_whole(self.console, *args, **kwargs)

    def plan(self, sweep, stacks, done: dict, executor: str) -> None:
        todo = sum(len(s.seeds) for s in stacks)
        repeats = {len(p.seeds) for p in sweep.points}
        self.print(f"[bold]{sweep.name}[/]: sweep over {', '.join(sweep.keys)} — {len(sweep.points)} points × "
                   f"{'/'.join(map(str, sorted(repeats)))} repeat{'s' if max(repeats) > 1 else ''} = {sweep.n_runs} runs; "
                   f"{len(done)} already done, {todo} to train in {len(stacks)} stack{'s' if len(stacks) != 1 else ''}"
                   + (f" ({executor} executor)" if stacks else ""))

    def plan_table(self, sweep, stacks, done: dict) -> None:
        columns = [Column("#", wrap=False, justify="right"), *(Column(k, justify="right") for k in sweep.keys),
                   Column("run name"), Column("seeds", wrap=False, justify="right"), Column("to train")]
        todo = {}
        for stack in stacks:
            for point, seed in stack.members:
                todo.setdefault(point.name, []).append(seed)
        rows = []
        for i, point in enumerate(sweep.points, 1):
            left = todo.get(point.name, [])
            finished = len(point.seeds) - len(left)
            state = f"{len(left)} run{'s' if len(left) != 1 else ''}" if left else "[green]done[/]"
            if left and finished:
                state += f" ({finished} done)"
            rows.append([str(i), *(point.value_texts[k] for k in sweep.keys), point.name,
                         ",".join(map(str, point.seeds)), state])
        self.print(fitted_table(columns, rows, self.console.width, heading=len(sweep.keys) + 1))

    def stack_header(self, i: int, n: int, stack) -> None:
        if not self.quiet:
            self.print(f"\n[bold][{i}/{n}][/] {stack.label}")

    def training(self) -> TrainDisplay:
        """The display of one stack trained in this process: as `nnbook train` shows it."""
        return TrainDisplay(console=self.console, quiet=self.quiet)

    def begin_stream(self, n_stacks: int) -> None:
        if self.console.is_terminal:
            self._bar = Progress(TextColumn("[bold]{task.description}[/]"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=n_stacks, status="")

    def started(self, stack) -> None:
        if self._bar is None and not self.quiet:
            self.print(f"[dim]started[/] {stack.label}")

    def finished(self, outcome, running: Optional[int] = None, queued: Optional[int] = None) -> None:
        self.done += outcome.error is None
        self.failed += outcome.error is not None
        where = f" [dim]on {outcome.where}[/]" if outcome.where else ""
        label = outcome.stack.label
        if outcome.error:
            self.print(f"[red]✗ failed[/] {label}{where}: {outcome.error}")
        else:
            by_point: dict[str, list[str]] = {}  # packed points: each point's runs apart
            for s in outcome.summaries:
                by_point.setdefault(s.name, []).append(s.status if s.test_accuracy is None else pct(s.test_accuracy))
            tests = "; ".join((f"{point_of(name)} " if len(by_point) > 1 else "") + ", ".join(values)
                              for name, values in by_point.items())
            self.print(f"[green]✓ done[/] {label}{where}: test {tests}")
        if running is not None:
            status = f"done {self.done} · running {running} · failed {self.failed} · queued {queued}"
            if self._bar is not None:
                self._bar.update(self._task, advance=1, status=status)
            elif not self.quiet:
                self.print(f"[dim]{status}[/]")

    def worker_progress(self, where: str, text: str) -> None:
        """A worker's latest epoch: the live line under the bar, or a line of its own in a log."""
        if self._bar is not None:
            if where not in self._workers:
                self._workers[where] = self._bar.add_task(where, total=None, status=text)
            self._bar.update(self._workers[where], status=text)
        elif not self.quiet:
            self.print(f"[dim]{where}:[/] {text}")

    def end_stream(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self._workers = {}

    def grid(self, sweep, header: list[str], rows: list[list[str]]) -> None:
        """One row per point: its best run by validation and mean ± std over its runs, never across points."""
        columns = [Column(h, wrap=i == len(sweep.keys), justify="right" if i != len(sweep.keys) else "left")
                   for i, h in enumerate(header)]
        self.print(fitted_table(columns, rows, self.console.width,
                                title=f"{sweep.name}: test accuracy at the best validation epoch, per point"))
