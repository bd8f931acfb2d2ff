"""What one epoch feeds the training step: its mini-batches, their dropout masks,
and, when the config distorts, the epoch's freshly distorted training images.

network3's conventions: the mini-batches are taken in the data's fixed order
(network2: an order per member, reshuffled each epoch by the loop) and the last
partial mini-batch is dropped; a dropout layer's input is multiplied by a
Bernoulli(1-p) keep-mask. Every member draws its masks and distortions from its
own generators (nnbook/seeds.py seeds them), so what member k sees does not depend on
how many members train beside it.

Drawing the random numbers is this module's; the distortions themselves are
data/augment.py's, the step that consumes a batch nn/step.py's.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Optional

import torch

from nnbook.config import Config
from nnbook.data import augment
from nnbook.nn.costs import one_hot
from nnbook.nn.net import StackedNet
from nnbook.seeds import Generators
from nnbook.training.devices import DeviceData

MASK_BUDGET = 4_000_000  # dropout-mask elements drawn per member per draw (~4 MB as bool)


class EpochData(NamedTuple):
    """One epoch's training data as `mini_batches` takes it: bundled, as the three are indexed together."""

    x: torch.Tensor  # the images: (n, 784), or (K*n, 784) when distorting (epoch_data)
    targets: torch.Tensor  # their one-hot targets: (n, 10), or (K*n, 10) (training_targets)
    order: Optional[torch.Tensor] = None  # (K, n) indices into both per member; None: the data's own order


def training_targets(data: DeviceData, k: int, distorting: bool) -> torch.Tensor:
    """The one-hot targets the mini-batches index, made once: (n, 10), or (K*n, 10)
    when distorting, the labels of the K stacked copies (`distorted_epoch`), which
    never change."""
    targets = one_hot(data.train_y, data.train_x.dtype)
    return targets.repeat(k, 1) if distorting else targets


def epoch_data(data: DeviceData, config: Config, gens: Generators) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
    """One epoch's training images and order: (n, 784) and None for network3's fixed
    order; network2's reshuffling draws a permutation (K, n) per member; distorting,
    the K freshly distorted copies (K*n, 784) and the order into them."""
    order = None
    if config.shuffle:  # the permutations come from the CPU generators, then move
        n = len(data.train_y)
        order = torch.stack([torch.randperm(n, generator=g) for g in gens.order]).to(data.train_x.device)
    if gens.augment:
        return distorted_epoch(data, config, gens.augment, order)
    return data.train_x, order


def mini_batches(net: StackedNet, epoch: EpochData, batch: int, n_batches: int,
                 mask_gens: list) -> Iterator[tuple]:
    """One epoch's mini-batches in order: (images, one-hot targets, dropout masks).

    Images (B, 784) and targets (B, 10) are views of the data when every member
    takes the fixed order (network3), (K, B, ...) gathers through `epoch.order` (K, n)
    otherwise. Masks {layer: (K, B, n_in)} come out of blocks of many steps,
    drawn at once: one draw per member per block instead of one per step."""
    x, targets, order = epoch
    dropout = net.dropout_sizes()
    steps_per_draw = max(1, min(n_batches, MASK_BUDGET // max(1, batch * sum(n for _, n in dropout))))
    block: dict = {}
    for step in range(n_batches):
        if dropout and step % steps_per_draw == 0:
            block = draw_masks(net, dropout, mask_gens, min(steps_per_draw, n_batches - step), batch)
        lo = step * batch
        if order is None:
            xb, tb = x[lo:lo + batch], targets[lo:lo + batch]
        else:
            idx = order[:, lo:lo + batch]  # (K, B)
            xb, tb = x[idx], targets[idx]
        yield xb, tb, ({i: m[step % steps_per_draw] for i, m in block.items()} if dropout else None)


def draw_masks(net: StackedNet, dropout: list, gens: list, steps: int, batch: int) -> dict:
    """Bernoulli(1-p) keep-masks for `steps` mini-batches: {layer: (steps, K, B, n)}.
    Each member draws from its own generator, so its masks do not depend on K."""
    device = net.layers[0].weight.device
    masks = {}
    for i, n in dropout:
        keep = 1.0 - net.layers[i].p_dropout
        per_member = [torch.rand((steps, batch, n), generator=g, device=device) < keep for g in gens]
        masks[i] = torch.stack(per_member, dim=1)
    return masks


def distorted_epoch(data: DeviceData, config: Config, gens: list,
                    order: Optional[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images of one epoch when distorting: member m gets its own fresh
    copy from its own generator (so its distortions do not depend on K). Returns the
    K copies stacked (K*n, 784) and the order (K, n) offset to index member m's copy,
    so the mini-batches are (K, B, 784) gathers, as with per-member shuffling; the
    labels of the stacked copies are the training labels repeated K times.
    Validation and test images are never distorted."""
    n = len(data.train_y)
    copies = torch.cat([augment.distort(data.train_x, config.augment, g) for g in gens])  # (K*n, 784)
    if order is None:  # network3's fixed order, for every member
        order = torch.arange(n, device=copies.device).expand(len(gens), n)
    offsets = torch.arange(len(gens), device=copies.device).unsqueeze(1) * n
    return copies, order + offsets


class StaticBatches:
    """An epoch's mini-batches copied, on the device, into buffers made once and reused by every
    step of every epoch: the step always reads the same memory, as a captured CUDA graph that
    replays it needs (with the static step's eta and decay tensors: nn/step.StepKind(static=True)).
    The values are those of `mini_batches`; only where they are read from changes."""

    def __init__(self):
        self.buffers: Optional[tuple] = None

    def __call__(self, batches: Iterator[tuple]) -> Iterator[tuple]:
        for xb, tb, masks in batches:
            if self.buffers is None or self.buffers[0].shape != xb.shape:
                self.buffers = (torch.empty_like(xb), torch.empty_like(tb),
                                {i: torch.empty_like(m) for i, m in masks.items()} if masks else None)
            x, t, m = self.buffers
            x.copy_(xb)
            t.copy_(tb)
            if masks:
                for i, mask in masks.items():
                    m[i].copy_(mask)
            yield x, t, m
