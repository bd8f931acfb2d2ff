"""Chapters 1, 3 and 5 end to end: their configs, `nnbook gradients`, and a network2-style
run with the training diagnostics: the real CLI, in this process, on a slice of the real MNIST."""

import json
import re

import yaml

from nnbook.config import load_config
from nnbook.book import FIGURES, GRADIENT_NORMS

from .cli import CONFIGS, read_json, run_dirs

BOOK_CONFIGS = sorted(p for p in CONFIGS.glob("ch[135]_*.yaml"))


def test_every_book_table_row_has_a_config_and_every_config_validates():
    names = {p.stem for p in BOOK_CONFIGS}
    every_config = {p.stem for p in CONFIGS.glob("*.yaml")}
    assert {n.removesuffix("_ensemble") for n in FIGURES} <= every_config  # each book figure has its config
    assert len([n for n in names if n.startswith("ch3_")]) >= 9
    for path in BOOK_CONFIGS:
        config = load_config(path)
        text = path.read_text()
        if config.name in FIGURES:  # the figure is in the file's comment too
            assert f"{FIGURES[config.name]['figure']:g}" in text or f"{FIGURES[config.name]['figure']}" in text
        # network2's semantics are stated in each file, not left to defaults
        raw = yaml.safe_load(text)
        for key in ("cost", "init", "l2_scaling", "shuffle"):
            assert key in raw, f"{path.name}: {key}"
        assert config.cost in ("quadratic", "cross_entropy") and config.l2_scaling == "train_size"


def mean_rows(out: str) -> list[list[str]]:
    """The numbers of each table row labelled `mean`, as printed."""
    return [re.findall(r"\d+\.\d+", line) for line in out.splitlines() if re.match(r"\W*mean\b", line)]


def test_gradients_prints_the_speed_of_learning_and_plots_it(tmp_path, cli, mnist_slice):
    result = cli("gradients", CONFIGS / "ch5_784_30_30_30_10.yaml", "--set", f"data={mnist_slice}",
                 "--epochs", "3", "--networks", "2", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "layer 3" in out and "layer 4" not in out
    assert "seed 0" in out and "seed 1" in out
    assert "0.283" in out  # the book's row
    saved = json.loads((tmp_path / "ch5_784_30_30_30_10-gradients.json").read_text())
    assert saved["book_at_initialisation"] == GRADIENT_NORMS["ch5_784_30_30_30_10"]
    norms = saved["norms"]
    assert len(norms) == 4 and len(norms[0]) == 2 and len(norms[0][0]) == 3  # epochs 0..3, 2 nets, 3 layers
    for net in norms[0]:  # chapter 5's pattern at initialisation: earlier layers learn slower
        assert net[0] < net[1] < net[2]
    assert norms[3] != norms[0]  # gradient descent moved the network
    # The mean of the 2 networks, layer by layer, at initialisation and after the 3 epochs
    # (the last column: how much faster the last hidden layer learns than the first).
    expected = []
    for nets in (norms[0], norms[3]):
        mean = [sum(layer) / len(layer) for layer in zip(*nets)]
        expected.append([f"{g:.4f}" for g in mean] + [f"{mean[-1] / mean[0]:.1f}"])
    assert mean_rows(out) == expected, out
    png = (tmp_path / "ch5_784_30_30_30_10-gradients.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_gradients_needs_a_hidden_layer(tmp_path, cli):
    result = cli("gradients", CONFIGS / "ch5_784_30_10.yaml", "--set", "layers=[{type: fc, units: 10}]",
                 "--out", tmp_path)
    assert result.returncode == 2
    assert "no hidden layer" in result.stderr and "Traceback" not in result.stderr


def test_network2_run_records_training_diagnostics(tmp_path, cli, mnist_slice):
    result = cli("train", CONFIGS / "ch3_overfit_1000.yaml", "--set", f"data={mnist_slice}", "--set", "epochs=2",
                 "--set", "train_limit=200", "--set", "monitor.bias_gradients=true", "--set", "mu=0.2",
                 "--set", "schedule={type: steps, at: {2: 0.25}}", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "training " in result.stdout and "||dC/db||" in result.stdout
    (run,) = run_dirs(tmp_path)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["cost"] == "cross_entropy" and resolved["init"] == "large"
    assert resolved["l2_scaling"] == "train_size" and resolved["shuffle"] is True and resolved["mu"] == 0.2
    assert resolved["monitor"]["training"] is True
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["eta"] for r in rows] == [0.5, 0.25]
    for r in rows:
        assert 0 <= r["train_accuracy"] <= 1 and r["train_eval_cost"] > 0
        assert len(r["bias_gradient_norms"]) == 1
    assert read_json(run / "summary.json")["status"] == "completed"
