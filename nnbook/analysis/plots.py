"""Every picture nnbook draws, and the one place that sets up matplotlib: accuracy
curves of runs (and of a row's seeds as a mean and a band), chapter 3's overfitting
curves, the first conv layer's filters, the book's grid of an ensemble's
misclassified digits, chapter 5's speed of learning, a sweep's test accuracy against
its swept value, and the preview of a config's distortions.

Other layers hand over arrays and tables (nn/measure.gradient_trajectory's norms,
sweep/results.grid_figure, data/augment.preview_mosaic); this module only draws them.
matplotlib is imported when a picture is drawn (`_pyplot`), with the Agg backend (files
only, no display), so importing nnbook never pays for it. The `*_png` functions return
the picture as PNG bytes that are the same on every rerun (html_report.py puts them in
its page). Reads run directories through runs/; never trains.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from nnbook.analysis.curves import Band
from nnbook.analysis.experiments import experiment_of_each
from nnbook.config.labels import Experiment
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs import directory as runs
from nnbook.runs import layout
from nnbook.runs.records import Summary
from nnbook.statistics import column_means, spread

SIDE = 28


def _pyplot():
    import matplotlib  # deferred: slow to import, and only the commands that draw need it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    layout.make_output_dir(path.parent)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes, the same bytes on every rerun: matplotlib writes no time into a
    PNG, and its version (the 'Software' text) is left out so that an upgrade alone changes nothing.
    The figure's own margins, not a tight box: one drawing pass instead of two."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def run_label(experiment: Experiment, summary: Summary) -> str:
    """A run in a legend: its experiment's label (`ch6_shallow @eta=0.5`) and its seed."""
    return f"{experiment.label} (seed {summary.seed})"


def plot_accuracy(paths: list[Path], out: Path) -> Path:
    """Validation accuracy per epoch of every run on one figure (training accuracy
    dashed where a run recorded it); the best-validation epoch of each run marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    plotted = 0
    experiments = experiment_of_each(paths)
    for path in paths:
        summary = runs.read_summary(path)
        metrics = runs.read_metrics(path)
        if not metrics:
            continue
        epochs = [m.epoch for m in metrics]
        line, = ax.plot(epochs, [100 * m.validation_accuracy for m in metrics], marker="." if len(epochs) < 30 else None,
                        label=run_label(experiments[path], summary) + " validation")
        if all(m.train_accuracy is not None for m in metrics):
            ax.plot(epochs, [100 * m.train_accuracy for m in metrics], linestyle="--", color=line.get_color(),
                    label=run_label(experiments[path], summary) + " training")
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
    return _save(_filters_figure(filters, title), out)


def filters_png(filters: np.ndarray, title: str) -> bytes:
    """plot_filters' picture as PNG bytes (for a page that holds its images)."""
    return _png(_filters_figure(filters, title))


def _filters_figure(filters: np.ndarray, title: str):
    """The filters tiled into one image, 10 a line, each scaled to its own range as the book
    shows them (one image, not an axes per filter: a tenth of the drawing time)."""
    plt = _pyplot()
    n, kh, kw = filters.shape
    cols = min(10, n)
    rows = math.ceil(n / cols)
    gap = max(1, kh // 4)  # pixels between two filters
    mosaic = np.full((rows * (kh + gap) - gap, cols * (kw + gap) - gap), np.nan)
    for i, f in enumerate(filters):
        low, high = float(f.min()), float(f.max())
        r, c = divmod(i, cols)
        mosaic[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = (
            (f - low) / (high - low) if high > low else 0.0)
    fig = plt.figure(figsize=(cols * 0.8, rows * 0.8 + 0.4))
    ax = fig.add_axes([0, 0, 1, rows * 0.8 / (rows * 0.8 + 0.4)])
    cmap = plt.get_cmap("Greys").with_extremes(bad="white")  # the gaps
    ax.imshow(np.ma.masked_invalid(mosaic), cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize="small")
    return fig


def band_png(band: Band, title: str) -> bytes:
    """One row's validation accuracy per epoch (curves.Band): the mean over its runs, a line, and
    the band from the lowest to the highest run, shaded; PNG bytes. Two panels: every epoch, and
    the last three quarters of them on their own scale, where the first epochs' rise would
    otherwise flatten the spread between the runs into a line."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    start = band.epochs[len(band.epochs) // 4]
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    fig.subplots_adjust(left=0.08, right=0.99, bottom=0.15, top=0.84, wspace=0.18)  # fixed: one drawing pass
    for ax, first in zip(axes, (band.epochs[0], start)):
        shown = [i for i, e in enumerate(band.epochs) if e >= first]
        epochs = [band.epochs[i] for i in shown]
        ax.fill_between(epochs, [100 * band.low[i] for i in shown], [100 * band.high[i] for i in shown],
                        alpha=0.3, linewidth=0, label="lowest to highest run")
        ax.plot(epochs, [100 * band.mean[i] for i in shown], marker="." if len(epochs) < 30 else None,
                label=f"mean of {band.runs} run{'s' if band.runs != 1 else ''}")
        if min(band.n) != band.runs:  # runs that stopped early: say where the count drops
            last_full = max(e for e, n in zip(band.epochs, band.n) if n == band.runs)
            ax.axvline(last_full, color="grey", linestyle=":", linewidth=1,
                       label=f"after epoch {last_full}: fewer runs")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy (%)")
    axes[0].set_title("every epoch", fontsize="small")
    axes[1].set_title(f"from epoch {start}", fontsize="small")
    axes[1].legend(fontsize="small", loc="lower right")
    fig.suptitle(title, fontsize="medium")
    return _png(fig)


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


# Chapter 3's overfitting figures, one panel each: (metrics field, axis label, scale to percent?).
OVERFITTING_PANELS = (("train_eval_cost", "cost on the training data", False),
                      ("test_accuracy_each_epoch", "accuracy on the test data (%)", True),
                      ("train_accuracy", "accuracy on the training data (%)", True))


def plot_overfitting(paths: list[Path], out: Path, title: str) -> Path:
    """The book's chapter 3 overfitting plots for runs that recorded them (monitor: training and
    test): training cost, test accuracy and training accuracy per epoch, a line per run."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(OVERFITTING_PANELS), figsize=(15, 4.2))
    for path in paths:
        summary, metrics = runs.read_summary(path), runs.read_metrics(path)
        epochs = [m.epoch for m in metrics]
        for ax, (field, _, percent) in zip(axes, OVERFITTING_PANELS):
            values = [getattr(m, field) for m in metrics]
            ax.plot(epochs, [100 * v if percent else v for v in values], linewidth=1,
                    label=f"seed {summary.seed}")
    for ax, (_, label, _) in zip(axes, OVERFITTING_PANELS):
        ax.set_xlabel("epoch")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle(title)
    return _save(fig, out)


def records_overfitting(path: Path) -> bool:
    metrics = runs.read_metrics(path)
    return bool(metrics) and all(getattr(m, field) is not None for m in metrics for field, _, _ in OVERFITTING_PANELS)


def plot_runs(paths: list[Path], out_dir: Path) -> list[Path]:
    """`nnbook plot`: accuracy.png for all runs, filters-<run>.png for each conv run, and
    overfitting-<config>.png for the runs of each config that recorded training cost and
    accuracy and the test accuracy every epoch (monitor: {training: true, test: true})."""
    written = [plot_accuracy(paths, out_dir / "accuracy.png")]
    experiments = experiment_of_each(paths)
    by_experiment: dict[Experiment, list[Path]] = {}
    for path in paths:
        if records_overfitting(path):
            by_experiment.setdefault(experiments[path], []).append(path)
    names = [e.name for e in by_experiment]
    for experiment, group in by_experiment.items():
        # overfitting-NAME.png; with the differences where experiments of one name are plotted apart
        stem = experiment.name if names.count(experiment.name) == 1 else file_safe(experiment.label.replace(" ", ""))
        written.append(plot_overfitting(group, out_dir / f"overfitting-{stem}.png", f"{experiment.label}: training "
                                        "cost, test accuracy and training accuracy per epoch"))
    for path in paths:
        filters = first_conv_filters(path)
        if filters is not None:
            summary = runs.read_summary(path)
            title = f"{run_label(experiments[path], summary)}: first conv layer's {len(filters)} filters"
            written.append(plot_filters(filters, out_dir / f"filters-{path.name}.png", title))
    return written


def file_safe(text: str) -> str:
    """`text` as a file name: what is not a letter, digit or one of `_.@=,-` becomes `_`."""
    return re.sub(r"[^\w.@=,-]", "_", text)


def plot_gradient_norms(history: list[list[list[float]]], path: Path, title: str) -> Path:
    """Chapter 5's figures: one curve per hidden layer, ||dC/db|| (the mean over the networks)
    per epoch, log scale. `history`: [epoch][network][hidden layer], row 0 at initialisation."""
    plt = _pyplot()
    means = [column_means(row) for row in history]  # [epoch][layer]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for layer in range(len(means[0])):
        ax.plot(range(len(means)), [row[layer] for row in means], label=f"hidden layer {layer + 1}")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("||dC/db||  (speed of learning)")
    ax.set_title(title)
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_grid(grid, path: Path) -> Path:
    """A sweep's picture from its `GridFigure` (sweep/results.grid_figure): each run's test
    accuracy a dot, the mean a line, one line per combination of the other swept keys."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in grid.curves.items():
        line, = ax.plot([x for x, _ in points], [100 * spread(tests).mean for _, tests in points], marker="o",
                        label=label or "mean of runs")
        for x, tests in points:
            ax.scatter([x] * len(tests), [100 * t for t in tests], s=10, color=line.get_color(), alpha=0.5)
    xs = sorted(grid.x_values)
    positive = [x for x in xs if x > 0]
    if positive and xs[0] >= 0 and positive[-1] / positive[0] >= 100:
        # lmbda grids span decades and start at 0: linear below the smallest positive value
        if xs[0] == 0:
            ax.set_xscale("symlog", linthresh=positive[0])
        else:
            ax.set_xscale("log")
    ax.set_xlabel(grid.x_key)
    ax.set_ylabel("test accuracy at best validation (%)")
    ax.set_title(grid.title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_preview(mosaic: np.ndarray, path: Path, title: str) -> Path:
    """`nnbook augment-preview`'s mosaic (data/augment.preview_mosaic; -1 in the gaps) as an
    image, the format from the suffix: black digits on white."""
    plt = _pyplot()
    h, w = mosaic.shape
    inches = (max(w / 40, 4), h / 40)  # 2.5 screen pixels per image pixel at 100 dpi
    title_inches = 0.3
    fig = plt.figure(figsize=(inches[0], inches[1] + title_inches), dpi=100)
    try:
        supported = fig.canvas.get_supported_filetypes()
        suffix = path.suffix.lstrip(".").lower()
        if suffix not in supported:
            raise ConfigError(f"--out {path}: unknown image format {path.suffix!r}; use one of "
                              f"{', '.join('.' + s for s in sorted(supported))}")
        ax = fig.add_axes([0, 0, 1, inches[1] / (inches[1] + title_inches)])
        image = np.ma.masked_less(mosaic, 0)  # the gaps
        cmap = plt.get_cmap("gray_r").copy()
        cmap.set_bad("white")
        ax.imshow(image, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_axis_off()
        fig.suptitle(title, fontsize=8, y=0.995, va="top")
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
