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
from nnbook.records import DIVERGED, FINISHED  # noqa: E402
from nnbook.runs.directory import is_run_dir, read_summary  # noqa: E402
from nnbook.runs.transfer import write_stack_files  # noqa: E402

REPORT = ROOT / "reports" / "chapter6"
RECORDS = ("config.yaml", "summary.json", "metrics.jsonl")
VOTERS = "ch6_relu_dropout"
FILTERS_OF = ("ch6_conv", VOTERS)


def main(source: Path) -> None:
    for run in sorted(source.iterdir()):
        if not is_run_dir(run):
            continue
        summary = read_summary(run)
        if not (summary.status in FINISHED or summary.status == DIVERGED) or copied(run):
            continue
        names = RECORDS + (("test_predictions.npy", "test_predictions_last.npy") if summary.name == VOTERS else ())
        # Runs of one name started in the same second in two lanes share a directory name: the second
        # becomes RUN-r1 (its summary's group renamed with it: runs/transfer.py).
        (target,) = write_stack_files(REPORT / "runs", {run.name: {name: (run / name).read_bytes() for name in names}})
        filters = first_conv_filters(run) if summary.name in FILTERS_OF else None
        if filters is not None:
            (REPORT / "filters").mkdir(exist_ok=True)
            np.save(REPORT / "filters" / f"{target.name}.npy", filters)
        print(f"copied {run} to {target.relative_to(ROOT)} ({summary.status}, {summary.epochs_completed} epochs)")


def copied(run: Path) -> bool:
    """Whether `run` is in the report already: a run there of its name (or its -rN) with its metrics."""
    metrics = (run / "metrics.jsonl").read_bytes()
    return any((p / "metrics.jsonl").read_bytes() == metrics for p in (REPORT / "runs").glob(f"{run.name}*")
               if (p / "metrics.jsonl").is_file())


if __name__ == "__main__":
    missing = [a for a in sys.argv[1:] if not Path(a).is_dir()]
    if len(sys.argv) < 2 or missing:
        print(f"error: {missing[0] + ': no such folder' if missing else 'give the training runs directory'} "
              "(usage: python reports/chapter6/collect.py RUNS_DIR...)", file=sys.stderr)
        sys.exit(2)
    for folder in sys.argv[1:]:
        main(Path(folder))
