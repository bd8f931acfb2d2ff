"""How a member's seed becomes each random generator it trains with: the one place.

A member (one run of a config, seed `config.seed + i`) draws from four generators,
each seeded with its seed plus an offset from `OFFSETS`, so that no two share a
stream, neither within a member nor between the members seed and seed + 1:

    init         its initial weights (nn/net.build_model; drawn in float64 on the CPU)
    order        network2's reshuffled mini-batch order (randperm on the CPU)
    masks        its dropout keep-masks, on the device the images live on
    distortions  its on-the-fly distortions, on that device too

Each member draws from its own generators, so what member k computes does not depend
on how many members train beside it. Nothing in nnbook draws from torch's, numpy's or
Python's global generators, and nothing seeds them. `Generators` is one group's
generators during training, which a checkpoint saves and resuming restores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

INIT, ORDER, MASKS, DISTORTIONS = "init", "order", "masks", "distortions"
# A generator's seed is the member's seed plus its offset: large primes apart, so the
# streams of seeds s and s + 1 never meet. Changing one changes every run's numbers.
OFFSETS = {INIT: 0, ORDER: 1_000_003, MASKS: 2_000_003, DISTORTIONS: 3_000_003}
CPU = torch.device("cpu")


def generator(purpose: str, seed: int, device: torch.device = CPU) -> torch.Generator:
    """The generator that the member seeded `seed` draws `purpose` from (one of OFFSETS), on `device`."""
    return torch.Generator(device=device).manual_seed(seed + OFFSETS[purpose])


def generators(purpose: str, seeds: list[int], device: torch.device = CPU) -> list[torch.Generator]:
    return [generator(purpose, seed, device) for seed in seeds]


@dataclass
class Generators:
    """The generators of a group's members while they train, one list entry per member."""

    order: list[torch.Generator]  # CPU: the data order (network2's reshuffling)
    mask: list[torch.Generator]  # the device: dropout masks
    augment: list[torch.Generator]  # the device: distortions; empty when the run does not distort

    def restore(self, order: list[torch.Tensor], mask: list[torch.Tensor],
                augment: list[Optional[torch.Tensor]]) -> None:
        """Continue each generator from a saved state (an augment state of None: keep the fresh one)."""
        for g, s in zip(self.order, order):
            g.set_state(s)
        for g, s in zip(self.mask, mask):
            g.set_state(s)
        for g, s in zip(self.augment, augment):
            if s is not None:
                g.set_state(s)


def member_generators(seeds: list[int], device: torch.device, distorting: bool = False) -> Generators:
    """The training generators of members seeded `seeds`, the masks' and distortions' on `device`."""
    return Generators(order=generators(ORDER, seeds), mask=generators(MASKS, seeds, device),
                      augment=generators(DISTORTIONS, seeds, device) if distorting else [])
