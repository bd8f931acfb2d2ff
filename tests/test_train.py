"""The loop's bookkeeping as pure functions, and a real short training."""

import torch

from nnbook.config import EarlyStopping, load_config
from nnbook.nn.net import build_model
from nnbook.training.schedules import stop_reason
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train
from nnbook.training.progress import Best, record_validation

from .conftest import CONFIGS


def test_best_validation_uses_greater_or_equal():
    best = Best()
    best, new = record_validation(best, 1, 0.90)
    assert new and best.epoch == 1
    best.test_accuracy = 0.89
    best, new = record_validation(best, 2, 0.85)
    assert not new and best.epoch == 1 and best.test_accuracy == 0.89 and best.stale == 1
    best, new = record_validation(best, 3, 0.90)  # a tie is a new best (network3's >=)
    assert new and best.epoch == 3 and best.stale == 0 and best.test_accuracy is None


def test_early_stopping_after_patience_epochs_without_a_new_best():
    best = Best()
    history = [0.5, 0.6, 0.55, 0.58, 0.59, 0.7]
    stops = []
    for epoch, acc in enumerate(history, 1):
        best, _ = record_validation(best, epoch, acc)
        stops.append(stop_reason(EarlyStopping(patience=3), best.stale, history[:epoch]) is not None)
    assert stops == [False, False, False, False, True, False]
    assert stop_reason(None, 100, history) is None


def test_training_records_the_test_accuracy_only_at_new_bests(mnist):
    c = load_config(CONFIGS / "ch6_shallow.yaml", ["train_limit=2000", "epochs=4", "eta=0.5"])
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    net = build_model(c, [0, 1])
    reports = []
    progress = train(net, StackSpec(c, [0, 1]), data, reports.append)
    assert progress.epoch == 4 and len(reports) == 4
    for m in range(2):
        records = [r.records[m] for r in reports]
        assert [r.epoch for r in records] == [1, 2, 3, 4]
        best_so_far = -1
        for r in records:
            if r.validation_accuracy >= best_so_far:
                best_so_far = r.validation_accuracy
                assert r.test_accuracy is not None
            else:
                assert r.test_accuracy is None
        assert progress.best[m].validation_accuracy == max(r.validation_accuracy for r in records)
        assert records[-1].validation_accuracy > 0.8  # far above chance (0.1)
    # the members differ (own seeds), so their trajectories differ
    assert reports[-1].records[0].train_cost != reports[-1].records[1].train_cost


def test_a_diverging_run_stops_with_status_diverged(mnist):
    c = load_config(CONFIGS / "ch6_shallow.yaml", ["train_limit=1000", "epochs=3", "eta=1e30"])
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    reports = []
    progress = train(build_model(c, [0]), StackSpec(c, [0]), data, reports.append)
    assert progress.status == ["diverged"]
    assert len(reports) == 1 and reports[0].records == [None]
