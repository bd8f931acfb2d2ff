"""Where a result came from: the commit of nnbook that computed it and the processor it ran on.

Recorded in every run's summary.json (runs/records.environment), so that a report's device
line and "trained at commit X" are read from the records, never typed. No torch here: the
GPU's name is the caller's (only it knows the device).
"""

from __future__ import annotations

import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional

# The checkout nnbook was imported from, when it was imported from one (an installed wheel
# lives in site-packages, in no repository of its own).
SOURCE_ROOT = Path(__file__).resolve().parents[1]


def _git(*args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", str(SOURCE_ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None  # no git on this machine, or it hung
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=1)
def source_commit() -> tuple[Optional[str], Optional[bool]]:
    """(the commit nnbook's code was checked out at, whether its tracked files were unchanged),
    or (None, None) where nnbook is not running from a git checkout of itself (a wheel)."""
    top = _git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != SOURCE_ROOT or not (SOURCE_ROOT / "nnbook").is_dir():
        return None, None  # installed into some other repository's tree, or not in one at all
    commit = _git("rev-parse", "HEAD")
    # Tracked files only: the results root (runs/), data and the venv are ignored or untracked.
    changes = _git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if changes is None else changes == "")


@lru_cache(maxsize=1)
def processor_model() -> str:
    """The CPU's model name as the kernel reports it ("AMD EPYC 7B13", "Intel(R) Xeon(R) ..."),
    or the machine type where it says none."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass  # not Linux
    return platform.processor() or platform.machine()
