"""The experiment identity (nnbook/config/identity.py): what makes two runs one experiment."""

from nnbook.config import validate
from nnbook.config.identity import differences, identity, identity_key

BASE = {"name": "x", "layers": [{"type": "fc", "units": 30}, {"type": "softmax"}], "epochs": 2, "eta": 0.1}


def config(**changes):
    return validate({**BASE, **changes}, source="test")


def test_seed_device_repeats_and_name_leave_the_identity_unchanged():
    key = identity_key(config())
    assert identity_key(config(seed=7, device="cpu", cuda_graph=False, repeats=3, name="copy")) == key
    assert "seed" not in identity(config())


def test_what_changes_the_computation_changes_the_identity():
    key = identity_key(config())
    for change in ({"eta": 0.5}, {"train_limit": 1000}, {"epochs": 3}, {"lmbda": 0.1},
                   {"layers": [{"type": "fc", "units": 31}, {"type": "softmax"}]}, {"dtype": "float64"}):
        assert identity_key(config(**change)) != key, change


def test_differences_name_each_changed_leaf_as_key_value():
    assert differences(config(eta=0.5, seed=3), config()) == ["eta=0.5"]
    changed = config(layers=[{"type": "fc", "units": 31}, {"type": "softmax"}], train_limit=1000)
    assert differences(changed, config()) == ["train_limit=1000", "layers.0.units=31"]
    assert differences(config(), config()) == []
