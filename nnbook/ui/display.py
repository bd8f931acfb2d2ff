"""What a person at the terminal sees while nnbook trains.

A rich progress bar over the mini-batches of each epoch (with live validation
accuracy and the best so far), one line per epoch in the book's spirit, and a
summary table at the end. When output is not a terminal (CI, logs, pipes):
plain lines only. Accuracies are fractions everywhere else, percentages here.

Never imports torch.
"""

from __future__ import annotations

import sys
from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def pct(fraction: Optional[float]) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


class TrainDisplay:
    def __init__(self, console: Optional[Console] = None, quiet: bool = False):
        self.console = console or Console(highlight=False)
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 120)  # logs: room for the summary table
        self.live = self.console.is_terminal and not quiet
        self.quiet = quiet
        self.progress: Optional[callable] = None
        self._bar: Optional[Progress] = None
        self._task = None
        self._epoch = 1
        self._epochs = 0
        self._status = ""
        self._eta = None
        self._diverged: set[int] = set()  # members whose divergence was already announced

    def print(self, *args, **kwargs) -> None:
        if not self.quiet:
            self.console.print(*args, **kwargs)

    def start(self, config, n_train: int, env: dict, k: int, sequential: bool) -> None:
        self._epochs = config.epochs
        self._eta = config.eta
        batches = n_train // config.mini_batch_size
        together = "" if k == 1 else (" one at a time" if sequential else " trained together")
        self.print(f"[bold]{config.name}[/]: {k} run{'s' if k > 1 else ''}{together} on {env['device']} "
                   f"({env['hardware']}), {n_train:,} training images, {batches:,} mini-batches of "
                   f"{config.mini_batch_size} per epoch, {config.epochs} epoch{'s' if config.epochs != 1 else ''}")

    def runs_created(self, paths) -> None:
        for p in paths:
            self.print(f"  run directory: {p}")

    def begin_training(self) -> None:
        if not self.live:
            self.progress = None
            return
        self._bar = Progress(TextColumn("Epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("train", total=None, epoch=f"1/{self._epochs}", status="")
        self.progress = self._advance

    def _advance(self, done: int, total: int) -> None:
        self._bar.update(self._task, completed=done, total=total, epoch=f"{self._epoch}/{self._epochs}",
                         status=self._status)

    def epoch(self, epoch: int, epochs: int, records, best, improved, status, seeds, reasons=None) -> None:
        for m, record in enumerate(records):
            label = f"[dim]seed {seeds[m]}[/] " if len(records) > 1 else ""
            if record is None:
                if status[m] == "diverged" and m not in self._diverged:
                    self._diverged.add(m)
                    self.print(f"{label}Epoch {epoch}: [red]diverged[/] (the cost is NaN or infinite); "
                               f"stopping this run — try a smaller eta (--set eta={self._eta / 4:g})")
                continue
            line = f"{label}Epoch {record.epoch}: validation {pct(record.validation_accuracy)}"
            if improved[m]:
                line += f" [green](best to date)[/] — test {pct(record.test_accuracy)}"
            if getattr(record, "train_accuracy", None) is not None:
                line += f" [dim]— training {pct(record.train_accuracy)}, cost {record.train_eval_cost:.4f}[/]"
            if getattr(record, "bias_gradient_norms", None):
                line += " [dim]— ||dC/db|| " + ", ".join(f"{g:.3g}" for g in record.bias_gradient_norms) + "[/]"
            if status[m] == "early_stopped":
                why = (reasons or [None] * len(records))[m] or f"no new best for {epoch - best[m].epoch} epochs"
                line += f" [yellow]— stopping early: {why}[/]"
            self.print(line)
        self._epoch = epoch + 1
        shown = [b for b, s in zip(best, status) if b.epoch is not None]
        if shown:
            top = max(shown, key=lambda b: b.validation_accuracy)
            self._status = f"val {pct(records[0].validation_accuracy) if records[0] else '—'} best {pct(top.validation_accuracy)}"

    def end_training(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def finish(self, results) -> None:
        table = Table(title="Result (test accuracy at the best validation epoch)", title_justify="left")
        width = max((len(r.path.name) for r in results), default=3)
        for col in ("run", "status", "epochs", "best val", "at epoch", "test", "s/epoch"):
            table.add_column(col, justify="left" if col in ("run", "status") else "right",
                             min_width=width if col == "run" else None)
        for r in results:
            s = r.summary
            per_epoch = s["seconds"] / s["epochs_completed"] if s["epochs_completed"] else None
            table.add_row(r.path.name, s["status"], str(s["epochs_completed"]), pct(s["best_validation_accuracy"]),
                          str(s["best_epoch"] or "—"), pct(s["test_accuracy"]),
                          f"{per_epoch:.2f}" if per_epoch else "—")
        self.print(table)
        if results:
            self.print(f"Run directories in {results[0].path.parent}/")
        if len(results) > 1:
            finished = [r.summary for r in results if r.summary["test_accuracy"] is not None]
            if finished:
                top = max(finished, key=lambda s: s["best_validation_accuracy"])
                tests = [s["test_accuracy"] for s in finished]
                mean = sum(tests) / len(tests)
                std = (sum((t - mean) ** 2 for t in tests) / max(1, len(tests) - 1)) ** 0.5
                self.print(f"Best of {len(finished)} runs by validation: test {pct(top['test_accuracy'])} "
                           f"(seed {top['seed']}); mean ± std of test: {pct(mean)} ± {100 * std:.2f}")


def show_gradients(config, result, sample: int, epochs: int, console: Optional[Console] = None,
                   modified: bool = False) -> None:
    """`nnbook gradients`: one row per network (and their mean, and the book's), one column
    per hidden layer, plus how much faster the last hidden layer learns than the first."""
    console = console or Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)  # logs and pipes: one line per sentence
    layers = len(result.at_init[0])
    n_images = min(sample, 50_000)
    console.print(f"[bold]{config.name}[/]: ||dC/db|| of each hidden layer at initialisation "
                  f"(init {config.init}, cost {config.cost}), the mean gradient over the first {n_images:,} "
                  "training images")

    def add_rows(table, rows_by_label):
        for label, row in rows_by_label:
            ratio = f"{row[-1] / row[0]:.1f}x" if layers > 1 and row[0] > 0 else "—"
            table.add_row(label, *(f"{g:.4f}" for g in row), ratio)

    def new_table(title=None):
        table = Table(title=title, title_justify="left")
        table.add_column("network")
        for i in range(layers):
            table.add_column(f"layer {i + 1}", justify="right")
        table.add_column("last/first", justify="right")
        return table

    means = [sum(col) / len(col) for col in zip(*result.at_init)]
    rows = [(f"seed {s}", r) for s, r in zip(result.seeds, result.at_init)]
    if len(rows) > 1:
        rows.append(("mean", means))
    table = new_table()
    add_rows(table, rows)
    if result.book:
        table.add_row("[dim]book (config as shipped)[/]" if modified else "[dim]book[/]", *(f"[dim]{g}[/]" for g in result.book),
                      f"[dim]{result.book[-1] / result.book[0]:.1f}x[/]" if layers > 1 else "—")
    console.print(table)
    if epochs > 0:
        last = result.history[-1]
        final = [sum(col) / len(col) for col in zip(*last)]
        table = new_table(f"After {epochs} epochs of full-batch gradient descent on those images "
                          f"(eta {config.eta:g}, lmbda {config.lmbda:g})")
        rows = [(f"seed {s}", r) for s, r in zip(result.seeds, last)]
        if len(rows) > 1:
            rows.append(("mean", final))
        add_rows(table, rows)
        console.print(table)
        console.print(f"Norms per epoch: {result.plot_path}  (data: {result.json_path})")


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, file=sys.stderr)


class SweepDisplay:
    """What `nnbook sweep` shows: the plan, a line per finished batch of runs (with a
    live done / running / failed count when several train at once), and the grid.
    `quiet` silences the training of each batch, never the plan, results or grid."""

    def __init__(self, console: Optional[Console] = None, quiet: bool = False):
        self.console = console or Console(highlight=False)
        if not self.console.is_terminal:
            self.console.width = max(self.console.width, 120)
        self.quiet = quiet
        self.done = self.failed = 0
        self._bar: Optional[Progress] = None
        self._task = None

    def print(self, *args, **kwargs) -> None:
        if all(isinstance(a, str) for a in args):
            kwargs.setdefault("soft_wrap", True)  # one result per line, whole, for logs and grep
        self.console.print(*args, **kwargs)

    def plan(self, sweep, jobs, done: dict, executor: str) -> None:
        todo = sum(len(j.seeds) for j in jobs)
        repeats = {len(p.seeds) for p in sweep.points}
        self.print(f"[bold]{sweep.name}[/]: sweep over {', '.join(sweep.keys)} — {len(sweep.points)} points × "
                   f"{'/'.join(map(str, sorted(repeats)))} repeat{'s' if max(repeats) > 1 else ''} = {sweep.n_runs} runs; "
                   f"{len(done)} already done, {todo} to train in {len(jobs)} batch{'es' if len(jobs) != 1 else ''}"
                   + (f" ({executor} executor)" if jobs else ""))

    def plan_table(self, sweep, jobs, done: dict) -> None:
        table = Table(title_justify="left")
        table.add_column("#", justify="right")
        for key in sweep.keys:
            table.add_column(key, justify="right")
        table.add_column("run name")
        table.add_column("seeds", justify="right")
        table.add_column("to train")
        todo = {}
        for job in jobs:
            todo.setdefault(job.point.name, []).extend(job.seeds)
        from nnbook.sweep.grid import format_value

        for i, point in enumerate(sweep.points, 1):
            left = todo.get(point.name, [])
            finished = len(point.seeds) - len(left)
            state = f"{len(left)} run{'s' if len(left) != 1 else ''}" if left else "[green]done[/]"
            if left and finished:
                state += f" ({finished} done)"
            table.add_row(str(i), *(format_value(point.values[k]) for k in sweep.keys), point.name,
                          ",".join(map(str, point.seeds)), state)
        self.print(table)

    def job_header(self, i: int, n: int, job) -> None:
        if not self.quiet:
            self.print(f"\n[bold][{i}/{n}][/] {job.point.label} — seed{'s' if len(job.seeds) > 1 else ''} "
                       f"{job.seeds_text}")

    def begin_stream(self, n_jobs: int) -> None:
        if self.console.is_terminal:
            self._bar = Progress(TextColumn("[bold]sweep[/]"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task("sweep", total=n_jobs, status="")

    def started(self, job) -> None:
        if self._bar is None and not self.quiet:
            self.print(f"[dim]started[/] {job.point.label} (seeds {job.seeds_text})")

    def finished(self, outcome, running: Optional[int] = None, queued: Optional[int] = None) -> None:
        self.done += outcome.error is None
        self.failed += outcome.error is not None
        where = f" [dim]on {outcome.where}[/]" if outcome.where else ""
        label = f"{outcome.job.point.label} (seeds {outcome.job.seeds_text})"
        if outcome.error:
            self.print(f"[red]✗ failed[/] {label}{where}: {outcome.error}")
        else:
            from nnbook.runs.directory import read_summary

            tests = []
            for path in outcome.paths:
                s = read_summary(path)
                tests.append(s["status"] if s.get("test_accuracy") is None else pct(s["test_accuracy"]))
            self.print(f"[green]✓ done[/] {label}{where}: test {', '.join(tests)}")
        if running is not None:
            status = f"done {self.done} · running {running} · failed {self.failed} · queued {queued}"
            if self._bar is not None:
                self._bar.update(self._task, advance=1, status=status)
            elif not self.quiet:
                self.print(f"[dim]{status}[/]")

    def end_stream(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def grid(self, sweep, header: list[str], rows: list[list[str]]) -> None:
        self.print(f"[bold]{sweep.name}[/]: test accuracy at the best validation epoch, per point")
        table = Table()
        for i, col in enumerate(header):
            table.add_column(col, justify="right" if i != len(sweep.keys) else "left")
        for row in rows:
            table.add_row(*row)
        self.print(table)
