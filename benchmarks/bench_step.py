"""Time nnbook's training step against a plain PyTorch loop (`make bench`).

For the chapter-6 nets shallow, dbl_conv_relu and relu_dropout, in one
process, this
  1. checks that both compute the same thing: from the same initial weights,
     on the same mini-batches with the same dropout masks, the per-step costs
     and the final weights agree within float tolerance;
  2. times, alternating round by round, nnbook's step and an idiomatic loop
     (nn.Module, torch.optim.SGD, mini-batches sliced from in-memory tensors)
     over a fixed number of steps after a warm-up, and prints seconds per
     epoch (50,000 images, 5,000 steps of 10), the ratio nnbook/plain and the
     GFLOP/s achieved against this machine's measured matmul peak;
  3. times nnbook with K = 5 members against K = 1 (the cost of `--repeats 5`);
  4. times the on-the-fly distortions of `configs/beyond_ensemble.yaml` (one
     member's 50,000 images) and prints them as a share of each net's epoch
     (benchmarks/augment_cost.py breaks them down by transform).

Medians over rounds; the spread (min..max) shows how noisy the machine was.
relu_dropout runs on the book's mnist.pkl.gz here: a step costs the same on
the expanded set, whose epoch is 5x longer (250,000 images).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.data import augment, mnist  # noqa: E402
from nnbook.config import Config, ConvPoolLayer, infer_shapes, load_config, n_features  # noqa: E402
from nnbook.nn.activations import ACTIVATIONS  # noqa: E402
from nnbook.nn.costs import one_hot  # noqa: E402
from nnbook.nn.net import StackedNet, build_model  # noqa: E402
from nnbook.nn.sgd import l2_decay  # noqa: E402
from nnbook.nn.step import StepKind, make_step  # noqa: E402
from nnbook.seeds import DISTORTIONS, generator, member_generators  # noqa: E402
from nnbook.training.batches import EpochData, mini_batches  # noqa: E402

NETS = ["ch6_shallow", "ch6_dbl_conv_relu", "ch6_relu_dropout"]
EPOCH_IMAGES = 50_000


# ----------------------------------------------------------------------------- the plain loop


class PlainNet(nn.Module):
    """The same network written the usual way: nn.Conv2d / nn.Linear, one example of each
    layer, bias in the conv (max(z + b) = max(z) + b), network3's unscaled dropout."""

    def __init__(self, config: Config):
        super().__init__()
        self.specs = config.layers
        shapes = [(1, 28, 28)] + infer_shapes(config.layers)[:-1]
        self.mods = nn.ModuleList(
            nn.Conv2d(shape[0], spec.filters, spec.kernel) if isinstance(spec, ConvPoolLayer)
            else nn.Linear(n_features(shape), spec.units)
            for spec, shape in zip(config.layers, shapes))

    def forward(self, x, masks=None):
        h = x.view(-1, 1, 28, 28)
        last = len(self.specs) - 1
        for i, (spec, mod) in enumerate(zip(self.specs, self.mods)):
            if isinstance(spec, ConvPoolLayer):
                h = ACTIVATIONS[spec.activation].fn(F.max_pool2d(mod(h), spec.pool))
                continue
            h = h.flatten(1)
            if spec.p_dropout > 0:  # given masks (the check) or fresh ones (the timing)
                h = h * (masks[i][0] if masks else torch.rand_like(h) < 1 - spec.p_dropout)
            h = mod(h)
            if i < last:
                h = ACTIVATIONS[spec.activation].fn(h)
        return h

    def load_member(self, net: StackedNet, m: int = 0) -> "PlainNet":
        with torch.no_grad():
            for mod, layer in zip(self.mods, net.layers):
                w = layer.weight[m]
                mod.weight.copy_(w if isinstance(mod, nn.Conv2d) else w.t())
                mod.bias.copy_(layer.bias[m])
        return self

    def optimizer(self, config: Config, decay: float) -> torch.optim.SGD:
        weights = [m.weight for m in self.mods]
        biases = [m.bias for m in self.mods]
        return torch.optim.SGD([{"params": weights, "weight_decay": decay},
                                {"params": biases, "weight_decay": 0.0}], lr=config.eta)


def plain_step(model, opt, xb, yb, masks=None) -> torch.Tensor:
    loss = F.cross_entropy(model(xb, masks), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


# ----------------------------------------------------------------------------- measuring


def flops_per_step(config: Config) -> float:
    """Multiply-adds x2 of one member's forward and backward passes (no gradient
    for the images); elementwise work is not counted."""
    shapes = [(1, 28, 28)] + infer_shapes(config.layers)
    total = 0.0
    for i, spec in enumerate(config.layers):
        if isinstance(spec, ConvPoolLayer):
            c, side = shapes[i][0], shapes[i][1] - spec.kernel + 1
            macs = config.mini_batch_size * spec.filters * c * spec.kernel ** 2 * side * side
        else:
            macs = config.mini_batch_size * n_features(shapes[i]) * spec.units
        total += 2 * macs * (3 if i > 0 else 2)
    return total


def matmul_peak() -> float:
    """float32 GFLOP/s of a 1024x1024 matrix product, median of 20."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(20):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * 1024 ** 3 / statistics.median(times) / 1e9


class Runner:
    """n steps of one training path on the real data, as the training loop takes them."""

    def __init__(self, config: Config, seeds, x, y, fast: bool = True, plain: bool = False):
        self.config, self.x, self.y, self.t = config, x, y, one_hot(y)
        self.net = build_model(config, seeds)
        decay = l2_decay(config, EPOCH_IMAGES)
        self.plain = plain
        if plain:
            self.model = PlainNet(config).load_member(self.net)
            self.opt = self.model.optimizer(config, decay)
        else:
            self.step = make_step(self.net, config, decay, kind=StepKind(fast=fast))
        self.mask_gens = member_generators(seeds, torch.device("cpu")).mask
        self.cost_sum = torch.zeros(len(seeds))

    def run(self, n: int, record: bool = False) -> list[float]:
        """n steps from the first image; the per-step costs when `record`."""
        costs = []
        if self.plain:
            b = self.config.mini_batch_size
            for s in range(n):
                loss = plain_step(self.model, self.opt, self.x[s * b:(s + 1) * b], self.y[s * b:(s + 1) * b])
                if record:
                    costs.append(loss.item())
            return costs
        for xb, tb, masks in mini_batches(self.net, EpochData(self.x, self.t), self.config.mini_batch_size, n,
                                          self.mask_gens):
            before = self.cost_sum.clone() if record else None
            self.step(xb, tb, masks, self.cost_sum)
            if record:
                costs.append((self.cost_sum - before)[0].item())
        return costs


def same_computation(config: Config, x, y, steps: int) -> tuple[float, float]:
    """(max |cost difference| per step, max |weight difference| at the end) of nnbook's step
    and the plain loop from the same weights, batches and masks."""
    nb = Runner(config, [0], x, y)
    plain = PlainNet(config).load_member(nb.net)
    opt = plain.optimizer(config, l2_decay(config, EPOCH_IMAGES))
    gens = member_generators([0], torch.device("cpu")).mask
    plain_costs = [plain_step(plain, opt, xb, tb.argmax(-1), masks).item()
                   for xb, tb, masks in mini_batches(nb.net, EpochData(x, nb.t), config.mini_batch_size, steps, gens)]
    nb_costs = nb.run(steps, record=True)
    cost_diff = max(abs(a - b) for a, b in zip(nb_costs, plain_costs))
    fresh = PlainNet(config).load_member(nb.net)
    weight_diff = max((a - b).abs().max().item() for a, b in zip(fresh.parameters(), plain.parameters()))
    return cost_diff, weight_diff


def alternate(a: Runner, b: Runner, steps: int, rounds: int, warmup: int) -> tuple[list[float], list[float]]:
    """Seconds per step of a and of b, one timing of each per round, the order swapped every round."""
    a.run(warmup)
    b.run(warmup)
    ta, tb = [], []
    for r in range(rounds):
        for runner, out in ((a, ta), (b, tb)) if r % 2 == 0 else ((b, tb), (a, ta)):
            t = time.perf_counter()
            runner.run(steps)
            out.append((time.perf_counter() - t) / steps)
    return ta, tb


def spread(times: list[float]) -> str:
    per_epoch = [t * EPOCH_IMAGES / 10 for t in times]
    return f"{statistics.median(per_epoch):6.2f} s ({min(per_epoch):.2f}..{max(per_epoch):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds (medians over these)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed steps first")
    parser.add_argument("--check-steps", type=int, default=20, help="steps compared in the same-computation check")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--nets", nargs="*", default=NETS)
    parser.add_argument("--k", type=int, default=5, help="members for the K-at-once timing")
    parser.add_argument("--augment-rounds", type=int, default=3, help="rounds of the distortion timing (0: skip)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    dataset = mnist.load("mnist")
    x = torch.from_numpy(dataset.training.x)
    y = torch.from_numpy(dataset.training.y)
    peak = matmul_peak()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; matmul peak {peak:.0f} GFLOP/s (1024x1024 float32)")
    print(f"{args.rounds} alternating rounds of {args.steps} steps after {args.warmup} warm-up steps; "
          f"seconds per epoch of {EPOCH_IMAGES:,} images at mini-batch 10: median (min..max over rounds)\n")

    rows = []
    for name in args.nets:
        config = load_config(ROOT / "configs" / f"{name}.yaml", ["data=mnist"])
        cost_diff, weight_diff = same_computation(config, x, y, args.check_steps)
        same = cost_diff < 1e-3 and weight_diff < 1e-4
        print(f"{name}: same computation over {args.check_steps} steps: max |cost diff| {cost_diff:.1e}, "
              f"max |weight diff| {weight_diff:.1e} -> {'ok' if same else 'DIFFERENT'}")

        nb, plain = Runner(config, [0], x, y), Runner(config, [0], x, y, plain=True)
        t_nb, t_plain = alternate(nb, plain, args.steps, args.rounds, args.warmup)
        one, many = Runner(config, [0], x, y), Runner(config, list(range(args.k)), x, y)
        t_one, t_many = alternate(one, many, max(1, args.steps // args.k), args.rounds, args.warmup // args.k + 1)
        ratios = [a / b for a, b in zip(t_nb, t_plain)]
        k_ratios = [b / a for a, b in zip(t_one, t_many)]
        gflops = flops_per_step(config) / statistics.median(t_nb) / 1e9
        print(f"  plain PyTorch loop     {spread(t_plain)}")
        print(f"  nnbook step            {spread(t_nb)}   {gflops:5.1f} GFLOP/s = {100 * gflops / peak:.0f}% of peak "
              f"({flops_per_step(config) / 1e6:.1f} MFLOP/step)")
        print(f"  nnbook / plain         {statistics.median(ratios):.2f} (per-round {min(ratios):.2f}..{max(ratios):.2f})")
        print(f"  nnbook K={args.k} members   {spread(t_many)}   K={args.k} / K=1: "
              f"{statistics.median(k_ratios):.2f} (per-round {min(k_ratios):.2f}..{max(k_ratios):.2f})\n")
        rows.append((name, statistics.median(ratios), statistics.median(k_ratios), same,
                     statistics.median(t_nb) * EPOCH_IMAGES / 10))

    t_augment = time_distortions(x, args.augment_rounds) if args.augment_rounds else None

    print(f"summary (load average now {os.getloadavg()[0]:.1f}):")
    for name, ratio, k_ratio, same, epoch in rows:
        share = f"   distortions {100 * t_augment / epoch:.1f}% of its epoch" if t_augment else ""
        print(f"  {name:20s} nnbook/plain {ratio:.2f}   K={args.k}/K=1 {k_ratio:.2f}   "
              f"same computation: {'ok' if same else 'DIFFERENT'}{share}")


def time_distortions(x: torch.Tensor, rounds: int) -> float:
    """Median seconds to distort one member's epoch of images as beyond_ensemble.yaml does."""
    spec = load_config(ROOT / "configs" / "beyond_ensemble.yaml").augment
    gen = generator(DISTORTIONS, 0, x.device)
    augment.distort(x[:1000], spec, gen)  # warm-up
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        augment.distort(x, spec, gen)
        times.append(time.perf_counter() - start)
    print(f"distortions ({augment.describe(spec)}), one member's {len(x):,} images: "
          f"{statistics.median(times):.2f} s ({min(times):.2f}..{max(times):.2f})\n")
    return statistics.median(times)


if __name__ == "__main__":
    main()
