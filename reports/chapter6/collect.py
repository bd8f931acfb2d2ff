"""Copy finished chapter 6 runs' records into the report
(`python reports/chapter6/collect.py RUNS_DIR...`; the background lanes' jobs:
`python reports/chapter6/collect.py ~/nnbook-lanes/jobs/*`).

For every finished run in each RUNS_DIR (a training's own runs directory): config.yaml,
summary.json and metrics.jsonl into reports/chapter6/runs/RUN/; for ch6_relu_dropout also
test_predictions.npy and test_predictions_last.npy (the votes are recomputed from them);
and for ch6_conv (the chapter's first conv net) and the final net, ch6_relu_dropout, the
best-validation network's first-layer filters as
reports/chapter6/filters/RUN.npy (20 x 5 x 5 numbers: the picture's record; no weights
are committed). Runs already copied (the same metrics) are left as they are; a run whose name is
taken by another run there becomes RUN-r1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nnbook.analysis.plots import first_conv_filters  # noqa: E402
from reports.collect_runs import RECORDS, copy_records, finished_runs, usage_error  # noqa: E402

REPORT = ROOT / "reports" / "chapter6"
VOTERS = "ch6_relu_dropout"
FILTERS_OF = ("ch6_conv", VOTERS)


def main(source: Path) -> None:
    for run, summary in finished_runs(source):
        names = RECORDS + (("test_predictions.npy", "test_predictions_last.npy") if summary.name == VOTERS else ())
        target = copy_records(run, REPORT / "runs", names)
        if target is None:
            continue
        filters = first_conv_filters(run) if summary.name in FILTERS_OF else None
        if filters is not None:
            (REPORT / "filters").mkdir(exist_ok=True)
            np.save(REPORT / "filters" / f"{target.name}.npy", filters)
        print(f"copied {run} to {target.relative_to(ROOT)} ({summary.status}, {summary.epochs_completed} epochs)")


if __name__ == "__main__":
    error = usage_error(sys.argv[1:], "reports/chapter6/collect.py")
    if error:
        print(error, file=sys.stderr)
        sys.exit(2)
    for folder in sys.argv[1:]:
        main(Path(folder))
