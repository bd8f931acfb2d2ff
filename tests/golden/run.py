"""Train one golden case through the real CLI, in-process, and read back what its runs wrote."""

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.golden.cases import CASES, IGNORED

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def train_case(name: str, runs_dir: Path) -> list[dict]:
    """Per run of the case, in seed order: its summary's result and its epochs' metrics."""
    from nnbook.cli import app

    config, overrides = CASES[name]
    args = ["train", str(CONFIGS / config), "--runs-dir", str(runs_dir), "--device", "cpu", "--quiet"]
    for o in overrides:
        args += ["--set", o]
    result = CliRunner().invoke(app, args)
    if result.exit_code != 0:
        raise AssertionError(f"{name}: exit {result.exit_code}: {result.output} {result.exception!r}")
    runs = []
    for run in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        summary = json.loads((run / "summary.json").read_text())
        epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        runs.append({
            "seed": summary["seed"],
            "summary": {k: summary[k] for k in ("status", "epochs_completed", "best_epoch",
                                                 "best_validation_accuracy", "test_accuracy")},
            "epochs": [{k: v for k, v in e.items() if k not in IGNORED} for e in epochs],
        })
    return sorted(runs, key=lambda r: r["seed"])
