"""`Choice`: the base of every named choice a command takes (`--method vote`, `--format csv`).

A `str` Enum, so the library accepts the plain string too and Typer lists the values in
`--help`; printed, a member is its value (an f-string would otherwise give `Method.vote`).
"""

from enum import Enum


class Choice(str, Enum):
    def __str__(self) -> str:  # as written on the command line
        return self.value
