"""What a failure while training is, in words: its cause in one line and what to do about it.

A full disk, a failed write, running out of memory on the CPU or the GPU, an exception
in a callback: experiment.py marks the runs `failed` with `describe_failure(error)` as
their `error` and raises `TrainingFailed`, one line that the CLI prints (exit 1; the
original traceback, chained, only with `nnbook --debug`). A sweep records the same cause
as its batch's outcome. Writes nothing, and imports no torch: a GPU out-of-memory error
can only come from a torch that is already loaded.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path

from nnbook.errors import NnbookError

FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, disk quota exceeded


class TrainingFailed(NnbookError):
    """Training stopped by an error; `cause` is the one line that summary.json records."""

    def __init__(self, message: str, cause: str):
        super().__init__(message)
        self.cause = cause


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else ""


def _gpu_out_of_memory(error: BaseException) -> bool:
    torch = sys.modules.get("torch")
    if torch is not None:
        oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
        if oom is not None and isinstance(error, oom):
            return True
    # Older torch and other CUDA calls raise a plain RuntimeError that says so.
    return isinstance(error, RuntimeError) and ("CUDA out of memory" in str(error)
                                                or "CUDA error: out of memory" in str(error))


def _cpu_out_of_memory(error: BaseException) -> bool:
    # torch's CPU allocator raises a RuntimeError ("DefaultCPUAllocator: can't allocate memory").
    return isinstance(error, MemoryError) or (isinstance(error, RuntimeError)
                                              and "can't allocate memory" in str(error))


def describe_failure(error: BaseException) -> str:
    """The cause of a failure in one line, e.g. "no space left on device writing runs/x/checkpoint.pt"."""
    if isinstance(error, TrainingFailed):
        return error.cause
    if isinstance(error, NnbookError):
        return str(error)
    if isinstance(error, OSError) and error.strerror:
        where = f" writing {error.filename}" if error.filename else ""
        return f"{error.strerror[0].lower()}{error.strerror[1:]}{where}"
    if _gpu_out_of_memory(error):
        return f"out of memory on the GPU ({_first_line(error)})"
    if _cpu_out_of_memory(error):
        detail = _first_line(error)
        return "out of memory" + (f" ({detail})" if detail else "")
    detail = _first_line(error)
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


def remedy(error: BaseException) -> str:
    """What to do before resuming, as a clause that `, then resume ...` follows."""
    if isinstance(error, OSError) and error.errno in FULL:
        where = f" on the disk that holds {Path(error.filename).parent}" if error.filename else ""
        return f"free some space{where}"
    if isinstance(error, OSError):
        return "fix that (a read-only, failing or vanished disk, or the files' permissions)"
    if _gpu_out_of_memory(error):
        return ("free GPU memory (nvidia-smi lists the processes that hold it; or start a new run with fewer "
                "repeats or a smaller mini_batch_size)")
    if _cpu_out_of_memory(error):
        return "free memory (close other programs; or start a new run with --sequential or fewer repeats)"
    return "fix its cause (`nnbook --debug` shows the traceback)"
