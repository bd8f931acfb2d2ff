"""`nnbook list`: the shipped experiments, so a reader can choose one without opening YAML files;
`nnbook config-reference`: every key a config may hold, to write one's own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import sys

import typer
from rich.console import Console

from nnbook.cli.options import DeviceOpt
from nnbook.config.catalogue import catalogue
from nnbook.config.reference import reference
from nnbook.ui.catalogue_display import show_catalogue


def list_experiments(
    chapter: Annotated[Optional[str], typer.Option(
        metavar="CHAPTER",
        help="Only this chapter's configs: 1, 3, 5, 6 or beyond.", show_default=False)] = None,
    configs_dir: Annotated[Optional[Path], typer.Option(
        metavar="DIR",         help="Where the configs are (default: the configs shipped with nnbook).", show_default=False)] = None,
    timing: Annotated[bool, typer.Option(
        "--timing/--no-timing", help="Measure a rough time per run on this machine's device (a few seconds).")]
    = True,
    device: DeviceOpt = None,
) -> None:
    """The book's experiments: chapter, config, network, data, epochs, the book's figure and which
    statistic it is, and a rough time per run measured on this machine.

    Examples:

        nnbook list

        nnbook list --chapter 6 --no-timing

    Then `nnbook train NAME` trains one, from any directory (`nnbook sweep NAME` for the sweep configs);
    in a checkout, `configs/NAME.yaml` is the same file.
    """
    entries = catalogue(configs_dir, chapter)
    measured_on = None
    if timing and entries:
        from nnbook.execution.timing import seconds_per_run  # deferred: torch (--help, --no-timing stay fast)

        with Console(stderr=True).status("timing a few steps of each network (--no-timing skips this)"):
            seconds, measured_on = seconds_per_run([e.config for e in entries], device or "auto")
        for entry, s in zip(entries, seconds):
            entry.seconds_per_run = s
    show_catalogue(entries, measured_on)


def config_reference() -> None:
    """Every config key (type, allowed values, default, what it does), the layer types, the activations, the
    schedule kinds and how the book's programs set the keys, as markdown made from the schema itself (the
    README's "Config reference" is this text).

    Example:

        nnbook config-reference | less
    """
    sys.stdout.write(reference())
