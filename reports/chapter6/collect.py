"""Copy finished chapter 6 runs' records into the report
(`python reports/chapter6/collect.py RUNS_DIR...`; the background lanes' jobs:
`python reports/chapter6/collect.py ~/nnbook-lanes/jobs/*`).

For every finished run in each RUNS_DIR (a training's own runs directory): config.yaml,
summary.json and metrics.jsonl into reports/chapter6/runs/RUN/; for ch6_relu_dropout also
test_predictions.npy and test_predictions_last.npy (the votes are recomputed from them);
and for ch6_conv (the chapter's first conv net) and the final net, ch6_relu_dropout, the
best-validation network's first-layer filters as
reports/chapter6/filters/RUN.npy (20 x 5 x 5 numbers: the picture's record; no weights
are committed). Runs already copied are left as they are.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nnbook.analysis.plots import first_conv_filters  # noqa: E402
from nnbook.records import DIVERGED, FINISHED  # noqa: E402
from nnbook.runs.directory import is_run_dir, read_summary  # noqa: E402

REPORT = ROOT / "reports" / "chapter6"
RECORDS = ("config.yaml", "summary.json", "metrics.jsonl")
VOTERS = "ch6_relu_dropout"
FILTERS_OF = ("ch6_conv", VOTERS)


def main(source: Path) -> None:
    for run in sorted(source.iterdir()):
        if not is_run_dir(run):
            continue
        summary = read_summary(run)
        target = REPORT / "runs" / run.name
        if not (summary.status in FINISHED or summary.status == DIVERGED) or target.exists():
            continue
        target.mkdir(parents=True)
        names = RECORDS + (("test_predictions.npy", "test_predictions_last.npy") if summary.name == VOTERS else ())
        for name in names:
            shutil.copy2(run / name, target / name)
        filters = first_conv_filters(run) if summary.name in FILTERS_OF else None
        if filters is not None:
            (REPORT / "filters").mkdir(exist_ok=True)
            np.save(REPORT / "filters" / f"{run.name}.npy", filters)
        print(f"copied {run.name} ({summary.status}, {summary.epochs_completed} epochs)")


if __name__ == "__main__":
    missing = [a for a in sys.argv[1:] if not Path(a).is_dir()]
    if len(sys.argv) < 2 or missing:
        print(f"error: {missing[0] + ': no such folder' if missing else 'give the training runs directory'} "
              "(usage: python reports/chapter6/collect.py RUNS_DIR...)", file=sys.stderr)
        sys.exit(2)
    for folder in sys.argv[1:]:
        main(Path(folder))
