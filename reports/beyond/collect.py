"""Copy finished "beyond the book" runs' records into reports/beyond/runs/
(`python reports/beyond/collect.py RUNS_DIR...`; the background lanes' jobs:
`python reports/beyond/collect.py ~/nnbook-lanes/jobs/*`).

For every finished run of a `beyond_*` config in each RUNS_DIR (the pilots and the
committee's members): config.yaml, summary.json, metrics.jsonl, and the predictions a vote
is recomputed from: validation_predictions.npy and validation_predictions_last.npy where the
run has them (best-validation and last network: the choices are made on validation), and for
the committee's members test_predictions.npy and test_predictions_last.npy (a pilot is judged
on validation only: its test predictions stay out). No weights are committed. Runs already copied are
left as they are (reports/collect_runs.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from reports.collect_runs import RECORDS, copy_records, finished_runs, usage_error  # noqa: E402

REPORT = ROOT / "reports" / "beyond"
PREDICTIONS = tuple(f"{split}_predictions{last}.npy" for split in ("test", "validation") for last in ("", "_last"))


def main(source: Path) -> None:
    for run, summary in finished_runs(source):
        if not summary.name.startswith("beyond_"):
            continue
        # A pilot is judged on validation only: its test predictions stay out of the report.
        names = RECORDS + tuple(n for n in PREDICTIONS if not (pilot(summary.name) and n.startswith("test")))
        target = copy_records(run, REPORT / "runs", names)
        if target is not None:
            print(f"copied {run} to {target.relative_to(ROOT)} ({summary.status}, {summary.epochs_completed} epochs)")


def pilot(name: str) -> bool:
    return name.startswith("beyond_pilot")


if __name__ == "__main__":
    error = usage_error(sys.argv[1:], "reports/beyond/collect.py")
    if error:
        print(error, file=sys.stderr)
        sys.exit(2)
    for folder in sys.argv[1:]:
        main(Path(folder))
