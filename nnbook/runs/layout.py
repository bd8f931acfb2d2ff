"""The results root: where every command writes, so a checkout stays clean.

Everything nnbook makes goes under one folder, the runs directory (`--runs-dir`,
default `runs/`, which git ignores): the run directories themselves
(`NAME-YYYYmmdd-HHMMSS/`), a sweep's grid (`NAME.sweep.md`, `.png`), and the other
commands' outputs in folders of their own, named here. Readers of runs (`report`,
`ensemble`, `plot`) know these folders hold no runs of their own. `Dirs` bundles the
results root with the data folder a command reads, as the two travel together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.errors import NnbookError

ENSEMBLES = "ensembles"  # nnbook ensemble: ensembles/NAME-TIME/
PLOTS = "plots"  # nnbook plot
GRADIENTS = "gradients"  # nnbook gradients
CHAPTERS = "chapters"  # nnbook chapter6: chapters/chapter6-TIME/ (with its own runs/)
PREVIEWS = "previews"  # nnbook augment-preview
OUTPUT_FOLDERS = (ENSEMBLES, PLOTS, GRADIENTS, CHAPTERS, PREVIEWS)


@dataclass(frozen=True)
class Dirs:
    """Where every run of a command writes and reads: bundled, as they travel together."""

    runs_dir: Path  # where run directories are made
    data_dir: Optional[Path] = None  # searched first for the data sets (None: nnbook's default places)


def output_dir(runs_dir: Path, kind: str) -> Path:
    """The folder under the results root where the outputs of `kind` go."""
    return Path(runs_dir) / kind


def is_output_folder(path: Path) -> bool:
    """One of nnbook's own output folders directly under a results root."""
    return Path(path).name in OUTPUT_FOLDERS and Path(path).is_dir()


def make_output_dir(path: Path) -> Path:
    """Make an output folder and its parents: one line, not a traceback, where it cannot be made."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise NnbookError(f"cannot write to {path} ({e.strerror or e}); choose another place with --out "
                          "or --runs-dir") from None
    return path
