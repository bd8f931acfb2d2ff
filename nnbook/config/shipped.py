"""The experiments shipped inside the package, and finding one by name.

The book's configs are package data in `nnbook/configs/` (the repository's top-level
`configs` is a link to that folder, so `configs/ch6_shallow.yaml` works in a checkout
and is the same file): an installed nnbook lists and trains them from any directory.
A config argument that names no file but is a shipped config's name (`ch6_shallow`, or
`ch6_shallow.yaml`) means that config. No torch.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from nnbook.errors import ConfigError

# Beside the code, in the checkout and in an installed wheel alike (pyproject's package-data).
SHIPPED_DIR = Path(__file__).resolve().parents[1] / "configs"


def shipped_names() -> list[str]:
    """The names of the shipped configs, sorted."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def shipped(name: str) -> Path | None:
    """The shipped config called `name` (with or without .yaml), or None."""
    stem = name.removesuffix(".yaml")
    path = SHIPPED_DIR / f"{stem}.yaml"
    return path if stem and "/" not in stem and path.is_file() else None


def find_config(path: str | Path) -> Path:
    """`path` when it names a file (or anything that exists: read_yaml says what is wrong with
    it); else the shipped config of that name; else one line naming the closest shipped name."""
    path = Path(path)
    if path.exists():
        return path
    text = str(path)
    if path.parent == Path("."):  # a bare name, not a path into some directory
        found = shipped(text)
        if found is not None:
            return found
        names = shipped_names()
        close = difflib.get_close_matches(text.removesuffix(".yaml"), names, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"{text}: no such config file, nor a shipped config ({hint}`nnbook list` shows the "
                          f"{len(names)} shipped ones)")
    raise ConfigError(f"{text}: no such config file")
