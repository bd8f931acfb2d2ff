"""The config schema: defaults, overrides and the one-line messages for mistakes."""

from pathlib import Path

import pytest

from nnbook.config import apply_override, dump_config, infer_shapes, load_config
from nnbook.errors import ConfigError

from .conftest import CONFIGS

BASE = """
layers:
  - {type: conv_pool, filters: 20, kernel: 5, pool: 2, activation: relu}
  - {type: fc, units: 100, activation: relu}
  - {type: softmax, units: 10}
epochs: 3
eta: 0.03
"""


def write(tmp_path: Path, text: str, name="exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path, overrides=(), problems=1) -> str:
    """The ConfigError loading `path` gives: `problems` lines, each naming the file."""
    with pytest.raises(ConfigError) as e:
        load_config(path, list(overrides))
    assert e.value.exit_code == 2
    message = str(e.value)
    lines = message.splitlines()
    assert len(lines) == problems, message
    if problems > 1:
        assert all(line.startswith(f"{path}: ") for line in lines), message
    return message


def test_every_shipped_config_validates():
    paths = sorted(CONFIGS.glob("*.yaml"))
    assert len(paths) >= 13
    for path in paths:
        if "_sweep_" in path.stem:
            continue  # sweep configs: every point is validated in test_sweep.py
        config = load_config(path)
        assert config.name == path.stem


def test_defaults_are_network3(tmp_path):
    c = load_config(write(tmp_path, BASE))
    assert (c.name, c.data, c.mini_batch_size, c.lmbda, c.seed, c.device) == ("exp", "mnist", 10, 0.0, 0, "auto")
    assert (c.cost, c.init, c.l2_scaling, c.shuffle) == ("log_likelihood", "network3", "num_batches", False)
    assert c.layers[0].pool == 2 and c.layers[2].p_dropout == 0.0


def test_resolved_config_round_trips(tmp_path):
    c = load_config(write(tmp_path, BASE), ["layers.1.units=300", "early_stopping={patience: 4}"])
    again = load_config(write(tmp_path, dump_config(c), "again.yaml"))
    assert again == c
    assert again.layers[1].units == 300 and again.early_stopping.patience == 4


def test_override_values_are_yaml_and_paths_reach_into_lists(tmp_path):
    raw = {"layers": [{"type": "fc"}], "eta": 1}
    apply_override(raw, "eta=0.5")
    apply_override(raw, "layers.0.units=30")
    apply_override(raw, "layers.1={type: softmax}")
    apply_override(raw, "early_stopping.patience=3")
    assert raw == {"layers": [{"type": "fc", "units": 30}, {"type": "softmax"}], "eta": 0.5,
                   "early_stopping": {"patience": 3}}


@pytest.mark.parametrize("assignment, words", [
    ("epochs", ["KEY=VALUE"]),
    ("layers.9.units=3", ["list index", "0..2"]),
    ("eta.x=1", ["'eta'", "float"]),
])
def test_bad_overrides(tmp_path, assignment, words):
    message = error_of(write(tmp_path, BASE), [assignment])
    for w in words:
        assert w in message


def test_shapes_are_inferred():
    c = load_config(CONFIGS / "ch6_relu_dropout.yaml")
    assert infer_shapes(c.layers) == [(20, 12, 12), (40, 4, 4), (1000,), (1000,), (10,)]


@pytest.mark.parametrize("text, words", [
    (BASE + "epochz: 3\n", ["unknown key 'epochz'", "did you mean 'epochs'", "valid keys"]),
    (BASE + "p_dropout: 0.5\n", ["unknown key 'p_dropout'", "a layer's key", "e.g. layers.1.p_dropout"]),  # first fc
    (BASE + "filters: 40\n", ["unknown key 'filters'", "a layer's key", "e.g. layers.0.filters", "valid keys"]),
    (BASE.replace("units: 100", "unit: 100"), ["layers.1.unit", "did you mean 'units'"]),
    (BASE.replace("activation: relu}\n  - {type: fc", "activation: relu6}\n  - {type: fc"),
     ["layers.0.activation", "'relu6'", "'sigmoid', 'tanh', 'relu' or 'linear'"]),
    (BASE.replace("type: fc", "type: dense"), ["'dense'", "'conv_pool', 'fc', 'softmax'"]),
    (BASE.replace("epochs: 3", "epochs: 0"), ["epochs = 0", "greater than 0"]),
    (BASE.replace("eta: 0.03", "eta: -1"), ["eta = -1", "greater than 0"]),
    (BASE + "lmbda: -0.1\n", ["lmbda = -0.1", "greater than or equal to 0"]),
    (BASE + "train_limit: 0\n", ["train_limit = 0"]),
    (BASE + "mini_batch_size: 0\n", ["mini_batch_size = 0"]),
    (BASE.replace("units: 100, activation: relu}", "units: 100, activation: relu, p_dropout: 1.0}"),
     ["layers.1.p_dropout = 1.0", "less than 1"]),
    (BASE.replace("epochs: 3", "epochs: three"), ["epochs = 'three'", "integer"]),
    (BASE.replace("epochs: 3\n", ""), ["missing required key 'epochs'"]),
    (BASE + "device: gpu\n", ["device = 'gpu'", "cuda:N"]),
    (BASE.replace("kernel: 5", "kernel: 29"), ["layers.0 (conv_pool)", "29x29 kernel", "28x28"]),
    (BASE.replace("pool: 2", "pool: 30"), ["layers.0 (conv_pool)", "pool 30", "24x24"]),
    (BASE.replace("  - {type: softmax, units: 10}\n", ""), ["last layer must be {type: softmax}"]),
    (BASE.replace("  - {type: fc, units: 100, activation: relu}\n",
                  "  - {type: softmax, units: 10}\n  - {type: fc, units: 10}\n"), ["layers.1: a softmax layer must be the last"]),
    (BASE.replace("units: 10}", "units: 7}"), ["10 units"]),
    (BASE.replace("  - {type: softmax", "  - {type: conv_pool, filters: 2, kernel: 2}\n  - {type: softmax"),
     ["layers.2 (conv_pool): a conv_pool layer cannot follow"]),
])
def test_config_mistakes_get_one_line(tmp_path, text, words):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(str(path))
    for w in words:
        assert w in message, message


def test_every_problem_is_named_at_once_one_a_line(tmp_path):
    text = BASE.replace("units: 100", "unit: 100").replace("epochs: 3\n", "").replace("eta: 0.03", "eta: -1")
    path = write(tmp_path, text + "mu: 2\n")
    lines = error_of(path, problems=4).splitlines()
    assert "unknown key 'layers.1.unit'" in lines[0] and "did you mean 'units'" in lines[0]  # misspellings first
    assert sorted(lines[1:]) == sorted([f"{path}: missing required key 'epochs'",
                                        f"{path}: eta = -1: Input should be greater than 0",
                                        f"{path}: mu = 2: Input should be less than 1"])


def test_a_misspelled_required_key_is_named_once(tmp_path):
    message = error_of(write(tmp_path, BASE.replace("epochs: 3", "epoch: 3")))
    assert "unknown key 'epoch'" in message and "did you mean 'epochs'" in message


def test_a_layer_type_that_is_no_string_is_one_more_line(tmp_path):
    path = write(tmp_path, BASE.replace("type: fc", "type: [fc]") + "p_dropout: 0.5\n")
    lines = error_of(path, problems=2).splitlines()
    assert "unknown key 'p_dropout'" in lines[0] and "e.g. layers.2.p_dropout" in lines[0]
    assert lines[1].startswith(f"{path}: layers.1 = ")


def test_yaml_syntax_error_names_the_line(tmp_path):
    message = error_of(write(tmp_path, "epochs: 3\nlayers: [\n  {type: fc\neta: 1\n"))
    assert "invalid YAML" in message and "line" in message


def test_not_a_mapping_and_missing_file(tmp_path):
    assert "must be a mapping" in error_of(write(tmp_path, "- 1\n- 2\n"))
    assert "no such config file" in error_of(tmp_path / "nope.yaml")
    assert "is a directory" in error_of(tmp_path)


def test_config_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, nnbook.config, nnbook.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
