"""A member's seed becomes each of its generators in one place (nnbook/seeds.py), and
nothing draws from the global generators: their state changes no run."""

import random

import numpy as np
import torch

from nnbook.config import load_config
from nnbook.nn.net import build_model
from nnbook.seeds import DISTORTIONS, INIT, MASKS, OFFSETS, ORDER, generator
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train

from .conftest import CONFIGS


def test_every_purpose_has_its_own_stream_and_seeds_never_share_one():
    assert set(OFFSETS) == {INIT, ORDER, MASKS, DISTORTIONS}
    streams = {seed + offset for seed in range(10) for offset in OFFSETS.values()}
    assert len(streams) == 10 * len(OFFSETS)
    # the initial weights of seed s are drawn as they always were: from a generator seeded s
    assert torch.equal(torch.rand(5, generator=generator(INIT, 7)),
                       torch.rand(5, generator=torch.Generator().manual_seed(7)))


def test_the_global_generators_change_nothing(mnist):
    """Dropout masks, the reshuffled order and the distortions all drawn: with the global
    generators of torch, numpy and Python in other states, the same run to the bit."""
    c = load_config(CONFIGS / "ch6_shallow.yaml", [
        "train_limit=200", "epochs=2", "eta=0.5", "mini_batch_size=20", "shuffle=true",
        "layers.1.p_dropout=0.5", "augment={rotate: 10}"])
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    trained = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        np.random.seed(global_seed)
        random.seed(global_seed)
        net = build_model(c, [0])
        records = []
        train(net, StackSpec(c, [0]), data, lambda report: records.append(report.records[0]))
        trained.append((net.state_dict(), [(r.train_cost, r.validation_accuracy) for r in records]))
    (first, first_records), (second, second_records) = trained
    assert first_records == second_records
    assert all(torch.equal(first[name], second[name]) for name in first)
