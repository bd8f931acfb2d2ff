"""Would torch.compile make a step faster? nnbook's step eager against the same step compiled.

For one net (default ch6_dbl_conv_relu, one member, batch 10) this compiles the hand-written
step (forward, backward and update: one graph, no breaks) with TorchInductor, then times
--steps steps of each on the same real mini-batches, alternating, for --rounds rounds, and
prints microseconds per step (medians) and the compile time. Inductor fuses the element-wise
work between the convolutions, the part of the step that is per-op overhead
(`make profile-step`); whether that pays is what this measures.

    python benchmarks/compile_step.py --threads 2     # -> benchmarks/results/compile_step.txt by hand
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

from nnbook.config import load_config  # noqa: E402
from nnbook.data import mnist  # noqa: E402
from nnbook.nn.costs import one_hot  # noqa: E402
from nnbook.nn.net import build_model  # noqa: E402
from nnbook.nn.sgd import l2_decay  # noqa: E402
from nnbook.nn.step import make_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/ch6_dbl_conv_relu.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(ROOT / args.config, ["data=mnist"])
    data = mnist.load("mnist")
    n = 10 * args.steps
    x = torch.from_numpy(data.training.x[:n]).to(torch.float32)
    t = one_hot(torch.from_numpy(data.training.y[:n]))
    steps = {}
    for name in ("eager", "compiled"):
        step = make_step(build_model(config, [0]), config, l2_decay(config, 50_000))
        steps[name] = step if name == "eager" else torch.compile(step.__call__, dynamic=False)
    cost = torch.zeros(1)
    b = config.mini_batch_size
    started = time.perf_counter()
    for name, step in steps.items():
        for i in range(3):  # warm-up; the first compiled call compiles
            step(x[i * b:(i + 1) * b], t[i * b:(i + 1) * b], None, cost)
        if name == "eager":
            started = time.perf_counter()
    compile_s = time.perf_counter() - started
    times: dict[str, list[float]] = {name: [] for name in steps}
    for r in range(args.rounds):
        for name in steps if r % 2 == 0 else reversed(list(steps)):
            began = time.perf_counter()
            for i in range(args.steps):
                steps[name](x[i * b:(i + 1) * b], t[i * b:(i + 1) * b], None, cost)
            times[name].append(1e6 * (time.perf_counter() - began) / args.steps)
    print(f"{args.config}, batch {b}, {args.threads} threads, torch {torch.__version__}; "
          f"{args.steps} steps x {args.rounds} rounds, alternating")
    print(f"compiling took {compile_s:.1f} s")
    for name, v in times.items():
        print(f"  {name:9s} {statistics.median(v):7.0f} us/step (rounds: {', '.join(f'{s:.0f}' for s in v)})")
    ratio = statistics.median(times["compiled"]) / statistics.median(times["eager"])
    print(f"compiled / eager: {ratio:.2f}")


if __name__ == "__main__":
    main()
