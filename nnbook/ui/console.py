"""The terminal's shared pieces: consoles and how numbers are shown.

Accuracies are fractions everywhere in nnbook, percentages only on the screen.
Never imports torch.
"""

from __future__ import annotations

import sys
from typing import Optional

from rich.console import Console


def pct(fraction: Optional[float]) -> str:
    return "—" if fraction is None else f"{100 * fraction:.2f}%"


def output_console(console: Optional[Console] = None) -> Console:
    """stdout; in logs and pipes wide enough for a summary table on one line each."""
    console = console or Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 120)
    return console


def error_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True, file=sys.stderr)
