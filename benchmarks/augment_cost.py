"""What on-the-fly distortion costs per epoch, against the training it feeds.

    python benchmarks/augment_cost.py [--config configs/beyond_ensemble.yaml] [--members 1]

For a config with an `augment` block, on this machine's CPU (or --device):
  1. the time to distort one epoch's 50,000 training images for one member, with
     every transform of the block, and with each transform alone (median of
     --rounds; min..max shows the machine's noise);
  2. the time of one training epoch (5,000 mini-batches of 10) of the config's
     network with K = --members stacked members, from the real `train` loop:
     the mini-batch loop alone is timed, between progress callbacks, over
     --steps steps, and scaled to 5,000;
  3. the ratio: distortion of K members' images / training epoch.

Nothing else should run while timing: two CPU-heavy processes on 2 cores slow
each other several-fold (PERF_NOTES.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.data import augment  # noqa: E402
from nnbook.data import mnist  # noqa: E402
from nnbook.config import Augment, load_config  # noqa: E402
from nnbook.nn.net import build_model  # noqa: E402
from nnbook.seeds import DISTORTIONS, generator  # noqa: E402
from nnbook.training.devices import resolve_device, to_device  # noqa: E402
from nnbook.training.loop import StackSpec, train  # noqa: E402

EPOCH_IMAGES = 50_000
EPOCH_STEPS = 5_000  # mini-batches of 10


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_distortion(x: torch.Tensor, spec: Augment, rounds: int) -> list[float]:
    gen = generator(DISTORTIONS, 0, x.device)
    augment.distort(x[:1000], spec, gen)  # warm-up
    times = []
    for _ in range(rounds):
        sync(x.device)
        start = time.perf_counter()
        augment.distort(x, spec, gen)
        sync(x.device)
        times.append(time.perf_counter() - start)
    return times


def time_training_epoch(config, dataset, device: torch.device, members: int, steps: int) -> float:
    """Seconds per 5,000-step epoch of the mini-batch loop (no distortion, no evaluation)."""
    batch = config.mini_batch_size
    config = config.model_copy(update={"augment": None, "epochs": 1, "train_limit": steps * batch})
    data = to_device(dataset, device, config.train_limit)
    for name in ("validation_x", "validation_y", "test_x", "test_y"):  # evaluation is not timed
        setattr(data, name, getattr(data, name)[:100])
    seeds = list(range(members))
    marks: list[tuple[int, float]] = []

    def progress(done: int, total: int) -> None:
        sync(device)
        marks.append((done, time.perf_counter()))

    train(build_model(config, seeds).to(device), StackSpec(config, seeds), data, lambda r: None, on_progress=progress)
    # From the 10th progress mark on: the first steps include one-off warm-up.
    (s0, t0), (s1, t1) = marks[min(9, len(marks) - 2)], marks[-1]
    return (t1 - t0) / (s1 - s0) * EPOCH_STEPS


def row(label: str, times: list[float]) -> str:
    return (f"  {label:<34} {statistics.median(times):7.2f} s   "
            f"(min {min(times):.2f} .. max {max(times):.2f}, {len(times)} rounds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "beyond_ensemble.yaml"))
    parser.add_argument("--members", type=int, default=1, help="K stacked members (each distorts its own copy)")
    parser.add_argument("--steps", type=int, default=500, help="training steps timed (scaled to 5,000)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    config = load_config(args.config)
    if config.augment is None or not config.augment.enabled():
        sys.exit(f"{args.config}: no augment block to time")
    device = resolve_device(args.device)
    dataset = mnist.load(config.data)
    x = torch.from_numpy(dataset.training.x[:EPOCH_IMAGES]).to(device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads; "
          f"{len(x):,} images per epoch")
    print(f"distortion of one member's epoch ({augment.describe(config.augment)}):")
    whole = time_distortion(x, config.augment, args.rounds)
    print(row("all of them", whole))
    for name in Augment.model_fields:
        value = getattr(config.augment, name)
        if value is not None:
            alone = Augment(**{name: value})
            print(row(f"{name} alone", time_distortion(x, alone, args.rounds)))

    epoch = time_training_epoch(config, dataset, device, args.members, args.steps)
    distortion = statistics.median(whole) * args.members
    print(f"training epoch, {config.name} with K = {args.members}: {epoch:.1f} s "
          f"(mini-batch loop, {args.steps} steps timed, scaled to {EPOCH_STEPS:,})")
    print(f"distortion of the K members' images: {distortion:.2f} s per epoch = "
          f"{100 * distortion / epoch:.1f}% of the training epoch")


if __name__ == "__main__":
    main()
