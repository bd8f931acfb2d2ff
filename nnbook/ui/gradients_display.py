"""`nnbook gradients` on the screen: chapter 5's table of bias-gradient norms. Never imports torch."""

from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.table import Table

from nnbook.statistics import column_means
from nnbook.ui.console import output_console


def show_gradients(config, result, sample: int, epochs: int, console: Optional[Console] = None,
                   modified: bool = False) -> None:
    """`nnbook gradients`: one row per network (and their mean, and the book's), one column
    per hidden layer, plus how much faster the last hidden layer learns than the first."""
    console = output_console(console)
    layers = len(result.at_init[0])
    n_images = min(sample, 50_000)
    console.print(f"[bold]{config.name}[/]: ||dC/db|| of each hidden layer at initialisation "
                  f"(init {config.init}, cost {config.cost}), the mean gradient over the first {n_images:,} "
                  "training images")

    def add_rows(table, rows_by_label):
        for label, row in rows_by_label:
            ratio = f"{row[-1] / row[0]:.1f}x" if layers > 1 and row[0] > 0 else "—"
            table.add_row(label, *(f"{g:.4f}" for g in row), ratio)

    def new_table(title=None):
        table = Table(title=title, title_justify="left")
        table.add_column("network")
        for i in range(layers):
            table.add_column(f"layer {i + 1}", justify="right")
        table.add_column("last/first", justify="right")
        return table

    means = column_means(result.at_init)  # per layer, over the networks
    rows = [(f"seed {s}", r) for s, r in zip(result.seeds, result.at_init)]
    if len(rows) > 1:
        rows.append(("mean", means))
    table = new_table()
    add_rows(table, rows)
    if result.book:
        table.add_row("[dim]book (config as shipped)[/]" if modified else "[dim]book[/]", *(f"[dim]{g}[/]" for g in result.book),
                      f"[dim]{result.book[-1] / result.book[0]:.1f}x[/]" if layers > 1 else "—")
    console.print(table)
    if epochs > 0:
        last = result.history[-1]
        final = column_means(last)
        table = new_table(f"After {epochs} epochs of full-batch gradient descent on those images "
                          f"(eta {config.eta:g}, lmbda {config.lmbda:g})")
        rows = [(f"seed {s}", r) for s, r in zip(result.seeds, last)]
        if len(rows) > 1:
            rows.append(("mean", final))
        add_rows(table, rows)
        console.print(table)
        console.print(f"Norms per epoch: {result.plot_path}  (data: {result.json_path})")
