"""The Python steps of the GPU check (benchmarks/device_check.sh runs them, each time-boxed).

    python benchmarks/device_check.py equivalence OUT [--scale full|rehearsal|tiny]
    python benchmarks/device_check.py benchmark OUT [--scale ...]
    python benchmarks/device_check.py summary OUT WORK [--scale ...]

At the full scale the device is CUDA when torch sees a GPU (else the CPU); the rehearsal
(`SCALES["rehearsal"]`: every step small) and the test suite's `tiny` scale run on the CPU,
with the device named `cpu`. The reference is always the CPU.

equivalence -> OUT/equivalence.json, one entry per check, each with its value and limit:
  initial_weights   the same seeds give identical initial weights on both devices (exactly);
  weights_<net>     dropout off, the weights after 10, 50, 100 and 200 steps agree with the
                    CPU's to 1e-4 relative (||w_dev - w_cpu|| / ||w_cpu||, the largest over the
                    parameters), or, where the CPU's own run from weights nudged by 1e-7 ends
                    further apart than that, within 10x of it: rounding alone carries that far
                    (measured here: the ReLU conv net's nudge jumps from 6e-6 after 100 steps to
                    5e-2 after 200, a max-pool or ReLU choice flipping; the sigmoid net's stays
                    under 1e-6). On a GPU also without TF32: torch lets cuDNN use TF32 for
                    float32 convolutions by default, and nnbook does not change that;
  dropout_epoch     dropout on, one epoch of ch6_relu_dropout for a few seeds packed on each
                    device (their masks come from each device's own generators, so the runs
                    differ): the mean validation accuracies agree within run-to-run noise,
                    |mean_dev - mean_cpu| <= max(3 * standard error of the difference, 0.003);
  recorded_<net>    the step recorded as a CUDA graph (nn/graph.py) against the same step run
                    eagerly on the device: 100 steps, 1e-5 relative; beside it the eager run
                    repeated (the device's own run-to-run difference). On the CPU, where
                    nothing records a graph, the recorder replays by calling (graph.call_record):
                    it checks the bookkeeping around the recording, and must agree exactly.

benchmark -> OUT/<device>-<date>.json, {"device", "torch", "rows": [{"net", "members", "mode",
  "s_per_epoch", "us_per_step"}]}: for ch6_shallow, ch6_dbl_conv_relu and ch6_relu_dropout (on
  the book's 50,000 images: a step costs the same on the expanded set), at each stack size,
  nnbook's step recorded as a graph (`graph`, GPUs only) and eager (`eager`), and a plain
  PyTorch loop for one model (`plain`, benchmarks/bench_step.py's: nn.Module, torch.optim.SGD),
  in this process on the same device. Each is timed as the training loop takes its steps
  (loop.take_steps over batches.mini_batches, dropout masks drawn on the device), after a
  warm-up (a recording happens in it), the device synchronised before each clock reading;
  us_per_step is the median over rounds, s_per_epoch the 5,000 steps of a 50,000-image epoch
  at that rate (evaluation excluded).

summary -> OUT/summary.json: each step's status and seconds (from device_check.sh's
  WORK/steps.tsv), the pytest counts (WORK/pytest.xml), the device and the scale.

benchmarks/validate_device_check.py checks all of it, for the rehearsal and the GPU run alike.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_step import PlainNet, plain_step  # noqa: E402
from nnbook.config import Config, load_config  # noqa: E402
from nnbook.data import mnist  # noqa: E402
from nnbook.nn.costs import one_hot  # noqa: E402
from nnbook.nn.graph import GraphStep, call_record, cuda_record  # noqa: E402
from nnbook.nn.net import build_model  # noqa: E402
from nnbook.nn.sgd import l2_decay  # noqa: E402
from nnbook.nn.step import StepKind, make_step  # noqa: E402
from nnbook.seeds import member_generators  # noqa: E402
from nnbook.training.batches import EpochData, mini_batches  # noqa: E402
from nnbook.training.devices import DeviceData, to_device  # noqa: E402
from nnbook.training.loop import StackSpec, take_steps, train  # noqa: E402

NETS = ("ch6_shallow", "ch6_dbl_conv_relu", "ch6_relu_dropout")
WEIGHT_NETS = ("ch6_shallow", "ch6_dbl_conv_relu")  # the dropout-free ones
EPOCH_STEPS = 5_000  # a 50,000-image epoch in mini-batches of 10
MODES = ("graph", "eager", "plain")
CPU = torch.device("cpu")


@dataclass(frozen=True)
class Scale:
    """How much each step does: the GPU run's, or the rehearsal's on the CPU."""

    members: tuple[int, ...]  # the stack sizes timed
    warmup: int  # untimed steps before each timing
    steps: int  # timed steps per round
    rounds: int  # us_per_step is the median over these
    weight_steps: int  # the dropout-off weight check
    recorded_steps: int  # the recorded-against-eager check
    dropout_images: int  # the dropout-on check: one epoch on this many training images...
    dropout_seeds: int  # ...of this many seeds packed,
    dropout_validation: int | None  # ...on this many validation images (None: all 10,000)


SCALES = {
    "full": Scale(members=(1, 5, 27), warmup=50, steps=2_500, rounds=2, weight_steps=200, recorded_steps=100,
                  dropout_images=10_000, dropout_seeds=4, dropout_validation=None),
    # --rehearse: every step on the CPU in well under 3 minutes on 2 quiet cores
    "rehearsal": Scale(members=(1, 2), warmup=3, steps=10, rounds=2, weight_steps=100, recorded_steps=20,
                       dropout_images=200, dropout_seeds=2, dropout_validation=1_000),
    # --scale tiny: the rehearsal's files in seconds, for the test suite (tests/test_device_check.py)
    "tiny": Scale(members=(1, 2), warmup=1, steps=2, rounds=1, weight_steps=10, recorded_steps=5,
                  dropout_images=100, dropout_seeds=2, dropout_validation=200),
}


def the_device() -> torch.device:
    return torch.device("cuda") if torch.cuda.is_available() else CPU


def device_name(device: torch.device) -> str:
    """`cpu`, or the GPU's name as a file-name slug: 'NVIDIA H100 80GB HBM3' -> nvidia-h100-80gb-hbm3."""
    if device.type != "cuda":
        return device.type
    return re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device).lower()).strip("-")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def net_config(name: str, *overrides: str) -> Config:
    """A chapter 6 config on the book's 50,000 images (the expanded set's step costs the same)."""
    return load_config(ROOT / "configs" / f"{name}.yaml", ["data=mnist", *overrides])


class Data:
    """The book's data, loaded once, on each device asked for (float32, as the configs)."""

    def __init__(self):
        self.dataset = mnist.load("mnist")
        self.on: dict[tuple, DeviceData] = {}

    def __call__(self, device: torch.device, limit: int | None = None) -> DeviceData:
        if (device, limit) not in self.on:
            self.on[(device, limit)] = to_device(self.dataset, device, limit)
        return self.on[(device, limit)]


def steps_on(config: Config, seeds: list[int], data: DeviceData, n: int, how="default", net=None):
    """A net of `seeds` (or `net`) after n steps on `data`'s first mini-batches, taken as the loop
    takes them. how: "default" (make_step's choice: recorded on a GPU unless config.cuda_graph is
    false), "static" (the capture-ready step, run eagerly), or a recorder (graph.cuda_record,
    graph.call_record) that records the static step."""
    device = data.train_x.device
    net = net if net is not None else build_model(config, seeds).to(device)
    decay = l2_decay(config, len(data.train_y))
    if how == "default":
        step = make_step(net, config, decay)
    else:
        step = make_step(net, config.model_copy(update={"cuda_graph": False}), decay, kind=StepKind(static=True))
        step = step if how == "static" else GraphStep(step, how)
    targets = one_hot(data.train_y, data.train_x.dtype)
    batches = mini_batches(net, EpochData(data.train_x, targets), config.mini_batch_size, n,
                           member_generators(seeds, device).mask)
    take_steps(step, batches, n, [None] * len(seeds), None)
    sync(device)
    return net


def relative(a, b) -> float:
    """The largest ||a_i - b_i|| / ||b_i|| over two nets' parameters (compared on the CPU)."""
    return max(((p.detach().cpu().double() - q.detach().cpu().double()).norm()
                / q.detach().cpu().double().norm()).item() for p, q in zip(a.parameters(), b.parameters()))


def check(name: str, value: float, limit: float, **context) -> dict:
    passed = math.isfinite(value) and value <= limit
    print(f"  {name:28s} {value:10.3g}  limit {limit:g}  {'ok' if passed else 'FAILED'}  "
          + "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in context.items()),
          flush=True)
    return {"name": name, "value": value, "limit": limit, "passed": passed, **context}


def equivalence(device: torch.device, scale: Scale, data: Data) -> list[dict]:
    checks = []
    differ = 0.0
    for name in NETS:
        config = net_config(name)
        on_cpu, on_device = build_model(config, [0, 1]), build_model(config, [0, 1]).to(device)
        differ = max(differ, max((p.cpu() - q).abs().max().item()
                                 for p, q in zip(on_device.parameters(), on_cpu.parameters())))
    checks.append(check("initial_weights", differ, 0.0))

    for name in WEIGHT_NETS:
        checks.append(weights_check(name, device, scale, data))

    checks.append(dropout_epoch(device, scale, data))

    record = cuda_record if device.type == "cuda" else call_record
    for name in NETS:
        config = net_config(name)
        seeds, n = [0, 1], scale.recorded_steps
        on_device = data(device, 10 * n)
        recorded = steps_on(config, seeds, on_device, n, how=record)
        static = steps_on(config, seeds, on_device, n, how="static")
        again = steps_on(config, seeds, on_device, n, how="static")
        eager = steps_on(config.model_copy(update={"cuda_graph": False}), seeds, on_device, n)
        checks.append(check(f"recorded_{name}", relative(recorded, static), 1e-5 if device.type == "cuda" else 0.0,
                            steps=n, members=2, recorder=record.__name__, eager_again=relative(again, static),
                            default_eager_step=relative(eager, static)))
    return checks


def weights_check(name: str, device: torch.device, scale: Scale, data: Data) -> dict:
    """Dropout off: the device's weights against the CPU's after 10, 50, 100 and 200 steps (the
    last, scale.weight_steps, ends the list). At each, the limit is 1e-4 relative, or, where the CPU itself carries a
    1e-7 nudge of the initial weights further (a ReLU net's max-pool or ReLU choice flips: the
    conv net's jumps from 6e-6 at 100 steps to 5e-2 at 200), ten times that nudge's difference."""
    config, cpu, dev = net_config(name), data(CPU, 2000), data(device, 2000)
    points, context = [], {}
    for n in [n for n in (10, 50, 100) if n < scale.weight_steps] + [scale.weight_steps]:
        reference = steps_on(config, [0], cpu, n)
        nudged = build_model(config, [0])
        with torch.no_grad():
            for p in nudged.parameters():
                p.mul_(1 + 1e-7)
        nudge = relative(steps_on(config, [0], cpu, n, net=nudged), reference)
        point = {"steps": n, "device": relative(steps_on(config, [0], dev, n), reference),
                 "cpu_nudged_1e-7": nudge, "limit": max(1e-4, 10 * nudge)}
        if device.type == "cuda":  # torch lets cuDNN use TF32 for float32 convolutions by default
            saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
            point["device_without_tf32"] = relative(steps_on(config, [0], dev, n), reference)
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
            context = {"tf32_convolutions": saved[0], "tf32_matmul": saved[1]}
        points.append(point)
    last = points[-1]
    entry = check(f"weights_{name}", last["device"], last["limit"], steps=last["steps"], **context)
    entry["trajectory"] = points
    entry["passed"] = all(math.isfinite(p["device"]) and p["device"] <= p["limit"] for p in points)
    for p in points:
        print(f"    after {p['steps']:3d} steps: device {p['device']:.3g}, the CPU nudged by 1e-7 "
              f"{p['cpu_nudged_1e-7']:.3g}, limit {p['limit']:.3g}"
              + (f", without TF32 {p['device_without_tf32']:.3g}" if "device_without_tf32" in p else ""))
    return entry


def dropout_epoch(device: torch.device, scale: Scale, data: Data) -> dict:
    config = net_config("ch6_relu_dropout", "epochs=1", f"train_limit={scale.dropout_images}")
    seeds = list(range(scale.dropout_seeds))
    accuracies = {}
    for where in (CPU, device):
        reports = []
        net = build_model(config, seeds).to(where)
        on = data(where, scale.dropout_images)
        n = scale.dropout_validation
        if n is not None:  # the test set too: evaluated at each new best
            on = DeviceData(on.train_x, on.train_y, on.validation_x[:n], on.validation_y[:n], on.test_x[:n],
                            on.test_y[:n])
        train(net, StackSpec(config, seeds), on, reports.append)
        accuracies[where.type] = [r.validation_accuracy for r in reports[0].records]
    cpu, dev = accuracies["cpu"], accuracies[device.type]
    n = len(seeds)
    error = math.sqrt(statistics.variance(cpu) / n + statistics.variance(dev) / n) if n > 1 else 0.0
    differ = abs(statistics.mean(dev) - statistics.mean(cpu))
    return check("dropout_epoch", differ, max(3 * error, 0.003), images=scale.dropout_images,
                 validation_images=scale.dropout_validation or 10_000, cpu=cpu, device=dev)


# ----------------------------------------------------------------------------- the benchmark


def time_nnbook(config: Config, members: int, data: DeviceData, scale: Scale) -> float:
    """Median seconds per step of nnbook's default step for `config` (its cuda_graph decides)."""
    device, seeds = data.train_x.device, list(range(members))
    net = build_model(config, seeds).to(device)
    step = make_step(net, config, l2_decay(config, len(data.train_y)))
    targets = one_hot(data.train_y, data.train_x.dtype)
    gens = member_generators(seeds, device).mask

    def run(n: int) -> float:
        sync(device)
        start = time.perf_counter()
        take_steps(step, mini_batches(net, EpochData(data.train_x, targets), config.mini_batch_size, n, gens),
                   n, [None] * members, None)
        sync(device)
        return (time.perf_counter() - start) / n

    run(scale.warmup)
    return statistics.median(run(scale.steps) for _ in range(scale.rounds))


def time_plain(config: Config, data: DeviceData, scale: Scale) -> float:
    """Median seconds per step of the plain PyTorch loop (one model) on the same device."""
    device, b = data.train_x.device, config.mini_batch_size
    model = PlainNet(config).load_member(build_model(config, [0])).to(device)
    opt = model.optimizer(config, l2_decay(config, len(data.train_y)))
    x, y = data.train_x, data.train_y

    def run(n: int) -> float:
        sync(device)
        start = time.perf_counter()
        for s in range(n):
            plain_step(model, opt, x[s * b:(s + 1) * b], y[s * b:(s + 1) * b])
        sync(device)
        return (time.perf_counter() - start) / n

    run(scale.warmup)
    return statistics.median(run(scale.steps) for _ in range(scale.rounds))


def row(net: str, members: int, mode: str, seconds_per_step: float) -> dict:
    us = round(seconds_per_step * 1e6, 1)
    return {"net": net, "members": members, "mode": mode, "s_per_epoch": round(us * EPOCH_STEPS / 1e6, 4),
            "us_per_step": us}


def benchmark(device: torch.device, scale: Scale, data: Data) -> list[dict]:
    rows = []
    modes = ("graph", "eager") if device.type == "cuda" else ("eager",)
    for name in NETS:
        config = net_config(name)
        on_device = data(device)
        for members in scale.members:
            for mode in modes:
                timed = config.model_copy(update={"cuda_graph": mode == "graph"})
                rows.append(row(name, members, mode, time_nnbook(timed, members, on_device, scale)))
                print_row(rows[-1])
        rows.append(row(name, 1, "plain", time_plain(config, on_device, scale)))
        print_row(rows[-1])
    return rows


def print_row(r: dict) -> None:
    print(f"  {r['net']:18s} {r['members']:3d} {r['mode']:6s} {r['s_per_epoch']:9.3f} s/epoch "
          f"{r['us_per_step']:9.1f} us/step", flush=True)


def targets(rows: list[dict]) -> list[str]:
    """The issue's targets for later, against these rows (printed, not judged)."""
    def find(net, members, mode):
        return next((r for r in rows if (r["net"], r["members"], r["mode"]) == (net, members, mode)), None)

    best = "graph" if any(r["mode"] == "graph" for r in rows) else "eager"
    lines = []
    one, plain = find("ch6_dbl_conv_relu", 1, best), find("ch6_dbl_conv_relu", 1, "plain")
    many = max((r for r in rows if r["net"] == "ch6_dbl_conv_relu" and r["mode"] == best),
               key=lambda r: r["members"])
    if one:
        lines.append(f"ch6_dbl_conv_relu, 1 model ({best}): {one['s_per_epoch']:.3f} s per epoch (target <= 0.5)")
    lines.append(f"ch6_dbl_conv_relu, {many['members']} members packed ({best}): {many['s_per_epoch']:.3f} s "
                 "(target <= 1.0 for 27)")
    if plain:
        ratio = many["s_per_epoch"] / (many["members"] * plain["s_per_epoch"])
        lines.append(f"  against {many['members']} plain-loop epochs one after another: {ratio:.3f}x (target <= 0.2)")
    return lines


# ----------------------------------------------------------------------------- summary


def pytest_counts(xml: Path) -> dict:
    """passed/failed/skipped and the failed tests' names from pytest's JUnit XML."""
    if not xml.exists():
        return {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "note": "no pytest report"}
    cases = ET.parse(xml).getroot().iter("testcase")
    counts = {"passed": 0, "failed": 0, "skipped": 0, "failures": []}
    for case in cases:
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
            counts["failures"].append(f"{case.get('classname')}::{case.get('name')}")
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts


def summary(device: torch.device, scale: str, work: Path) -> dict:
    steps = []
    for line in (work / "steps.tsv").read_text().splitlines():
        name, rc, seconds, limit = line.split("\t")
        status = {"0": "ok", "124": "timed out", "137": "timed out", "skip": "skipped"}.get(rc, "failed")
        entry = {"step": name, "status": status, "rc": rc, "seconds": float(seconds), "limit_s": float(limit)}
        if name == "pytest":
            entry.update(pytest_counts(work / "pytest.xml"))
        steps.append(entry)
    return {"device": device_name(device), "rehearsal": scale != "full", "torch": torch.__version__,
            "scale": scale, **asdict(SCALES[scale]),
            "total_seconds": round(sum(s["seconds"] for s in steps), 1), "steps": steps}


def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=1) + "\n")
    print(f"wrote {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("equivalence", "benchmark", "summary"))
    parser.add_argument("out", type=Path, help="the output folder ($OUT on a lent GPU machine)")
    parser.add_argument("work", type=Path, nargs="?", help="summary: device_check.sh's work folder")
    parser.add_argument("--scale", choices=SCALES, default="full",
                        help="full (a GPU), rehearsal (the CPU, every step small), tiny (the test suite's)")
    args = parser.parse_args()
    device = the_device() if args.scale == "full" else CPU  # a rehearsal rehearses the CPU's run
    scale = SCALES[args.scale]
    print(f"{args.what} on {device_name(device)}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"scale {args.scale}", flush=True)
    if args.what == "summary":
        write_json(args.out / "summary.json", summary(device, args.scale, args.work))
        return
    data = Data()
    if args.what == "equivalence":
        checks = equivalence(device, scale, data)
        write_json(args.out / "equivalence.json", {"device": device_name(device), "reference": "cpu",
                                                   "torch": torch.__version__, "checks": checks})
        sys.exit(0 if all(c["passed"] for c in checks) else 1)
    rows = benchmark(device, scale, data)
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    write_json(args.out / f"{device_name(device)}-{date}.json",
               {"device": device_name(device), "torch": torch.__version__, "rows": rows})
    print("\n".join(targets(rows)))


if __name__ == "__main__":
    main()
