"""`nnbook gradients` on the screen: chapter 5's table of bias-gradient norms. Never imports torch."""

from __future__ import annotations

from typing import Optional

from rich.console import Console

from nnbook.statistics import column_means
from nnbook.tables import Column, fitted_table
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

    columns = [Column("network"), *(Column(f"layer {i + 1}", wrap=False, justify="right") for i in range(layers)),
               Column("last/first", wrap=False, justify="right")]

    def cells(rows_by_label):
        return [[label, *(f"{g:.4f}" for g in row), f"{row[-1] / row[0]:.1f}x" if layers > 1 and row[0] > 0 else "—"]
                for label, row in rows_by_label]

    means = column_means(result.at_init)  # per layer, over the networks
    rows = [(f"seed {s}", r) for s, r in zip(result.seeds, result.at_init)]
    if len(rows) > 1:
        rows.append(("mean", means))
    shown = cells(rows)
    if result.book:
        shown.append(["[dim]book (config as shipped)[/]" if modified else "[dim]book[/]",
                      *(f"[dim]{g}[/]" for g in result.book),
                      f"[dim]{result.book[-1] / result.book[0]:.1f}x[/]" if layers > 1 else "—"])
    console.print(fitted_table(columns, shown, console.width))
    if epochs > 0:
        last = result.history[-1]
        final = column_means(last)
        rows = [(f"seed {s}", r) for s, r in zip(result.seeds, last)]
        if len(rows) > 1:
            rows.append(("mean", final))
        console.print(fitted_table(columns, cells(rows), console.width,
                                   title=f"After {epochs} epochs of full-batch gradient descent on those images "
                                   f"(eta {config.eta:g}, lmbda {config.lmbda:g})"))
        console.print(f"Norms per epoch: {result.plot_path}  (data: {result.json_path})")
