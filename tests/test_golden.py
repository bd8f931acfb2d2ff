"""The golden runs (tests/golden/): the same config and seed give the metrics that
were recorded.

The runs train in float64 (cases.py says why), so another processor's kernels,
thread count or ISA change a cost by far less than 1e-9 of itself after a few
epochs: costs are compared to 1e-7 relative and accuracies exactly, image for
image. A changed initialisation, mask, cost, update, batch order or schedule moves
them by many orders of magnitude more. .ci/run replays this file under a second
kernel setting (one thread, the default ISA) to prove it holds on other machines."""

import json
import math
from pathlib import Path

import pytest

from .golden.cases import CASES
from .golden.run import train_case, write_slice

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden.json").read_text())
COST_RTOL = 1e-7


@pytest.fixture(scope="module")
def golden_data(tmp_path_factory) -> Path:
    return write_slice(tmp_path_factory.mktemp("golden") / "slice.pkl.gz")


def close(key: str, got, want) -> bool:
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(close(key, g, w) for g, w in zip(got, want))
    if isinstance(want, float) and "accuracy" not in key:
        return isinstance(got, float) and math.isclose(got, want, rel_tol=COST_RTOL)
    return got == want  # accuracies (counts of images over the slice), epochs, statuses, None where a metric is off


def test_close_is_exact_on_accuracies_and_tight_on_costs():
    assert close("validation_accuracy", 0.731, 0.731) and not close("validation_accuracy", 0.732, 0.731)
    assert close("train_cost", 1.0 + 1e-9, 1.0) and not close("train_cost", 1.0 + 1e-6, 1.0)
    assert not close("train_cost", None, 1.0) and close("bias_gradient_norms", None, None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_run_reproduces(name, tmp_path, golden_data):
    got, want = train_case(name, tmp_path, golden_data), GOLDEN[name]
    assert [r["seed"] for r in got] == [r["seed"] for r in want]
    for g, w in zip(got, want):
        for key, value in w["summary"].items():
            assert close(key, g["summary"][key], value), (name, g["seed"], key, g["summary"][key], value)
        assert len(g["epochs"]) == len(w["epochs"])
        for ge, we in zip(g["epochs"], w["epochs"]):
            # Every metric recorded then must be there and agree; a metric added since is not compared.
            assert set(we) <= set(ge), (name, set(we) - set(ge))
            for key, value in we.items():
                assert close(key, ge[key], value), (name, g["seed"], ge["epoch"], key, ge[key], value)
