"""`nnbook ensemble` on the screen: its members as a table that fits the terminal. Never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rich.console import Console

from nnbook.tables import Column, fitted_table
from nnbook.ui.console import output_console, pct


def show_members(members: list[dict], split: str = "test", console: Optional[Console] = None) -> None:
    """ensemble.json's members: each run, its seed and its own accuracy on the split voted on."""
    console = output_console(console)
    columns = [Column("member"), Column("seed", wrap=False, justify="right"),
               Column(split, wrap=False, justify="right")]
    rows = [[Path(m["path"]).name, str(m["seed"]), pct(m[f"{split}_accuracy"])] for m in members]
    console.print(fitted_table(columns, rows, console.width))
