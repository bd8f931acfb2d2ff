"""A member's checkpoint (training/checkpoint.py): what the loop builds, saved and loaded as
the run directory does, restores the group's progress exactly."""

import io

import torch

from nnbook.config import load_config
from nnbook.nn.net import build_model
from nnbook.records import EpochRecord
from nnbook.training.checkpoint import (at_epoch, is_member_checkpoint, metrics_of, restore_progress,
                                        trained_config, with_run_records)
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train

from .conftest import CONFIGS


def through_a_file(saved):
    """torch.save, then torch.load as Run.load_checkpoints does: tensors and plain data only."""
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    buffer.seek(0)
    return torch.load(buffer, map_location="cpu", weights_only=True)


def test_two_members_resume_momentum_masks_and_order_exactly(mnist):
    c = load_config(CONFIGS / "ch6_shallow.yaml", [
        "train_limit=200", "epochs=3", "eta=0.5", "mini_batch_size=20", "mu=0.5", "shuffle=true",
        "layers.1.p_dropout=0.3"])
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    whole = build_model(c, [0, 1])
    train(whole, StackSpec(c, [0, 1]), data, lambda report: None)

    first = build_model(c, [0, 1])
    saved = []
    train(first, StackSpec(c.model_copy(update={"epochs": 1}), [0, 1]), data,
          lambda report: saved.extend(through_a_file(report.checkpoint(m)) for m in range(2)))
    assert all(is_member_checkpoint(s) and s["velocity"] is not None for s in saved)
    resumed = build_model(c, [0, 1])
    progress = restore_progress(resumed, saved)
    assert progress.epoch == 1 and progress.velocity[0].shape == next(resumed.parameters()).shape
    train(resumed, StackSpec(c, [0, 1], progress=progress), data, lambda report: None)
    for (name, a), b in zip(whole.named_parameters(), resumed.parameters()):
        assert torch.equal(a, b), name


def test_the_run_directory_records_ride_in_the_checkpoint():
    saved = {"net": {}, "epoch": 2, "status": "early_stopped"}
    rows = [EpochRecord(epoch=1, validation_accuracy=0.9), EpochRecord(epoch=2, validation_accuracy=0.8)]
    full = with_run_records(saved, rows, {"name": "x"})
    assert metrics_of(full) == rows and trained_config(full) == {"name": "x"}
    assert "metrics" not in saved  # the loop's own checkpoint is left as it was
    assert metrics_of(saved) == [] and trained_config(saved) is None  # as older checkpoints read
    assert at_epoch(full, 5)["epoch"] == 5 and full["epoch"] == 2
    assert not is_member_checkpoint({"epoch": 1}) and not is_member_checkpoint([1])
