"""The records a run writes (nnbook/records.py, runs/records.py) read what any nnbook wrote and
write it back as it was: unknown keys kept, absent ones at their defaults, the same key order."""

from nnbook.records import EpochRecord
from nnbook.runs.records import Summary


def test_an_epoch_record_keeps_what_it_does_not_know_and_writes_its_keys_in_order():
    line = {"epoch": 3, "validation_accuracy": 0.9, "from_a_later_version": [1, 2]}
    record = EpochRecord.from_json(line)
    assert record.epoch == 3 and record.train_cost is None and record.extra == {"from_a_later_version": [1, 2]}
    written = record.to_json()
    assert list(written)[:3] == ["epoch", "train_cost", "validation_accuracy"]
    assert list(written)[-1] == "from_a_later_version" and EpochRecord.from_json(written) == record


def test_a_summary_leaves_out_the_fields_written_only_once_set():
    written = Summary(status="completed", seed=1).to_json()
    assert written["status"] == "completed" and "group" not in written and "error" not in written
    assert Summary(group=["a"], error="disk full").to_json()["group"] == ["a"]
    assert Summary.from_json({**written, "new_key": 1}).to_json() == {**written, "new_key": 1}


def test_environment_records_the_commit_and_the_processor_model():
    import subprocess

    import torch

    from nnbook.provenance import SOURCE_ROOT
    from nnbook.runs.records import environment

    env = environment(torch.device("cpu"))
    head = subprocess.run(["git", "-C", str(SOURCE_ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    assert env["commit"] == (head or None)  # the tests run from a checkout; None only without git
    assert env["tree_clean"] in ((True, False) if head else (None,))
    assert env["hardware"] and env["hardware"] not in ("x86_64", "aarch64") or "model name" not in open(
        "/proc/cpuinfo").read()


def test_summary_leaves_out_provenance_that_is_unknown():
    from nnbook.runs.records import Summary

    assert "commit" not in Summary(name="x").to_json()
    assert Summary(name="x", commit="abc", tree_clean=True).to_json()["commit"] == "abc"
