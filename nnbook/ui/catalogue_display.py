"""`nnbook list` on the screen: the shipped experiments as one table. Never imports torch."""

from __future__ import annotations

from typing import Optional

from rich.console import Console

from nnbook.tables import Column, fitted_table
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
    columns = [Column("ch"), Column("config"), Column("network"), Column("data", wrap=False),
               Column("dtype", wrap=False), Column("epochs", wrap=False, justify="right"),
               Column("runs", wrap=False, justify="right"), Column("book", wrap=False, justify="right"),
               Column("the book's statistic")] + ([Column(timed, wrap=False, justify="right")] if timed else [])
    rows = []
    for e in entries:
        runs = f"{e.runs}" if e.points == 1 else f"{e.points}×{e.runs // e.points}"  # points × repeats
        row = ["6+" if e.chapter == "beyond" else e.chapter, e.name, e.network, e.data, e.config.dtype,
               str(e.config.epochs), runs,
               "—" if e.figure is None else f"{e.figure:.2f}%", e.statistic or ""]
        if timed:
            row.append(duration(e.seconds_per_run))
        rows.append(row)
    table = fitted_table(columns, rows, console.width, heading=1)
    console.print(table)
    if timed:
        console.print(f"[dim]time per run: a few steps measured on {device} (one CPU thread) and scaled to "
                      "the config's epochs (an upper bound where early stopping or a schedule may end sooner); "
                      "`--repeats` runs train together. --no-timing skips the measurement.[/]")
