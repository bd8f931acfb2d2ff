"""What a person at the terminal sees while nnbook trains.

A rich progress bar over the mini-batches of each epoch (with live validation
accuracy and the best so far), one line per epoch in the book's spirit, and a
summary table at the end. When output is not a terminal (CI, logs, pipes):
plain lines only. Where one stack trains runs of several experiments (a sweep's
packed points, named `<name>@<key>=<value>`), every line says which point it is
about, and "best of N" and mean ± std are per point. Never imports torch, never
reads files.
"""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nnbook.records import DIVERGED, EARLY_STOPPED
from nnbook.statistics import best_by_validation, results_of, spread
from nnbook.tables import Column, fitted_table
from nnbook.ui.console import output_console, pct, print_whole


def point_of(name: str) -> str:
    """What tells a sweep point's runs apart in a line: `@lmbda=0.1` of `ch6_sweep@lmbda=0.1`."""
    base, at, label = name.partition("@")
    return f"@{label}" if at else name


class TrainDisplay:
    def __init__(self, console: Optional[Console] = None, quiet: bool = False):
        self.console = output_console(console)
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
        self._names: list[str] = []  # each member's run name, in member order
        self._group: list[str] = []  # those of the stack now training (runs_created)
        self._created = 0

    def print(self, *args, **kwargs) -> None:
        if not self.quiet:
            print_whole(self.console, *args, **kwargs)

    def say(self, text: str) -> None:
        """A line that answers the command (a result): printed with --quiet too."""
        print_whole(self.console, text)

    def start(self, config, n_train: int, env: dict, members: list, stacks: int) -> None:
        self._epochs = config.epochs
        self._eta = config.eta
        self._names = [m.name for m in members]
        k = len(members)
        batches = n_train // config.mini_batch_size
        together = ("" if k == 1 else " trained together" if stacks == 1 else " one at a time" if stacks == k
                    else f" in {stacks} stacks, one after another")
        points = list(dict.fromkeys(self._names))
        what = config.name if len(points) == 1 else (
            f"{config.name.partition('@')[0]}, {len(points)} points ({', '.join(map(point_of, points))})")
        self.print(f"[bold]{what}[/]: {k} run{'s' if k > 1 else ''}{together} on {env['device']} "
                   f"({env['hardware']}), {n_train:,} training images, {batches:,} mini-batches of "
                   f"{config.mini_batch_size} per epoch, {config.epochs} epoch{'s' if config.epochs != 1 else ''}")

    def runs_created(self, paths) -> None:
        self._group = self._names[self._created:self._created + len(paths)]  # stacks train in member order
        self._created += len(paths)
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

    def epoch(self, report) -> None:
        """One line per member of the loop's EpochReport (training/loop.py)."""
        epoch, records, status = report.epoch, report.records, report.status
        several = len(set(self._group)) > 1  # packed sweep points: name the point on every line
        for m, record in enumerate(records):
            point = f"{point_of(self._group[m])} " if several and m < len(self._group) else ""
            label = f"[dim]{point}seed {report.seeds[m]}[/] " if len(records) > 1 else ""
            if record is None:
                if status[m] == DIVERGED and m not in self._diverged:
                    self._diverged.add(m)
                    self.print(f"{label}Epoch {epoch}: [red]diverged[/] (the cost is NaN or infinite); "
                               f"stopping this run — try a smaller eta (--set eta={self._eta / 4:g})")
                continue
            line = f"{label}Epoch {record.epoch}: validation {pct(record.validation_accuracy)}"
            if report.improved[m]:
                line += f" [green](best to date)[/] — test {pct(record.test_accuracy)}"
            if record.train_accuracy is not None:
                line += f" [dim]— training {pct(record.train_accuracy)}, cost {record.train_eval_cost:.4f}[/]"
            if record.bias_gradient_norms:
                line += " [dim]— ||dC/db|| " + ", ".join(f"{g:.3g}" for g in record.bias_gradient_norms) + "[/]"
            if status[m] == EARLY_STOPPED:
                why = report.reasons[m] or f"no new best for {epoch - report.best[m].epoch} epochs"
                line += f" [yellow]— stopping early: {why}[/]"
            self.print(line)
        self._epoch = epoch + 1
        shown = [b for b in report.best if b.epoch is not None]
        if shown:
            top = max(shown, key=lambda b: b.validation_accuracy)
            self._status = f"val {pct(records[0].validation_accuracy) if records[0] else '—'} best {pct(top.validation_accuracy)}"

    def end_training(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def finish(self, results) -> None:
        columns = [Column("run"), Column("status", wrap=False), *(Column(h, wrap=False, justify="right") for h in
                   ("epochs", "best val", "at epoch", "test", "s/epoch"))]
        rows = []
        for r in results:
            s = r.summary
            per_epoch = s.seconds / s.epochs_completed if s.epochs_completed else None
            rows.append([r.path.name, s.status, str(s.epochs_completed), pct(s.best_validation_accuracy),
                         str(s.best_epoch or "—"), pct(s.test_accuracy), f"{per_epoch:.2f}" if per_epoch else "—"])
        # the results: printed with --quiet too
        self.console.print(fitted_table(columns, rows, self.console.width,
                                        title="Result (test accuracy at the best validation epoch)"))
        if results:
            print_whole(self.console, f"Run directories in {results[0].path.parent}/")  # with --quiet too
        by_point: dict[str, list] = {}
        for r in results:  # the runs of one experiment: one config's repeats, or one sweep point's
            by_point.setdefault(r.summary.name, []).append(r.summary)
        for name, summaries in by_point.items():
            top = best_by_validation(summaries)
            if len(summaries) > 1 and top is not None:
                tests = spread(results_of(summaries))
                std = "—" if tests.std is None else f"{100 * tests.std:.2f}"
                point = f"{point_of(name)}: " if len(by_point) > 1 else ""
                print_whole(self.console, f"{point}Best of {tests.n} runs by validation: test "
                            f"{pct(top.test_accuracy)} (seed {top.seed}); mean ± std of test: {pct(tests.mean)} ± {std}")
