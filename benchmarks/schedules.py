"""How K runs should share this machine: the table of K = 1..6 for each schedule (`make bench-schedules`).

For one net (default ch6_dbl_conv_relu) and K = 1..6 repeats, each schedule is timed as
the user runs it, whole process (`nnbook train ... --repeats K`, start-up and
evaluation included), on a slice of the training set (default 20,000 images, one
epoch; evaluation of the 10,000 validation and, at a new best, the 10,000 test images
is part of every epoch, as in training):

  - stack:   one process, all K in one stacked model, every thread       (--jobs 1 --stack K)
  - workers: one process per core, each training its runs one at a time  (--jobs C --stack 1)
  - both:    one process per core, each with a stack of its share        (--jobs C --stack ceil(K/C))
  - auto:    what nnbook chooses when it trains the full protocol (60 epochs of 50,000): the
             choice is printed, and its time is the matching schedule's above.

Times are medians of --rounds rounds, the schedules alternating within a round; the
ratio column is the wall time over one run's (K=1, stack) wall time in the same round.
The peak memory of all the processes together (the sum of their proportional set
sizes, sampled from /proc every 0.1 s) is recorded for each schedule at the largest K.
Nothing else may run meanwhile: two torch processes on a 2-core machine slow each
other many-fold.

    python benchmarks/schedules.py                 # the table, and benchmarks/results/schedules.json
    python benchmarks/schedules.py --ks 1 2 3 --rounds 1 --train-limit 5000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nnbook.execution.placement import cores, makespan  # noqa: E402

NNBOOK = [sys.executable, "-m", "nnbook"]
OUT = ROOT / "benchmarks" / "results" / "schedules.json"


def tree_memory(root_pid: int) -> dict[str, int]:
    """The memory root_pid and all its descendants use together, from /proc, in bytes: "pss", the sum
    of their proportional set sizes (a page shared by n of them counts 1/n in each: what they use
    together, a data file that several workers map counted once), and "rss", the sum of their
    resident sizes (a shared page counted in each)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = {"pss": 0, "rss": 0}, [root_pid]
    while todo:
        pid = todo.pop()
        for key, value in rollup(pid).items():
            total[key] += value
        todo += children.get(pid, [])
    return total


def rollup(pid: int) -> dict[str, int]:
    """{"pss": ..., "rss": ...} of one process, in bytes (0 for one already gone)."""
    out = {"pss": 0, "rss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key = line.split(":")[0].lower()
                if key in out:
                    out[key] = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def timed_train(config: str, k: int, jobs: int, stack: int, train_limit: int, data_dir) -> tuple[float, float, dict]:
    """Wall seconds, training seconds and peak memory ({"pss", "rss"} in bytes, tree_memory) of one `nnbook train` (one epoch of
    train_limit images). Training seconds: the epoch as the runs record it (steps and evaluation,
    no start-up or data loading), each stack's, the stacks laid out on the workers as the pool runs
    them (placement.makespan): what 60 epochs would cost, 60 times over."""
    with tempfile.TemporaryDirectory(prefix="nnbook-bench-") as runs:
        cmd = [*NNBOOK, "train", config, "--repeats", str(k), "--jobs", str(jobs), "--stack", str(stack),
               "--set", f"train_limit={train_limit}", "--set", "epochs=1", "--set", "device=cpu",
               "--runs-dir", runs, "--quiet"]
        if data_dir:
            cmd += ["--data-dir", str(data_dir)]
        peak = {"pss": 0, "rss": 0}
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        done = threading.Event()

        def sample():
            while not done.is_set():
                for key, value in tree_memory(proc.pid).items():
                    peak[key] = max(peak[key], value)
                done.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, _ = proc.communicate()
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{out}")
        stacks = {}
        for run in Path(runs).iterdir():
            summary = json.loads((run / "summary.json").read_text())
            stacks[tuple(summary["group"])] = summary["seconds"]
        ordered = [stacks[g] for g in sorted(stacks, key=lambda g: (-len(g), g))]
        training = makespan(list(range(len(ordered))), jobs, lambda i: ordered[i])
        return seconds, training, peak


def schedules_for(k: int, c: int) -> dict[str, tuple[int, int]]:
    """name -> (jobs, stack) for K runs on c cores (workers and both need K >= 2)."""
    out = {"stack": (1, k)}
    if k >= 2:
        w = min(k, c)
        out["workers"] = (w, 1)
        out["both"] = (w, math.ceil(k / w))
    return out


def auto_choice(config_path: str, k: int) -> str:
    """What nnbook chooses for K runs of the full protocol, measured now."""
    import torch

    from nnbook.config import load_config
    from nnbook.execution.placement import Asked, placement_for
    from nnbook.execution.timing import stack_step_seconds

    config = load_config(config_path, ["device=cpu"])
    steps = config.epochs * (50_000 // config.mini_batch_size)
    schedule, why = placement_for(config, k, steps, torch.device("cpu"), Asked(), stack_step_seconds)
    return f"--jobs {schedule.workers} --stack {schedule.stack} ({schedule.describe(k)}; {why})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/ch6_dbl_conv_relu.yaml")
    parser.add_argument("--ks", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-limit", type=int, default=20_000)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--only", choices=["stack", "workers", "both"], action="append",
                        help="time only these schedules (default: all three)")
    args = parser.parse_args()
    c = cores()
    rows: dict[str, dict[str, list[float]]] = {}
    memory: dict[str, int] = {}
    timed_train(args.config, 1, 1, 1, 1000, args.data_dir)  # warm-up: the data file in the page cache
    for r in range(args.rounds):
        one, one_training, _ = timed_train(args.config, 1, 1, 1, args.train_limit, args.data_dir)
        rows.setdefault("1", {}).setdefault("stack", []).append(one)
        rows["1"].setdefault("stack_training", []).append(one_training)
        for k in args.ks:
            if k == 1:
                continue
            plans = [(n, p) for n, p in schedules_for(k, c).items() if not args.only or n in args.only]
            for name, (jobs, stack) in plans if r % 2 == 0 else reversed(plans):
                seconds, training, peak = timed_train(args.config, k, jobs, stack, args.train_limit, args.data_dir)
                cols = rows.setdefault(str(k), {})
                cols.setdefault(name, []).append(seconds)
                cols.setdefault(f"{name}_training", []).append(training)
                cols.setdefault(f"{name}_training_ratio", []).append(training / one_training)
                if k == max(args.ks):
                    memory[name] = max(memory.get(name, 0), peak["pss"])
                print(f"round {r + 1}: K={k} {name:8s} wall {seconds:6.1f} s, training {training:6.1f} s "
                      f"({training / one_training:.2f}x one run's)", flush=True)
    choices = {str(k): auto_choice(args.config, k) for k in args.ks if k > 1}

    table = {k: {name: statistics.median(v) for name, v in cols.items()} for k, cols in rows.items()}
    import torch

    result = {
        "command": "python benchmarks/schedules.py " + " ".join(sys.argv[1:]),
        "config": args.config, "train_limit": args.train_limit, "epochs": 1, "rounds": args.rounds,
        "cores": c, "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "seconds_median": table, "seconds_all": rows, "peak_memory_bytes_at_largest_k": memory,
        "auto_choice_full_protocol": choices,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(markdown(table, memory, choices, args))
    print(f"written: {args.out}")


def markdown(table: dict, memory: dict, choices: dict, args) -> str:
    """Training time of each schedule as a multiple of one run's (medians of the per-round ratios), and
    the wall time of the whole command (start-up included) in seconds."""
    lines = ["| K | stack | workers | both | per run (best) | auto chooses (full protocol) |",
             "|---|---|---|---|---|---|"]
    for k in sorted(table, key=int):
        cols = table[k]
        names = [n for n in ("stack", "workers", "both") if f"{n}_training_ratio" in cols or (k == "1" and n == "stack")]
        ratio = {n: 1.0 if k == "1" else cols[f"{n}_training_ratio"] for n in names}
        cells = [f"{ratio[n]:.2f}x ({cols[n]:.1f} s)" if n in ratio else "—" for n in ("stack", "workers", "both")]
        lines.append(f"| {k} | {' | '.join(cells)} | {min(ratio.values()) / int(k):.2f} | {choices.get(k, '—')} |")
    mem = ", ".join(f"{n} {b / 2**30:.2f} GiB" for n, b in memory.items())
    lines.append(f"\nPeak memory (the processes' proportional set sizes together) at K={max(args.ks)}: {mem}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
