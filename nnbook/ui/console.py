"""The terminal's shared pieces: consoles and how numbers are shown.

Accuracies are fractions everywhere in nnbook, percentages only on the screen.
Never imports torch.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from rich.console import Console


def pct(fraction: Optional[float]) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


def output_console(console: Optional[Console] = None) -> Console:
    """stdout; in logs and pipes wide enough for a summary table on one line each, unless COLUMNS
    gives the width (tables fit whatever width they get: nnbook/tables.py)."""
    console = console or Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = max(console.width, 120)
    return console


def print_whole(console: Console, *args, **kwargs) -> None:
    """console.print, with a line of text (a run's path, a result) never hard-wrapped at the
    console's width: in a log or a pipe it stays one line, for grep. Tables lay out as usual."""
    if all(isinstance(a, str) for a in args):
        kwargs.setdefault("soft_wrap", True)
    console.print(*args, **kwargs)


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, file=sys.stderr)
