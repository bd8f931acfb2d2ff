"""The long CPU training behind the reports: two background lanes that work through a queue of
runs, from a frozen clone, niced, resuming exactly where a session's end stopped them.

    python reports/lanes.py start [--commit REV]   # clone (once), set up, start both lanes
    python reports/lanes.py status                 # each job: its run, status and epochs
    python reports/lanes.py stop                   # Ctrl-C the trainers: every finished epoch kept
    python reports/lanes.py add CONFIG SEED [KEY=VALUE ...]   # append a job to the queue

Everything lives in LANES ($NNBOOK_LANES, default ~/nnbook-lanes), outside the work tree:

    LANES/clone/                 a clone of this repository at one commit, with its own .venv:
                                 editing the work tree never changes the code a run resumes with
    LANES/queue.txt              one job a line: CONFIG SEED [KEY=VALUE ...] (CONFIG relative to
                                 the clone; quoted as in a shell); '#' starts a comment
    LANES/jobs/JOB/RUN/          each job's one run directory (`nnbook train --runs-dir LANES/jobs/JOB`)
    LANES/jobs/JOB/lane          the lane that took the job
    LANES/lane-A.log, lane-B.log what each lane's trainer printed

A lane takes, in queue order, first an unfinished job of its own (a stopped run is resumed with
`nnbook train --resume`, from its last finished epoch), then the first job no lane has taken.
Each trainer runs `nice -n 19` on one torch thread. `stop` asks the trainers to stop as Ctrl-C
does; a session's end kills them, which `--resume` also recovers (from the last finished epoch).
Finished rows are copied into a report with its own collect.py (reports/chapter6/collect.py
LANES/jobs/JOB for each job).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

LANES = Path(os.environ.get("NNBOOK_LANES", Path.home() / "nnbook-lanes"))
CLONE, QUEUE, JOBS, STOP = LANES / "clone", LANES / "queue.txt", LANES / "jobs", LANES / "stop"
REPO = Path(__file__).resolve().parents[1]
DONE = ("completed", "early_stopped", "diverged")
NAMES = ("A", "B")
MAX_TRIES = 3  # a job that fails this often (not stopped: failed) is left for a person to look at


def jobs() -> list[tuple[str, list[str]]]:
    """(job id, the train arguments) for each line of the queue, in order."""
    out = []
    for line in QUEUE.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        config, seed, *sets = words
        # The overrides as a short fingerprint: a job's folder name stays a plain name.
        job = "-".join([Path(config).stem, f"s{seed}"] + (
            [hashlib.sha256("\0".join(sets).encode()).hexdigest()[:8]] if sets else []))
        args = [config, "--seed", seed, "--repeats", "1"] + [a for s in sets for a in ("--set", s)]
        out.append((job, args))
    return out


def run_of(job: str) -> Path | None:
    runs = [p for p in (JOBS / job).glob("*") if (p / "summary.json").is_file()]
    return runs[0] if runs else None


def status_of(run: Path | None) -> tuple[str, int]:
    if run is None:
        return "not started", 0
    summary = json.loads((run / "summary.json").read_text())
    return summary.get("status") or "?", summary.get("epochs_completed", 0)


def take(lane: str) -> tuple[str, list[str]] | None:
    """The next job for `lane`, marked as its own; None when the queue is done."""
    JOBS.mkdir(parents=True, exist_ok=True)
    with open(LANES / "queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mine = unclaimed = None
        for job, args in jobs():
            owner = JOBS / job / "lane"
            state, _ = status_of(run_of(job))
            tries = len(list((JOBS / job).glob("try-*")))
            if state in DONE or tries >= MAX_TRIES:
                continue
            if owner.exists() and owner.read_text().strip() == lane and mine is None:
                mine = (job, args)
            elif not owner.exists() and unclaimed is None:
                unclaimed = (job, args)
        chosen = mine or unclaimed
        if chosen:
            (JOBS / chosen[0]).mkdir(exist_ok=True)
            (JOBS / chosen[0] / "lane").write_text(lane + "\n")
        return chosen


def lane_loop(lane: str) -> None:
    nnbook = str(CLONE / ".venv" / "bin" / "nnbook")
    log = open(LANES / f"lane-{lane}.log", "a", buffering=1)
    while not STOP.exists():
        chosen = take(lane)
        if chosen is None:
            print(f"{time.strftime('%F %T')} lane {lane}: the queue is done", file=log)
            return
        job, args = chosen
        run = run_of(job)
        if run is not None:
            cmd = [nnbook, "train", "--resume", str(run), "--threads", "1", "-q"]
        else:
            cmd = [nnbook, "train", *args, "--runs-dir", str(JOBS / job), "--threads", "1", "-q"]
        print(f"{time.strftime('%F %T')} lane {lane}: {' '.join(cmd)}", file=log)
        proc = subprocess.Popen(["nice", "-n", "19", *cmd], cwd=CLONE, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        (LANES / f"lane-{lane}.trainer").write_text(f"{proc.pid}\n")
        rc = proc.wait()
        print(f"{time.strftime('%F %T')} lane {lane}: exit {rc}", file=log)
        if rc != 0 and not STOP.exists() and status_of(run_of(job))[0] not in DONE:
            (JOBS / job / f"try-{time.strftime('%Y%m%d-%H%M%S')}").write_text(f"exit {rc}\n")
            time.sleep(5)


def start(commit: str) -> None:
    LANES.mkdir(parents=True, exist_ok=True)
    STOP.unlink(missing_ok=True)
    if not CLONE.exists():
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(CLONE)], check=True)
        subprocess.run(["git", "-C", str(CLONE), "checkout", "--quiet", commit], check=True)
    if not (CLONE / ".venv" / "bin" / "nnbook").exists():
        subprocess.run(["make", "setup"], cwd=CLONE, check=True)
    if not QUEUE.exists():
        print(f"no queue: write {QUEUE} (CONFIG SEED [KEY=VALUE ...] a line), or use `add`", file=sys.stderr)
        sys.exit(2)
    for lane in NAMES:
        pid = subprocess.Popen([sys.executable, __file__, "lane", lane], start_new_session=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid
        (LANES / f"lane-{lane}.pid").write_text(f"{pid}\n")
        time.sleep(2)  # the first lane takes its job before the second looks
    head = subprocess.run(["git", "-C", str(CLONE), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    print(f"lanes {', '.join(NAMES)} started from {CLONE} at {head}; logs in {LANES}/lane-*.log")


def stop() -> None:
    STOP.touch()
    for lane in NAMES:
        pidfile = LANES / f"lane-{lane}.trainer"
        if pidfile.exists():
            try:
                os.killpg(int(pidfile.read_text()), signal.SIGINT)  # nnbook saves the epoch it is in
            except ProcessLookupError:
                pass
    print("asked both lanes' trainers to stop (each keeps every finished epoch); "
          "`python reports/lanes.py start` continues them")


def lane_alive(lane: str) -> bool:
    """Whether the lane's trainer process is running now."""
    pidfile = LANES / f"lane-{lane}.trainer"
    try:
        os.kill(int(pidfile.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def status() -> None:
    head = subprocess.run(["git", "-C", str(CLONE), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    print(f"{LANES} (clone at {head or '?'}){' -- stopping' if STOP.exists() else ''}")
    for job, args in jobs():
        run = run_of(job)
        state, epochs = status_of(run)
        lane_file = JOBS / job / "lane"
        lane = lane_file.read_text().strip() if lane_file.exists() else "-"
        if state == "running" and not lane_alive(lane):
            state = "stopped"  # its trainer was killed (a session's end): `start` resumes it
        sets = " ".join(args[args.index("--set") + 1::2]) if "--set" in args else ""
        print(f"  {job:<34} lane {lane}  {state:<13} {epochs:>3} epochs  {run.name if run else ''} {sets}")


if __name__ == "__main__":
    verb = sys.argv[1] if len(sys.argv) > 1 else "status"
    if verb == "start":
        start(sys.argv[3] if sys.argv[2:3] == ["--commit"] else "HEAD")
    elif verb == "stop":
        stop()
    elif verb == "lane":
        lane_loop(sys.argv[2])
    elif verb == "add":
        LANES.mkdir(parents=True, exist_ok=True)
        with open(QUEUE, "a") as queue:
            queue.write(shlex.join(sys.argv[2:]) + "\n")
    elif verb == "status":
        status()
    else:
        print("usage: python reports/lanes.py start [--commit REV] | status | stop | add CONFIG SEED [KEY=VALUE ...]",
              file=sys.stderr)
        sys.exit(2)
