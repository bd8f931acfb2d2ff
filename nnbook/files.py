"""How nnbook writes a file so that nothing is lost: whole or not at all, readable as any program's;
and the locks that keep two processes from making or training the same thing at once.

Every byte that a run, an ensemble or a sweep writes reaches its file through
`write_bytes`, the one low-level write (a test makes it fail as a full disk would):

  - `atomic_write(path, data)`: a temporary file `.<name>.<8 hex digits>` beside
    `path`, fsynced, then renamed over it, so that a kill, a full disk or any other
    failure leaves the old version or the new one, never a torn file; a failure
    removes the temporary file (only a kill can leave one: see `is_temporary`);
  - `atomic_write_all(files)`: files that belong together (a best model and its test
    predictions): every one written first, then all renamed;
  - `append_line(path, line)`: one whole line at the end of a file, or nothing: a
    failed append is cut back to where the file ended.

The data files (data/), too big to hold as bytes, are written by name into a temporary
file or directory beside their place and renamed into it the same way: `atomic_output`
(a file, streamed: a download, the expanded set) and `atomic_directory` (a cache entry).
They are not fsynced: each can be made again from its source (the download is checked
against its sha256 before it is renamed).

A failed write raises the OSError with the file's name in it (`filename`), so that the
message can say which file the disk refused. Files are created with mode 0666 less the
umask, as any program's are (0644 under the usual 022): mkstemp's 0600 would hide a
shared results folder from the people it is shared with.

Locks are flocks, which the OS drops when the process ends, even on SIGKILL:
  - the lock a training process holds on its run (`hold_lock`, `release_lock`,
    `is_held`), never waited for; its file exists only while some process holds or
    takes it: `release_lock` removes it;
  - `wait_for_lock(lock)`: an exclusive lock on an open lock file, waited for, so that
    processes that need the same data file at once make it once (the file stays).
Where there is no flock (Windows) nothing is locked. Knows nothing of what the files
hold: runs/directory.py names a run's files and runs/records.py says what is in them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

try:
    import fcntl
except ImportError:  # Windows: no flock, so no lock (see hold_lock, wait_for_lock)
    fcntl = None

MODE = 0o666  # less the umask, applied by the kernel as the file is created


def write_bytes(fd: int, data: bytes) -> None:
    """Write all of `data` to the open file descriptor `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]  # os.write may write less than it was given


def _named(error: BaseException, path: Path) -> None:
    """Name the file being written in `error` (not its temporary file): what the message shows."""
    if isinstance(error, OSError):
        error.filename, error.filename2 = str(path), None


def _create(path: Path) -> tuple[int, Path]:
    """A new, empty temporary file beside `path` (O_EXCL: never one that exists)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), MODE), tmp
        except FileExistsError:
            continue
        except OSError as e:
            _named(e, path)
            raise


def _write_temporary(path: Path, data: bytes) -> Path:
    """`data` in a temporary file beside `path`, on disk (fsynced); nothing left if it fails."""
    fd, tmp = _create(path)
    try:
        try:
            write_bytes(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)  # network file systems may report a full disk only here
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        _named(e, path)
        raise
    return tmp


def atomic_write(path: Path, data: bytes, keep_previous: Optional[Path] = None) -> None:
    """Replace `path` by a file holding `data`, all at once. With `keep_previous`, the old
    `path` is first renamed to it."""
    path = Path(path)
    tmp = _write_temporary(path, data)
    try:
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        _named(e, path)
        raise
    sync_directory(path.parent)


def atomic_write_all(files: Sequence[tuple[Path, bytes]]) -> None:
    """Replace each (path, data) as atomic_write does, the renames only once every file is
    written: a full disk leaves all the old versions (a kill between two renames, one new)."""
    written: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            written.append((_write_temporary(Path(path), data), Path(path)))
        for tmp, path in written:
            os.replace(tmp, path)
    except BaseException:
        for tmp, _ in written:
            tmp.unlink(missing_ok=True)  # those already renamed are gone from this name
        raise
    for directory in {path.parent for _, path in written}:
        sync_directory(directory)


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode())


def append_line(path: Path, line: str) -> None:
    """Append `line` (ending in a newline) and fsync it: the file only ever grows by whole lines."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), MODE)
    except OSError as e:
        _named(e, path)
        raise
    try:
        size = os.fstat(fd).st_size
        try:
            write_bytes(fd, line.encode())
            os.fsync(fd)
        except BaseException as e:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the torn line stays; readers skip a line that is not whole JSON
            _named(e, path)
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A new temporary file beside `path` (`.<name>.<8 hex digits>`, mode 0666 less the umask) for
    the caller to write by name, renamed over `path` when the block ends; removed if it fails."""
    path = Path(path)
    fd, tmp = _create(path)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """A new temporary directory beside `path` (`.<name>-<suffix>`, mkdtemp's: no reader's glob of
    `*-<layout>` finds one half made) for the caller to fill, given mode 0755 less the umask and
    renamed to `path` when the block ends; removed if it fails."""
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    try:
        yield tmp
        os.chmod(tmp, 0o755 & ~_umask())  # mkdtemp makes it private; the directory is an ordinary one
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def is_temporary(name: str, of: Sequence[str]) -> bool:
    """Whether `name` is a temporary file made for one of the files `of` (`.<file>.<suffix>`:
    this module's, or mkstemp's in runs written by older versions)."""
    return any(name.startswith(f".{file}.") for file in of)


def sync_directory(path: Path) -> None:
    """fsync a directory, so that a rename in it survives a power cut (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- locks


def hold_lock(path: Path) -> Optional[int]:
    """Take the lock file `path` (made if missing) for this process: the open descriptor,
    to close with `release_lock` (None where there is no flock). BlockingIOError while another
    process holds it."""
    if fcntl is None:
        return None
    while True:
        # Read-only: a lock needs no write access, so a run shared read-only can still be checked.
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, MODE)
        try:
            for _ in range(19):
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(0.01)  # a reader's is_held() holds it for microseconds; a trainer for hours
            else:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the last try: held by another process if it fails
        except BaseException:
            os.close(fd)
            raise
        if _is_named(fd, path):
            return fd
        os.close(fd)  # its last holder removed it (release_lock) between our open and our flock: lock the new one


def _is_named(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (not removed, nor made again since)."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)


def release_lock(lock, path: Path) -> None:
    """Let go of the lock that hold_lock took on `path` (`lock`: its descriptor, or a file object
    over it), removing the file: a finished run keeps no empty lock file. Removed while still held,
    so that a process that opened it a moment before locks a file no name leads to, which
    hold_lock sees and takes the new one instead; a reader (is_held) then finds no file, or a free
    one: both say that nobody trains the run."""
    if lock is None:
        return
    try:
        os.unlink(path)
    except OSError:
        pass  # a directory that has become read-only: the file stays, free, and means nothing
    finally:
        lock.close() if hasattr(lock, "close") else os.close(lock)


def is_held(path: Path) -> bool:
    """Whether some process holds the lock file `path` now: False where there is none.
    Where nothing can tell (no flock, an unreadable file) True: then believe what the run says."""
    if fcntl is None:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released by the close below
        return False
    except OSError:  # BlockingIOError: held
        return True
    finally:
        os.close(fd)


def wait_for_lock(lock, on_wait: Optional[Callable[[], None]] = None) -> None:
    """Take an exclusive lock on the open lock file `lock`, waiting while another process holds
    it (`on_wait()` first, to say so). Let go by closing `lock`."""
    if fcntl is None:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if on_wait is not None:
            on_wait()
        fcntl.flock(lock, fcntl.LOCK_EX)
