"""The torch threads of one training process, quiet and loaded (`make bench-threads`).

nnbook trains on one torch thread per process unless --threads says otherwise
(execution/placement.default_threads). This measures why: one epoch of a net (default
ch6_dbl_conv_relu) on a slice of the training set (default 2,000 images; evaluation of
the 10,000 validation and test images included, as in training), as the user runs it
(`nnbook train ... --threads T`), for T = 1 and T = the machine's cores (torch's own
default), alternating within each round, in two conditions:

  - quiet:  nothing else running (stop the background lanes first);
  - loaded: as many busy processes as cores, at normal priority (other work on the machine).

The time is the epoch's own (metrics.jsonl's `seconds`: the training steps and the
evaluation, start-up excluded); figures are medians of --rounds rounds. The load average
and the processor are recorded beside them.

    python benchmarks/threads.py                  # both conditions, benchmarks/results/threads.json
    python benchmarks/threads.py --conditions quiet --rounds 3
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.provenance import processor_model, source_commit  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "threads.json"


def busy() -> None:
    """A process that only burns CPU: the load."""
    while True:
        pass


def epoch_seconds(config: str, train_limit: int, threads: int) -> float:
    """One epoch of `config` on `train_limit` images with `threads` torch threads, in its own process."""
    with tempfile.TemporaryDirectory() as runs:
        subprocess.run([sys.executable, "-m", "nnbook", "train", config, "--set", f"train_limit={train_limit}",
                        "--set", "epochs=1", "--set", "device=cpu", "--threads", str(threads), "--runs-dir", runs,
                        "-q"], cwd=ROOT, check=True, capture_output=True)
        (metrics,) = Path(runs).glob("*/metrics.jsonl")
        return json.loads(metrics.read_text().splitlines()[0])["seconds"]


def measure(config: str, train_limit: int, rounds: int, thread_counts: list[int]) -> dict:
    times: dict[int, list[float]] = {t: [] for t in thread_counts}
    for _ in range(rounds):
        for t in thread_counts:
            times[t].append(epoch_seconds(config, train_limit, t))
    one = statistics.median(times[1])
    return {"load_average_1min": os.getloadavg()[0],
            "seconds": {str(t): v for t, v in times.items()},
            "median_seconds": {str(t): statistics.median(v) for t, v in times.items()},
            "relative_to_one_thread": {str(t): statistics.median(v) / one for t, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ch6_dbl_conv_relu")
    parser.add_argument("--train-limit", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--conditions", nargs="+", default=["quiet", "loaded"], choices=["quiet", "loaded"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    thread_counts = sorted({1, cores})
    record = {"config": args.config, "train_limit": args.train_limit, "rounds": args.rounds, "cores": cores,
              "processor": processor_model(), "commit": source_commit()[0], "started": time.strftime("%F %T %Z"),
              "conditions": {}}
    try:
        import torch

        record["torch"] = torch.__version__
    except ImportError:
        pass
    for condition in args.conditions:
        load = []
        if condition == "loaded":
            load = [multiprocessing.Process(target=busy, daemon=True) for _ in range(cores)]
            for p in load:
                p.start()
            time.sleep(2)
        try:
            record["conditions"][condition] = measure(args.config, args.train_limit, args.rounds, thread_counts)
        finally:
            for p in load:
                p.terminate()
                p.join()
        result = record["conditions"][condition]
        print(f"{condition:>6} (load {result['load_average_1min']:.1f}): " + ", ".join(
            f"{t} thread{'s' if t != '1' else ''} {s:.2f} s/epoch ({result['relative_to_one_thread'][t]:.2f}x)"
            for t, s in result["median_seconds"].items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
