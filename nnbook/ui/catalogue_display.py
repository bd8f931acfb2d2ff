"""`nnbook list` on the screen: the shipped experiments as one table. Never imports torch."""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.table import Table

from nnbook.ui.console import output_console


def duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def show_catalogue(entries: list, device: Optional[str], console: Optional[Console] = None) -> None:
    console = output_console(console)
    timed = f"~time/run ({device})" if device else None
    table = Table(title_justify="left", show_lines=False)
    for col in ("ch", "config", "network", "data", "dtype", "epochs", "runs", "book", "the book's statistic", timed):
        if col:  # the network and the statistic wrap; the rest stay on one line
            table.add_column(col, justify="right" if col in ("epochs", "runs", "book", timed) else "left",
                             no_wrap=col not in ("network", "the book's statistic"), ratio=1 if col in (
                                 "network", "the book's statistic") else None)
    for e in entries:
        runs = f"{e.runs}" if e.points == 1 else f"{e.points}×{e.runs // e.points}"  # points × repeats
        row = ["6+" if e.chapter == "beyond" else e.chapter, e.name, e.network, e.data, e.config.dtype,
               str(e.config.epochs), runs,
               "—" if e.figure is None else f"{e.figure:.2f}%", e.statistic or ""]
        if timed:
            row.append(duration(e.seconds_per_run))
        table.add_row(*row)
    console.print(table)
    if timed:
        console.print(f"[dim]time per run: a few steps measured on {device} (one CPU thread) and scaled to "
                      "the config's epochs (an upper bound where early stopping or a schedule may end sooner); "
                      "`--repeats` runs train together. --no-timing skips the measurement.[/]")
