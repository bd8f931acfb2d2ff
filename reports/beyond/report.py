"""The pilots' table, from their committed records (`make beyond-report`: reports/beyond/pilots.md).

Each pilot is one member of a candidate recipe, trained on the 50,000 training images and judged
on the validation set only: its best validation accuracy and the epoch of it (summary.json), the
validation accuracy after its last epoch (metrics.jsonl), and how it differs from
configs/beyond_ensemble.yaml (the overrides its config records, against the shipped config).
No test figure appears here. Also writes records.md (where each pilot trained: reports/origins.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from nnbook.analysis.origins import origins_markdown  # noqa: E402
from nnbook.config import load_config  # noqa: E402
from nnbook.config.identity import differences  # noqa: E402
from nnbook.runs.directory import is_run_dir, read_config, read_metrics, read_summary  # noqa: E402

REPORT = ROOT / "reports" / "beyond"
SHIPPED = ROOT / "nnbook" / "configs" / "beyond_ensemble.yaml"


def pilot_rows(runs: list[Path]) -> list[str]:
    shipped = load_config(SHIPPED)
    rows = ["| pilot | differs from the shipped config | epochs | best validation % (epoch) | "
            "last epoch's validation % | s/epoch |", "|---|---|---|---|---|---|"]
    for run in runs:
        summary, metrics = read_summary(run), read_metrics(run)
        changed = ", ".join(differences(read_config(run), shipped)) or "nothing"
        per_epoch = summary.seconds / max(1, summary.epochs_completed)
        rows.append(f"| {summary.name} | {changed} | {summary.epochs_completed} | "
                    f"{100 * summary.best_validation_accuracy:.2f} ({summary.best_epoch}) | "
                    f"{100 * metrics[-1].validation_accuracy:.2f} | {per_epoch:.0f} |")
    return rows


def pilot_runs(folder: Path) -> list[Path]:
    return [p for p in sorted(folder.iterdir()) if is_run_dir(p) and
            read_summary(p).name.startswith("beyond_pilot")] if folder.is_dir() else []


def pilots_markdown(runs: list[Path]) -> str:
    return "\n".join(["# The pilots, on validation (generated from the records by reports/beyond/report.py)", "",
                      *pilot_rows(runs), ""])


def records_markdown(runs: list[Path]) -> str:
    return ("# Where each pilot trained (generated from the records by reports/beyond/report.py)\n\n"
            + origins_markdown(runs))


def main() -> None:
    runs = pilot_runs(REPORT / "runs")
    (REPORT / "pilots.md").write_text(pilots_markdown(runs))
    (REPORT / "records.md").write_text(records_markdown(runs))
    print(json.dumps({"pilots": len(runs), "wrote": ["pilots.md", "records.md"]}))


if __name__ == "__main__":
    main()
