"""Check what benchmarks/device_check.sh wrote: the rehearsal's output and a GPU run's alike.

    python benchmarks/validate_device_check.py OUT

Reads OUT/summary.json (which says the device and whether it was a rehearsal), then checks
  - every step of the script is there, with its status (a timed-out or failed step fails);
  - pytest -m cuda: no test failed (on the CPU all of them skip, saying why);
  - equivalence.json: every check of device_check.py is there, each with a value, its limit
    and a verdict that follows from them, and every one passed;
  - <device>-<date>.json: exactly the schema {"device", "torch", "rows": [{"net", "members",
    "mode", "s_per_epoch", "us_per_step"}]}, every net at every stack size of the scale, in
    `graph` (GPU only) and `eager`, and `plain` for one model; positive finite times with
    s_per_epoch = us_per_step x 5,000 steps;
  - records.tar.gz: the chapter 6 row's run directories, read with nnbook's own readers
    (summary.json, metrics.jsonl, config.yaml): 3 seeds trained together on the device, each
    epoch recorded; a row stopped by its time box is named, with its epochs.
Prints one line per check ("ok ..." or "FAIL ..."); exits 0 when nothing failed, 1 otherwise,
2 when OUT is not a device check's output.
"""

from __future__ import annotations

import json
import math
import re
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from device_check import EPOCH_STEPS, MODES, NETS, WEIGHT_NETS  # noqa: E402

STEPS = ("setup", "pytest", "equivalence", "benchmark", "row")
ROW_CONFIG, ROW_SEEDS = "ch6_dbl_conv_relu", [0, 1, 2]
ROW_KEYS = {"net", "members", "mode", "s_per_epoch", "us_per_step"}


class Report:
    def __init__(self):
        self.failed = 0

    def __call__(self, ok: bool, what: str) -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        self.failed += not ok
        return ok


def read_json(path: Path, report: Report):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        report(False, f"{path.name}: unreadable ({e})")
        return None


def check_steps(summary: dict, report: Report) -> None:
    steps = {s["step"]: s for s in summary.get("steps", [])}
    for name in STEPS:
        s = steps.get(name)
        if s is None:
            report(False, f"step {name}: not run")
            continue
        ok = s["status"] == "ok" or (name == "setup" and s["status"] == "skipped" and summary["rehearsal"])
        report(ok, f"step {name}: {s['status']} in {s['seconds']:.0f} s (limit {s['limit_s']:.0f} s)")
    pytest = steps.get("pytest", {})
    if "passed" in pytest:
        report(pytest["failed"] == 0 and pytest["passed"] + pytest["skipped"] > 0,
               f"pytest -m cuda: {pytest['passed']} passed, {pytest['failed']} failed, {pytest['skipped']} skipped"
               + (f" ({', '.join(pytest['failures'])})" if pytest["failures"] else ""))
        if not summary["rehearsal"]:
            report(pytest["skipped"] == 0, f"pytest -m cuda on the GPU: {pytest['skipped']} skipped")


def check_equivalence(out: Path, report: Report) -> None:
    data = read_json(out / "equivalence.json", report)
    if data is None:
        return
    checks = {c["name"]: c for c in data.get("checks", [])}
    expected = (["initial_weights"] + [f"weights_{n}" for n in WEIGHT_NETS] + ["dropout_epoch"]
                + [f"recorded_{n}" for n in NETS])
    for name in expected:
        c = checks.get(name)
        if c is None:
            report(False, f"equivalence {name}: missing")
            continue
        # weights_<net> pass at every point of their trajectory; the others at their value
        points = c.get("trajectory") or [{"device": c["value"], "limit": c["limit"]}]
        follows = all(math.isfinite(p["device"]) and p["device"] <= p["limit"] for p in points) == c["passed"]
        report(follows and c["passed"], f"equivalence {name}: {c['value']:.3g} (limit {c['limit']:.3g})"
               + ("" if follows else ": the verdict does not follow from the numbers"))


def check_benchmark(out: Path, summary: dict, report: Report) -> None:
    device = summary["device"]
    files = sorted(out.glob(f"{device}-*.json"))
    named = [f for f in files if re.fullmatch(rf"{re.escape(device)}-\d{{4}}-\d{{2}}-\d{{2}}\.json", f.name)]
    if not report(len(named) == 1, f"benchmark file {device}-YYYY-MM-DD.json: {[f.name for f in files] or 'none'}"):
        return
    data = read_json(named[0], report)
    if data is None:
        return
    report(set(data) == {"device", "torch", "rows"} and data["device"] == device and isinstance(data["torch"], str),
           f"benchmark schema: keys {sorted(data)}, device {data.get('device')!r}")
    rows = data.get("rows", [])
    bad = [r for r in rows if set(r) != ROW_KEYS or r["net"] not in NETS or r["mode"] not in MODES
           or not isinstance(r["members"], int) or r["members"] < 1
           or not all(isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] > 0
                      for k in ("s_per_epoch", "us_per_step"))
           or not math.isclose(r["s_per_epoch"], r["us_per_step"] * EPOCH_STEPS / 1e6, rel_tol=1e-3)]
    report(not bad, f"benchmark rows: {len(rows)}, well-formed" + (f" except {bad[:2]}" if bad else ""))
    members = summary["members"]  # the stack sizes of the scale it ran at
    modes = ("eager",) if device == "cpu" else ("graph", "eager")
    wanted = {(n, k, m) for n in NETS for k in members for m in modes} | {(n, 1, "plain") for n in NETS}
    have = {(r.get("net"), r.get("members"), r.get("mode")) for r in rows}
    report(have == wanted, f"benchmark grid: {len(NETS)} nets x members {members} x {list(modes)} "
           "+ plain" + (f"; missing {sorted(wanted - have)}" if wanted - have else "")
           + (f"; unexpected {sorted(have - wanted)}" if have - wanted else ""))


def check_records(out: Path, summary: dict, report: Report) -> None:
    from nnbook.runs.directory import is_run_dir, read_config, read_metrics, read_summary

    archive = out / "records.tar.gz"
    if not report(archive.exists(), "records.tar.gz: present"):
        return
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(archive) as tar:
        tar.extractall(tmp, filter="data")
        runs = sorted(p for p in Path(tmp).rglob("*") if p.is_dir() and is_run_dir(p))
        if not report(len(runs) == len(ROW_SEEDS), f"records: {len(runs)} run directories (want {len(ROW_SEEDS)})"):
            return
        summaries = [read_summary(p) for p in runs]
        configs = [read_config(p) for p in runs]
        metrics = [read_metrics(p) for p in runs]
        report(sorted(s.seed for s in summaries) == ROW_SEEDS and all(c.name == ROW_CONFIG for c in configs),
               f"records: {ROW_CONFIG}, seeds {sorted(s.seed for s in summaries)}")
        report(all(s.group and len(s.group) == len(ROW_SEEDS) for s in summaries),
               "records: the 3 seeds trained together (one stack)")
        device = summary["device"]
        report(all((s.device or "").split(":")[0] == ("cpu" if device == "cpu" else "cuda") for s in summaries),
               f"records: trained on {sorted({s.device for s in summaries})}")
        report(all(len(m) == s.epochs_completed for m, s in zip(metrics, summaries)),
               "records: one metrics line per completed epoch")
        epochs = configs[0].epochs
        for s in summaries:
            done = s.status == "completed" or (s.status == "early_stopped")
            report(done, f"records: seed {s.seed} {s.status} after {s.epochs_completed} of {epochs} epochs, "
                   f"test accuracy at the best validation epoch {s.test_accuracy}")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    report = Report()
    summary = read_json(out / "summary.json", report) if (out / "summary.json").exists() else None
    if summary is None:
        print(f"{out}: no summary.json (not a device check's output folder)", file=sys.stderr)
        return 2
    print(f"{out}: device {summary['device']}, scale {summary['scale']}, "
          f"torch {summary['torch']}, {summary['total_seconds']:.0f} s in all")
    check_steps(summary, report)
    check_equivalence(out, report)
    check_benchmark(out, summary, report)
    check_records(out, summary, report)
    print(f"{report.failed} failed" if report.failed else "all checks passed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
