"""A member's checkpoint: what a run's checkpoint.pt holds, built and read back here alone.

A plain dict (`MemberCheckpoint`, its keys defined there): tensors, numbers, strings,
lists and dicts only, so that torch.load(weights_only=True) reads it back without
running code. It is shaped as a single run's, whatever group the member trained in.

The loop builds it after every epoch (`member_checkpoint`), with the records the run
directory passes in (`with_run_records`: the metrics so far and the config trained with;
loop.MemberEpoch.checkpoint); resuming checks what the run directory read
(`member_checkpoints`), picks the epoch every member of the group has (`at_epoch`),
rebuilds the run's files from it (`metrics_of`, `trained_config`) and the loop's progress
(`restore_progress`). Which file it goes to, and how, is runs/directory.py's, which stores
and loads it without looking inside.

torch-free at import, so that planning a resume reads checkpoints without the loop.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Optional, TypedDict

from nnbook.errors import NnbookError
from nnbook.records import EpochRecord
from nnbook.training.progress import Best, Progress

if TYPE_CHECKING:
    import torch

    from nnbook.nn.net import StackedNet
    from nnbook.seeds import Generators


class MemberCheckpoint(TypedDict, total=False):
    """What checkpoint.pt holds for one member. Keys older versions did not write
    (history, plateau, velocity, augment_generator, metrics, config) read as absent."""

    net: dict[str, torch.Tensor]  # the member's weights, no K axis (StackedNet.member_weights)
    epoch: int  # epochs completed
    best: dict  # its progress.Best, as a dict
    status: Optional[str]  # None while training, else EARLY_STOPPED | DIVERGED
    eta: float
    history: list[float]  # validation accuracy per epoch
    plateau: int  # halving schedule: epochs since a best or a halving
    velocity: Optional[list[torch.Tensor]]  # momentum, shaped as the member's parameters; None without
    # The states of its generators (nnbook/seeds.py), on the CPU:
    data_generator: torch.Tensor  # the data order
    mask_generator: torch.Tensor  # dropout masks
    augment_generator: Optional[torch.Tensor]  # distortions; None when the run does not distort
    # The run directory's, added by with_run_records:
    metrics: list[dict]  # every epoch's EpochRecord so far, as JSON
    config: dict  # the run's resolved config, as JSON: what it was trained with


def member_checkpoint(net: StackedNet, progress: Progress, m: int, gens: Generators) -> MemberCheckpoint:
    """Member m's resumable checkpoint after `progress.epoch` epochs."""
    return MemberCheckpoint(
        net=net.member_weights(m),
        epoch=progress.epoch,
        best=asdict(progress.best[m]),
        status=progress.status[m],
        eta=progress.eta[m],
        history=list(progress.history[m]),
        plateau=progress.plateau[m],
        velocity=None if progress.velocity is None else [v[m].detach().cpu().clone() for v in progress.velocity],
        data_generator=gens.order[m].get_state(),
        mask_generator=gens.mask[m].get_state().cpu(),
        augment_generator=gens.augment[m].get_state().cpu() if gens.augment else None,
    )


def with_run_records(saved: MemberCheckpoint, metrics: list[EpochRecord], config: Optional[dict]) -> MemberCheckpoint:
    """The checkpoint with the run's metrics history and the config it trains with."""
    return {**saved, "metrics": [row.to_json() for row in metrics], "config": config}


def is_member_checkpoint(saved: object) -> bool:
    """Whether what torch.load gave is a member checkpoint: a dict with an epoch and weights."""
    return isinstance(saved, dict) and "epoch" in saved and "net" in saved


def member_checkpoints(loaded: list[tuple[Path, object]]) -> list[MemberCheckpoint]:
    """A run's checkpoints as its directory loaded them, (file, what it held), checked to be
    member checkpoints and ordered newest first."""
    for file, saved in loaded:
        if not is_member_checkpoint(saved):
            raise NnbookError(f"{file}: not an nnbook checkpoint (no epoch and weights in it)")
    return sorted((saved for _, saved in loaded), key=lambda s: -s["epoch"])


def at_epoch(saved: MemberCheckpoint, epoch: int) -> MemberCheckpoint:
    """The checkpoint of a member that stopped before `epoch` (early_stopped, diverged), standing
    for it at `epoch`: a stopped member is frozen and only keeps its place in the group."""
    return {**saved, "epoch": epoch}


def metrics_of(saved: MemberCheckpoint) -> list[EpochRecord]:
    """The run's metrics of every epoch up to the checkpoint's."""
    return [EpochRecord.from_json(row) for row in saved.get("metrics", [])]


def trained_config(saved: MemberCheckpoint) -> Optional[dict]:
    """The config (as JSON) the run was trained with; None in checkpoints older than that record."""
    return saved.get("config")


def restore_progress(net: StackedNet, saved: list[MemberCheckpoint]) -> Progress:
    """Load the members' checkpoints (all at the same epoch) into `net`; the Progress that continues from them."""
    epochs = {s["epoch"] for s in saved}
    if len(epochs) != 1:
        raise ValueError(f"members checkpointed at different epochs: {sorted(epochs)}")
    for m, s in enumerate(saved):
        net.load_member_weights(m, s["net"])
    velocity = None
    if all(s.get("velocity") is not None for s in saved):  # momentum runs: stacked as the parameters are
        velocity = [p.detach().new_empty(p.shape) for p in net.parameters()]
        for m, s in enumerate(saved):
            for v, member_v in zip(velocity, s["velocity"]):
                v[m].copy_(member_v)
    return Progress(epochs.pop(), [Best(**s["best"]) for s in saved], [s["status"] for s in saved],
                    [s["eta"] for s in saved], [list(s.get("history", [])) for s in saved],
                    [s.get("plateau", 0) for s in saved], velocity,
                    [s["data_generator"] for s in saved], [s["mask_generator"] for s in saved],
                    [s.get("augment_generator") for s in saved])
