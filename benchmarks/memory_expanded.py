"""Peak memory of chapter 6's expanded-set training with 2 workers against one stack.

Trains `configs/ch6_expanded.yaml` for one epoch of the whole expanded set (250,000 images), 2
runs, once on two worker processes (`--jobs 2 --stack 1`) and once as one stack in one process
(`--jobs 1 --stack 2`), sampling the memory of all the processes together from /proc every
0.1 s (benchmarks/schedules.tree_memory): the sum of their proportional set sizes, where the
images the workers map from the shared array cache count once, and the sum of their resident
sizes, where they count in each worker. The expanded set must exist (`nnbook
expand-mnist`); its array-cache entry (nnbook/data/array_cache.py) is made before the
measurements, as any earlier run would have made it.

    python benchmarks/memory_expanded.py                  # -> benchmarks/results/memory_expanded.json
    python benchmarks/memory_expanded.py --only "two workers"
    python benchmarks/memory_expanded.py --without-cache --only "two workers"   # each worker its own copy

--without-cache gives each run a cache directory it cannot write (and finds the expanded set
through --data-dir), so every worker reads the file into its own memory, as before the cache.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import schedules  # noqa: E402

OUT = schedules.ROOT / "benchmarks" / "results" / "memory_expanded.json"
SCHEDULES = {"two workers": (2, 1), "one stack of 2": (1, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=list(SCHEDULES), action="append")
    parser.add_argument("--without-cache", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from nnbook.data import mnist

    out = {"command": "python benchmarks/memory_expanded.py " + " ".join(sys.argv[1:]),
           "date": time.strftime("%Y-%m-%d %H:%M")}
    data_dir = None
    if args.without_cache:
        data_dir = mnist.find_expanded().parent
        os.environ["XDG_CACHE_HOME"] = "/proc/nnbook-no-cache"  # the runs' cache: never writable
    else:
        started = time.perf_counter()
        mnist.load("mnist_expanded")  # the array-cache entry, made once (or found)
        out["array_cache_entry_s"] = round(time.perf_counter() - started, 1)
    for name in args.only or SCHEDULES:
        jobs, stack = SCHEDULES[name]
        wall, training, peak = schedules.timed_train("configs/ch6_expanded.yaml", 2, jobs, stack, 250_000, data_dir)
        out[name] = {"wall_s": round(wall, 1), "training_s": round(training, 1),
                     "peak_pss_gib": round(peak["pss"] / 2**30, 2), "peak_rss_sum_gib": round(peak["rss"] / 2**30, 2)}
        print(name, out[name], flush=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
