"""Tables that fit the width they are printed at, with no number cut: every table nnbook prints
(list, report, train's result, a sweep's plan and grid, ensemble) is laid out here.

The rule, one for all of them:
  - a column is either `wrap=False` (numbers, seeds, statuses: never wrapped, never cut) or
    wraps at spaces only (names, labels, notes: a word is never broken);
  - when every column gets that much room at the width given, the table is printed with the
    spare room shared out towards each column's one-line width: boxed, or where the box's
    lines do not leave room, compact (no lines between columns, two spaces instead);
  - otherwise each row becomes a block: its first cell as a heading, then one `column  value`
    line per other column. Nothing is ever cut with '…', at 60 columns or 200, in a terminal
    or a pipe (a pipe or a file gets the width the command gives it: see the callers).

Only layout: the cells come as text (rich markup allowed). Never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from rich import box
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text



@dataclass(frozen=True)
class Layout:
    """The room a table's lines take besides its cells: `per_column` for each, `extra` once."""

    boxed: bool
    per_column: int
    extra: int


# Boxed: "│ " before every cell, " " after it, and the closing "│". Compact: two spaces between cells.
BOXED, COMPACT = Layout(True, 3, 1), Layout(False, 2, -2)
INDENT = 2  # a block's lines under its heading


@dataclass
class Column:
    header: str
    wrap: bool = True  # False: the cell stays on one line, whole (numbers)
    justify: str = "left"


def cell_text(cell: str) -> Text:
    return Text.from_markup(cell) if "[" in cell else Text(cell)


def _widths(text: Text) -> tuple[int, int]:
    """(its longest word, its longest line), in cells."""
    plain = text.plain
    words = plain.split()
    return (max((Text(w).cell_len for w in words), default=0),
            max((Text(line).cell_len for line in plain.splitlines()), default=0))


def column_widths(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int,
                  layout: Layout = BOXED) -> Optional[list[int]]:
    """Each column's width at `width` in all (the layout's lines included), or None when the table
    cannot give every unwrapped column its longest cell and every other its longest word."""
    room = width - layout.per_column * len(columns) - layout.extra
    need, half_header, cells_line, header_line = [], [], [], []
    for i, column in enumerate(columns):
        header_word, header_length = _widths(Text(column.header))
        cells = [_widths(cell_text(row[i])) for row in rows]
        longest_line = max((line for _, line in cells), default=0)
        longest_word = max((word for word, _ in cells), default=0)
        need.append(max(header_word, longest_line if not column.wrap else longest_word, 1))
        half_header.append(max(need[-1], -(-header_length // 2)))
        cells_line.append(max(longest_line, need[-1]))
        header_line.append(max(header_length, cells_line[-1]))
    if sum(need) > room:
        return None
    widths, spare = list(need), room - sum(need)
    # The spare room: headers to about two lines, then the cells to one line, then headers to one.
    for target in (half_header, cells_line, header_line):
        while spare > 0 and any(w < t for w, t in zip(widths, target)):
            for i in range(len(widths)):  # a cell of room at a time to each column still short of one line
                if spare and widths[i] < target[i]:
                    widths[i] += 1
                    spare -= 1
    return widths


def fitted_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int,
                 title: Optional[str] = None, heading: int = 0) -> RenderableType:
    """The table laid out for `width` columns: a rich Table, or one block per row headed by its
    cell in column `heading` (module docstring)."""
    for layout in (BOXED, COMPACT):
        widths = column_widths(columns, rows, width, layout)
        if widths is not None:
            break
    else:
        return Blocks(columns, rows, title, heading)
    table = (Table(title=title, title_justify="left") if layout.boxed else
             Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0),
                   pad_edge=False))
    for column, w in zip(columns, widths):
        table.add_column(column.header, justify=column.justify, width=w, overflow="fold")
    for row in rows:
        table.add_row(*(cell_text(c) for c in row))
    return table


class Blocks:
    """Each row as a block: its heading cell in bold, then a `header  value` line for each other
    cell, the value wrapped at spaces under itself; laid out at the width it is printed at, with
    no trailing spaces."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[str]], title: Optional[str] = None,
                 heading: int = 0):
        self.columns, self.rows, self.title, self.heading = columns, rows, title, heading

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        others = [i for i in range(len(self.columns)) if i != self.heading]
        key_width = min(max((len(self.columns[i].header) for i in others), default=0), max(8, 2 * width // 5))
        value_width = max(width - INDENT - key_width - 2, 8)
        if self.title:
            yield from Text(self.title).wrap(console, width)
        for n, row in enumerate(self.rows):
            if n or self.title:
                yield Text("")
            heading = cell_text(row[self.heading])
            heading.stylize("bold")
            yield from heading.wrap(console, width)
            for i in others:
                keys = Text(self.columns[i].header, style="dim").wrap(console, key_width)
                values = cell_text(row[i]).wrap(console, value_width)
                for j in range(max(len(keys), len(values))):
                    key = keys[j] if j < len(keys) else Text("")
                    value = values[j] if j < len(values) else Text("")
                    line = Text(" " * INDENT) + key + Text(" " * (key_width - key.cell_len + 2)) + value
                    line.rstrip()
                    yield line
