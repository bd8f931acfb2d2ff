"""Pictures: accuracy curves of runs, the first conv layer's filters, and the
book's grid of an ensemble's misclassified digits.

matplotlib is imported inside each function, with the Agg backend (files
only, no display), so importing nnbook never pays for it. Reads run
directories through runs/; never trains.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from nnbook.errors import NnbookError
from nnbook.runs import directory as runs
from nnbook.runs.records import Summary

SIDE = 28


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def run_label(path: Path, summary: Summary) -> str:
    return f"{summary.name or path.name} (seed {summary.seed})"


def plot_accuracy(paths: list[Path], out: Path) -> Path:
    """Validation accuracy per epoch of every run on one figure (training accuracy
    dashed where a run recorded it); the best-validation epoch of each run marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    plotted = 0
    for path in paths:
        summary = runs.read_summary(path)
        metrics = runs.read_metrics(path)
        if not metrics:
            continue
        epochs = [m.epoch for m in metrics]
        line, = ax.plot(epochs, [100 * m.validation_accuracy for m in metrics], marker="." if len(epochs) < 30 else None,
                        label=run_label(path, summary) + " validation")
        if all(m.train_accuracy is not None for m in metrics):
            ax.plot(epochs, [100 * m.train_accuracy for m in metrics], linestyle="--", color=line.get_color(),
                    label=run_label(path, summary) + " training")
        if summary.best_epoch:
            ax.plot([summary.best_epoch], [100 * summary.best_validation_accuracy], marker="o",
                    color=line.get_color(), fillstyle="none", markersize=9)
        plotted += 1
    if not plotted:
        plt.close(fig)
        raise NnbookError("none of these runs has a finished epoch to plot")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Validation accuracy per epoch (circles: best validation epoch)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, out)


def first_conv_filters(path: Path) -> np.ndarray | None:
    """The first layer's filters of a run's saved network, (F, kh, kw), or None when
    the first layer is not convolutional or no network was saved."""
    if not runs.has_model(path):
        return None
    weight = runs.load_best_weights(path).get("layers.0.weight")
    if weight is None or weight.dim() != 4:  # conv: (F, C, kh, kw); fc: (n_in, n_out)
        return None
    return weight[:, 0].numpy()


def plot_filters(filters: np.ndarray, out: Path, title: str) -> Path:
    """The book's picture of the first conv layer's filters, darker = larger weight."""
    plt = _pyplot()
    n = len(filters)
    cols = min(10, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.8, rows * 0.8 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(filters[i], cmap="Greys", interpolation="nearest")
    fig.suptitle(title, fontsize="small")
    return _save(fig, out)


def plot_errors(out: Path, images: np.ndarray, labels: np.ndarray, predicted: np.ndarray, errors: np.ndarray,
                limit: int = 99) -> Path:
    """The book's grid of misclassified digits: true label top right, the
    ensemble's label bottom right. At most `limit` digits (9 rows of 11), the first by index."""
    plt = _pyplot()
    shown = errors[:limit]
    cols = 11 if len(shown) > 11 else max(1, len(shown))  # the book's 33 errors: 3 rows of 11
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.5), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, i in zip(axes.flat, shown):
        ax.imshow(images[i].reshape(SIDE, SIDE), cmap="Greys", interpolation="nearest")
        ax.text(1.0, 1.0, str(labels[i]), transform=ax.transAxes, ha="right", va="top", color="tab:green",
                fontsize=8)
        ax.text(1.0, 0.0, str(predicted[i]), transform=ax.transAxes, ha="right", va="bottom", color="tab:red",
                fontsize=8)
    more = f" (the first {len(shown)})" if len(errors) > len(shown) else ""
    fig.suptitle(f"{len(errors)} misclassified test digits{more}: true label top right (green), "
                 "ensemble's bottom right (red)", fontsize="small")
    return _save(fig, out)


def plot_runs(paths: list[Path], out_dir: Path) -> list[Path]:
    """`nnbook plot`: accuracy.png for all runs, filters-<run>.png for each conv run."""
    written = [plot_accuracy(paths, out_dir / "accuracy.png")]
    for path in paths:
        filters = first_conv_filters(path)
        if filters is not None:
            summary = runs.read_summary(path)
            written.append(plot_filters(filters, out_dir / f"filters-{path.name}.png",
                                        f"{run_label(path, summary)}: first conv layer's {len(filters)} filters"))
    return written
