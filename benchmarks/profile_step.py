"""Where a training step's time goes (`make profile-step`): torch.profiler over nnbook's step.

For one net (default ch6_dbl_conv_relu) and each stack size K given, this times
--steps steps of the hand-written step on real mini-batches after a warm-up, then
profiles as many again and prints, per op, the self CPU time per step (microseconds)
and its share. Comparing K = 3 with K = 2 and 4 at 2 threads shows which ops do not
split 3 members over 2 threads (an op parallelised over the K axis alone runs
ceil(K/threads) rounds).

    python benchmarks/profile_step.py --ks 1 2 3 4 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.config import load_config  # noqa: E402
from nnbook.data import mnist  # noqa: E402
from nnbook.nn.costs import one_hot  # noqa: E402
from nnbook.nn.net import build_model  # noqa: E402
from nnbook.nn.sgd import l2_decay  # noqa: E402
from nnbook.nn.step import make_step  # noqa: E402
from nnbook.seeds import member_generators  # noqa: E402
from nnbook.training.batches import EpochData, mini_batches  # noqa: E402


def stepper(config, k: int, x: torch.Tensor, t: torch.Tensor):
    net = build_model(config, list(range(k)))
    step = make_step(net, config, l2_decay(config, 50_000))
    step.set_eta([config.eta] * k)
    gens = member_generators(list(range(k)), torch.device("cpu")).mask
    cost_sum = torch.zeros(k)

    def run(n: int) -> None:
        for xb, tb, masks in mini_batches(net, EpochData(x, t), config.mini_batch_size, n, gens):
            step(xb, tb, masks, cost_sum)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/ch6_dbl_conv_relu.yaml")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(ROOT / args.config, ["data=mnist"])
    data = mnist.load("mnist")
    n = args.steps * config.mini_batch_size
    x, t = torch.from_numpy(data.training.x[:n]), one_hot(torch.from_numpy(data.training.y[:n]))
    print(f"{config.name}, {args.threads} threads, torch {torch.__version__}; per step, medians of 5 timings")
    base = None
    for k in args.ks:
        run = stepper(config, k, x, t)
        with torch.no_grad():
            run(50)
            times = []
            for _ in range(5):
                start = time.perf_counter()
                run(args.steps)
                times.append((time.perf_counter() - start) / args.steps)
            per_step = statistics.median(times)
            base = base or per_step / k
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                run(args.steps)
        print(f"\nK={k}: {1e6 * per_step:.0f} us per step, {per_step / k / base:.2f} of K=1's time per member")
        events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
        total = sum(e.self_cpu_time_total for e in events)
        for e in events[:args.top]:
            print(f"  {e.key:45s} {e.self_cpu_time_total / args.steps:8.1f} us  {100 * e.self_cpu_time_total / total:5.1f}%"
                  f"  x{e.count // args.steps}")


if __name__ == "__main__":
    main()
