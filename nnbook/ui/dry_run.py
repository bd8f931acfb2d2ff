"""`nnbook train --dry-run` on the screen: the resolved config and the network layer by layer."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nnbook.config import Config, dump_config


def show_dry_run(config: Config, checked: list[str] = (), console: Console | None = None) -> None:
    """`checked`: what was checked before training (the device, the data file), a line each."""
    from nnbook.nn.net import StackedNet, describe  # deferred: torch, only once the config is valid

    console = console or Console(highlight=False)
    console.print("[bold]Resolved config[/]")
    console.print(dump_config(config), markup=False)
    table = Table(title=f"{config.name}: one network, {config.dtype}", title_justify="left")
    table.add_column("layer")
    table.add_column("output shape", justify="right")
    table.add_column("parameters", justify="right")
    table.add_row("input", "1x28x28", "0")
    rows = describe(StackedNet(config, k=1))
    for what, shape, params in rows:
        table.add_row(what, shape, f"{params:,}")
    table.add_row("[bold]total[/]", "", f"[bold]{sum(r[2] for r in rows):,}[/]")
    console.print(table)
    for line in checked:
        console.print(line, markup=False, soft_wrap=True)
    console.print("Dry run: nothing trained.")
