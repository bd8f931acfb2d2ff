"""The chapters 1-5 rows in both precisions, side by side: float64 (as network.py and
network2.py computed, the configs' dtype) and float32 (the earlier records in float32/).

    .venv/bin/python reports/chapters1-3-5/precision.py reports/chapters1-3-5 > reports/chapters1-3-5/precision.md

Per config: the book's figure and the statistic it is, then for each precision the mean ±
std and range of that statistic over seeds 0-2 and over all 12 seeds where more were
trained. Where the book's words leave the statistic open ("the final result is 97.92
percent on the validation data"), both readings: the last epoch's validation accuracy and
the peak over the epochs. Last, chapter 1's 784-100-10 net: how many runs lose digits
(a digit recognised in under 20% of its test images) in each precision.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import numpy as np

from nnbook.book import FIGURES, FINAL_VALIDATION, PEAK_TEST
from nnbook.data import mnist
from nnbook.records import FINISHED
from nnbook.runs import directory as runs

PRECISIONS = (("float64", "."), ("float32", "float32"))
LOST_DIGITS = "ch1_784_100_10"
LOST_BELOW = 0.2  # a digit recognised in under 20% of its test images is lost


def values_of(metrics, statistic: str) -> float | None:
    if statistic == PEAK_TEST:
        tests = [m.test_accuracy_each_epoch for m in metrics if m.test_accuracy_each_epoch is not None]
        return max(tests) if tests else None
    if statistic == FINAL_VALIDATION:
        return metrics[-1].validation_accuracy if metrics else None
    if statistic == "peak_validation":
        return max(m.validation_accuracy for m in metrics) if metrics else None
    return None


def runs_of(root: Path, name: str, folders: tuple[str, ...]) -> list[Path]:
    found = []
    for folder in folders:
        found += [p for p in sorted((root / folder).glob(f"{name}-*"))
                  if runs.is_run_dir(p) and runs.read_summary(p).status in FINISHED]
    return sorted(found, key=lambda p: runs.read_summary(p).seed)  # finished runs only


def summary_cell(values: list[float]) -> str:
    if not values:
        return "—"
    pct = [100 * v for v in values]
    std = f" ± {statistics.stdev(pct):.2f}" if len(pct) > 1 else ""
    return f"{statistics.fmean(pct):.2f}{std} ({min(pct):.2f}–{max(pct):.2f})"


def lost_digits(path: Path, labels: np.ndarray) -> list[int]:
    """The digits `path`'s best-validation network recognises in under LOST_BELOW of their test
    images, from its saved predictions; for a run whose predictions were not committed (the
    float32 runs), from its line in the folder's lost_digits.txt, written when they existed."""
    if not (path / "test_predictions.npy").exists():
        for line in (path.parent.parent / "lost_digits.txt").read_text().splitlines():
            if line.split(maxsplit=1)[:1] == [path.name]:
                digits = line.split("%", 1)[1].strip()
                return [] if digits == "none" else [int(d) for d in digits.split(",")]
        raise SystemExit(f"error: {path}: no test_predictions.npy and no line in lost_digits.txt")
    predicted = runs.load_predictions(path).argmax(1)  # the best-validation epoch's network
    return [d for d in range(10) if ((predicted == d) & (labels == d)).sum() / (labels == d).sum() < LOST_BELOW]


def main(report: Path) -> None:
    print("| config | book % | statistic | precision | seeds 0-2: mean ± std (range) | 12 seeds: mean ± std (range) |")
    print("|---|---|---|---|---|---|")
    for name, figure in FIGURES.items():
        if not name.startswith(("ch1_", "ch3_", "ch5_")):
            continue
        readings = [figure["statistic"]] + (["peak_validation"] if figure["statistic"] == FINAL_VALIDATION else [])
        for statistic in readings:
            label = {PEAK_TEST: "peak test", FINAL_VALIDATION: "final validation",
                     "peak_validation": "peak validation (the other reading)"}[statistic]
            for precision, folder in PRECISIONS:
                base = report / folder
                three = [values_of(runs.read_metrics(p), statistic) for p in runs_of(base, name, ("runs",))]
                every = [values_of(runs.read_metrics(p), statistic) for p in runs_of(base, name, ("runs", "more-seeds"))]
                three, every = [v for v in three if v is not None], [v for v in every if v is not None]
                book = f"{figure['figure']:.2f}" if figure["figure"] is not None else "—"
                print(f"| {name} | {book} | {label} | {precision} | {summary_cell(three)} | "
                      f"{summary_cell(every) if len(every) > len(three) else ''} |")

    labels = mnist.load("mnist").test.y
    print()
    print(f"{LOST_DIGITS}: runs that lost at least one digit (recognised in under {LOST_BELOW:.0%} of its test images)")
    print()
    print("| precision | runs | lost a digit | kept all ten | seeds that kept all ten |")
    print("|---|---|---|---|---|")
    for precision, folder in PRECISIONS:
        paths = runs_of(report / folder, LOST_DIGITS, ("runs", "more-seeds"))
        kept = [runs.read_summary(p).seed for p in paths if not lost_digits(p, labels)]
        print(f"| {precision} | {len(paths)} | {len(paths) - len(kept)} | {len(kept)} | "
              f"{', '.join(map(str, kept)) or '—'} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
