"""Peak resident memory of chapter 6's expanded-set training with 2 workers against one stack.

Trains `configs/ch6_expanded.yaml` for one epoch of the whole expanded set (250,000 images), 2
runs, once on two worker processes (`--jobs 2 --stack 1`) and once as one stack in one process
(`--jobs 1 --stack 2`), sampling the resident memory of all the processes together from /proc
every 0.1 s (benchmarks/schedules.timed_train). The expanded set must exist (`nnbook expand-mnist`).

    python benchmarks/memory_expanded.py     # -> benchmarks/results/memory_expanded.json
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import schedules  # noqa: E402

OUT = schedules.ROOT / "benchmarks" / "results" / "memory_expanded.json"


def main() -> None:
    out = {"command": "python benchmarks/memory_expanded.py", "date": time.strftime("%Y-%m-%d %H:%M")}
    for name, (jobs, stack) in {"two workers": (2, 1), "one stack of 2": (1, 2)}.items():
        wall, training, peak = schedules.timed_train("configs/ch6_expanded.yaml", 2, jobs, stack, 250_000, None)
        out[name] = {"wall_s": round(wall, 1), "training_s": round(training, 1), "peak_rss_gib": round(peak / 2**30, 2)}
        print(name, out[name], flush=True)
        OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
