"""What float64 costs against float32 for the chapters 1-5 nets on the CPU.

    .venv/bin/python benchmarks/precision_cost.py [--images 10000] [--repeats 3] [--threads 1]

For each distinct network of configs/ch1_*, ch3_* and ch5_* (the layers, cost and batch
size), one epoch of nnbook's own training loop on the first IMAGES real training images
(evaluation of the 10,000 validation images included), in float32 and in float64,
alternating, REPEATS times; the median of each and their ratio. Run it on a quiet
machine: it times.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.config import load_config  # noqa: E402
from nnbook.data import mnist  # noqa: E402
from nnbook.nn.net import build_model, torch_dtype  # noqa: E402
from nnbook.training.devices import to_device  # noqa: E402
from nnbook.training.loop import StackSpec, train  # noqa: E402


def epoch_seconds(config, dataset, images: int) -> float:
    config = config.model_copy(update={"epochs": 1, "train_limit": images, "repeats": 1})
    data = to_device(dataset, torch.device("cpu"), images, torch_dtype(config))
    net = build_model(config, [config.seed])
    start = time.perf_counter()
    train(net, StackSpec(config, [config.seed]), data, lambda report: None)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    dataset = mnist.load("mnist")
    nets: dict[str, object] = {}
    for path in sorted((ROOT / "configs").glob("ch[135]_*.yaml")):
        config = load_config(path)
        key = repr((config.layers, config.cost, config.mini_batch_size, config.mu > 0))
        nets.setdefault(key, config)

    rows = []
    print(f"{'config':<26} {'float32 s':>10} {'float64 s':>10} {'float64/float32':>16}")
    for config in nets.values():
        times = {"float32": [], "float64": []}
        for _ in range(args.repeats):
            for dtype in times:  # alternating, so a busy moment hits both
                times[dtype].append(epoch_seconds(config.model_copy(update={"dtype": dtype}), dataset, args.images))
        f32, f64 = statistics.median(times["float32"]), statistics.median(times["float64"])
        rows.append({"config": config.name, "float32_s": f32, "float64_s": f64, "ratio": f64 / f32})
        print(f"{config.name:<26} {f32:10.2f} {f64:10.2f} {f64 / f32:16.2f}")
    ratios = [r["ratio"] for r in rows]
    print(f"median ratio {statistics.median(ratios):.2f} (range {min(ratios):.2f}-{max(ratios):.2f}); "
          f"{args.images:,} training images + 10,000 validation per epoch, {args.threads} thread(s), "
          f"median of {args.repeats}; torch {torch.__version__}, {platform.processor() or platform.machine()}")
    if args.json:
        args.json.write_text(json.dumps({"torch": torch.__version__, "threads": args.threads, "images": args.images,
                                         "repeats": args.repeats, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
