"""Train one golden case through the real CLI, in-process, and read back what its runs wrote."""

import gzip
import json
import pickle
from pathlib import Path

from typer.testing import CliRunner

from tests.golden.cases import CASES, COMMON, IGNORED, SLICE

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def write_slice(path: Path) -> Path:
    """The first SLICE images of each split of the real mnist.pkl.gz, in the book's format."""
    from nnbook.data import mnist

    data = mnist.load("mnist")
    splits = (data.training, data.validation, data.test)
    parts = tuple((split.x[:n], split.y[:n]) for split, n in zip(splits, SLICE))
    with gzip.open(path, "wb", compresslevel=1) as f:
        pickle.dump(parts, f, protocol=2)
    return path


def train_case(name: str, runs_dir: Path, data: Path) -> list[dict]:
    """Per run of the case, in seed order: its summary's result and its epochs' metrics.
    `data`: the slice (write_slice)."""
    import torch

    from nnbook.cli import app

    config, overrides = CASES[name]
    # On the threads torch has here (tests/conftest.py): nnbook's own default would be one thread.
    args = ["train", str(CONFIGS / config), "--runs-dir", str(runs_dir), "--device", "cpu", "--quiet",
            "--threads", str(torch.get_num_threads())]
    for o in [f"data={data}", *COMMON, *overrides]:
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
