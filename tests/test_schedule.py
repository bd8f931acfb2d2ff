"""How K runs share the machine (execution/placement.py): the arithmetic by hand, the choice
from measured step times, and `nnbook train --jobs` end to end on real MNIST."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from nnbook.config import validate
from nnbook.errors import ConfigError
from nnbook.execution.placement import Asked, Placement, candidates, choose, makespan, placement_for, pruned
from nnbook.stacks import in_stacks, stack_sizes

from .cli import CONFIGS, ROOT, default_signals, read_json, run_dirs, torch_threads, training_started
from .pause import wait_until

# The measurements of one ch6_dbl_conv_relu epoch on the 2-core CPU (seconds), stack size ->
# time, with 2 threads; with 1 thread only one run was measured (40.5 s), the rest are made up.
TWO_THREADS = {1: 34.0, 2: 41.6, 3: 62.3, 4: 71.5, 5: 98.0, 6: 107.0, 7: 130.0, 8: 140.0}
ONE_THREAD = {1: 40.5, 2: 55.0, 3: 88.0, 4: 110.0, 5: 140.0, 6: 160.0, 7: 190.0, 8: 210.0}


def measured(k: int, threads: int) -> float:
    return (TWO_THREADS if threads == 2 else ONE_THREAD)[k]


def test_runs_are_cut_into_even_stacks_the_larger_first():
    assert stack_sizes(5, 2) == [2, 2, 1]
    assert stack_sizes(27, 8) == [7, 7, 7, 6]
    assert stack_sizes(3, 3) == [3] and stack_sizes(3, 10) == [3] and stack_sizes(4, 1) == [1, 1, 1, 1]
    assert stack_sizes(0, 2) == []  # a config with only stopped groups left: no new stacks
    # every placement's stacks, the sweep's packed stacks included, are these pieces
    assert in_stacks(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]


def test_the_estimate_is_when_the_last_worker_finishes():
    cost = {1: 1.0, 2: 1.5, 3: 2.5}.get
    assert makespan([1, 1, 1], 1, cost) == 3.0
    assert makespan([1, 1, 1], 2, cost) == 2.0  # two at once, then the third
    assert makespan([2, 1], 2, cost) == 1.5
    assert makespan([3], 2, cost) == 2.5  # one job keeps one worker busy; the other idles


def test_candidates_share_the_cores_evenly_and_never_exceed_the_runs():
    got = {(s.workers, s.stack, s.threads) for s in candidates(3, 2)}
    assert got == {(1, 1, 2), (1, 2, 2), (1, 3, 2), (2, 1, 1), (2, 2, 1)}
    assert all(s.workers == 1 for s in candidates(1, 16))
    assert max(s.stack for s in candidates(27, 2)) == 8  # MAX_STACK


@pytest.mark.parametrize("n, expected", [
    (1, Placement(1, 1, 2)),  # one run: all threads on it
    (3, Placement(2, 2, 1)),  # a stack of 3 at 2 threads (62.3) loses to workers with 2 + 1 (55.0)
    (4, Placement(2, 2, 1)),  # 55.0 against a stack of 4 (71.5)
])
def test_the_placement_with_the_least_estimated_time_wins(n, expected):
    best, estimates = choose(n, 2, measured)
    assert best == expected
    assert estimates[best] == min(estimates.values())


def test_near_ties_go_to_fewer_processes():
    ideal = lambda k, threads: k / threads  # noqa: E731 - threads and stacks scale perfectly: all tie
    assert choose(4, 2, ideal)[0] == Placement(1, 4, 2)


def test_stack_sizes_are_timed_upwards_only_while_the_cost_per_run_falls():
    timed = []

    def per_step(k, threads):
        timed.append((k, threads))
        return {1: 1.0, 2: 1.2, 3: 3.0, 4: 4.5}.get(k, 10.0 * k)  # best per run at k = 2

    table = pruned(per_step, candidates(16, 1))
    assert sorted(timed) == [(1, 1), (2, 1), (3, 1), (4, 1)]  # two sizes without a new best, then stop
    assert table(8, 1) == pytest.approx(1.2 / 2 * 8)  # extrapolated from the best per-run cost


def test_forced_or_short_placements_are_not_measured():
    config = validate({"name": "t", "layers": [{"type": "softmax"}], "epochs": 1, "eta": 0.1}, source="test")
    cpu = torch.device("cpu")
    assert placement_for(config, 4, 10**6, cpu, Asked(workers=2, stack=2, threads=2)) == (Placement(2, 2, 1), "--jobs and --stack")
    assert placement_for(config, 4, 100, cpu, Asked(threads=2))[0] == Placement(1, 4, 2)  # short: one stack
    assert placement_for(config, 3, 100, cpu, Asked(workers=2, threads=2)) == (Placement(2, 2, 1), "short: not measured")
    assert placement_for(config, 8, 10**6, cpu, Asked(stack=8, threads=2)) == (Placement(1, 8, 2), "as asked")  # the one way
    assert placement_for(config, 1, 10**6, cpu, Asked(threads=2))[0] == Placement(1, 1, 2)
    assert "8 runs as stacks of 3, 3, 2 on 2 workers of 1 thread" == Placement(2, 3, 1).describe(8)
    with pytest.raises(ConfigError, match=r"--jobs 2: several workers train on the CPU only .* add --device cpu"):
        placement_for(config, 4, 100, torch.device("cuda"), Asked(workers=2))


def test_by_default_each_training_process_has_one_thread(monkeypatch):
    """Unforced, a process trains on one thread (or OMP_NUM_THREADS), several runs as workers of one
    thread each, never more workers than cores; --threads is a budget the workers share."""
    config = validate({"name": "t", "layers": [{"type": "softmax"}], "epochs": 1, "eta": 0.1}, source="test")
    cpu = torch.device("cpu")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert placement_for(config, 1, 10**6, cpu)[0] == Placement(1, 1, 1)
    assert placement_for(config, 4, 100, cpu)[0] == Placement(1, 4, 1)  # short: one stack, one thread
    assert placement_for(config, 3, 100, cpu, Asked(workers=2))[0] == Placement(2, 2, 1)
    assert {c.threads for c in candidates(4, 2, per_worker=1)} == {1}
    assert {c.workers for c in candidates(4, 2, per_worker=1)} == {1, 2}
    assert placement_for(config, 3, 100, cpu, Asked(workers=2, threads=4))[0] == Placement(2, 2, 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert placement_for(config, 1, 10**6, cpu)[0] == Placement(1, 1, 3)


def test_a_dry_run_times_nothing_and_loads_no_torch(tmp_path):
    """`sweep --dry-run` of a sweep long enough to be worth timing: the placement is the one asked
    (each worker one stack of its share), said to be untimed, and torch is never imported."""
    program = ("import sys; from nnbook.cli import run; "
               f"code = run(['sweep', {str(CONFIGS / 'ch6_sweep_lmbda_relu.yaml')!r}, '--dry-run', '--threads', '2', "
               f"'--runs-dir', {str(tmp_path)!r}]); print('torch loaded:', 'torch' in sys.modules); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "Placement: 27 runs as stack of 27 in this process (2 threads) (not timed in a dry run" in result.stdout
    assert "torch loaded: False" in result.stdout
    assert not any(tmp_path.iterdir())  # and nothing written


def test_a_chapters_stacks_go_to_the_workers_longest_first():
    """`chapter6 --jobs`: every config's stacks, and its stopped groups, in one queue, longest first (a
    stack of k counts as k runs, a stopped group as its epochs left), so no long stack starts last
    while the other workers have nothing left; without estimates, in the configs' order."""
    from nnbook.config import load_config
    from nnbook.experiments.chapter6 import StoppedStack
    from nnbook.execution.local import stacks_of

    stopped = StoppedStack(Path("runs/ch6_conv_only-20261202-000000"), [0, 1], 45)  # 15 of 60 epochs left
    todo = [(load_config(CONFIGS / f"{name}.yaml"), seeds, groups)
            for name, seeds, groups in [("ch6_shallow", [0, 1, 2], []), ("ch6_conv_only", [2], [stopped]),
                                        ("ch6_relu_dropout", [0, 1, 2, 3, 4], [])]]
    jobs = stacks_of(todo, [2, 2, 3], [60.0, 400.0, 5000.0])
    assert [(job.point.name, job.seeds) for job in jobs] == [
        ("ch6_relu_dropout", [0, 1, 2]), ("ch6_relu_dropout", [3, 4]), ("ch6_conv_only", [2]),
        ("ch6_conv_only", [0, 1]), ("ch6_shallow", [0, 1]), ("ch6_shallow", [2])]
    assert [job.resume for job in jobs] == [None, None, None, stopped.leader, None, None]
    assert jobs[3].label == "ch6_conv_only (seeds 0-1, resumed)"
    in_order = [(job.point.name, job.seeds) for job in stacks_of(todo, [2, 2, 3])]
    assert in_order == [("ch6_shallow", [0, 1]), ("ch6_shallow", [2]), ("ch6_conv_only", [0, 1]),
                        ("ch6_conv_only", [2]), ("ch6_relu_dropout", [0, 1, 2]), ("ch6_relu_dropout", [3, 4])]


def test_train_with_workers_gives_each_run_its_stacked_result(tmp_path, cli, mnist_slice):
    """--jobs 2 --stack 2: three repeats as stacks of 2 and 1 in two worker processes; each run's
    epochs are those it has in one stack of three in this process (to rounding), and the worker
    path ends in the same result table."""
    args = ["train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=500",
            "--set", "epochs=2", "--set", "device=cpu", "--repeats", "3"]
    workers = cli(*args, "--jobs", "2", "--stack", "2", "--threads", "2", "--runs-dir", tmp_path / "workers")
    assert workers.returncode == 0, workers.stderr
    assert "Placement: 3 runs as stacks of 2, 1 on 2 workers of 1 thread (--jobs and --stack)" in workers.stdout
    assert "worker 1: ch6_shallow epoch 2/2, validation" in workers.stdout
    assert "Best of 3 runs by validation" in workers.stdout
    with torch_threads(1):
        stacked = cli(*args, "--stack", "3", "--runs-dir", tmp_path / "stacked")
    assert stacked.returncode == 0, stacked.stderr

    def by_seed(root):
        out = {}
        for run in run_dirs(root):
            summary = read_json(run / "summary.json")
            out[summary["seed"]] = (summary, [l for l in (run / "metrics.jsonl").read_text().splitlines()])
        return out

    got, want = by_seed(tmp_path / "workers"), by_seed(tmp_path / "stacked")
    assert sorted(got) == sorted(want) == [0, 1, 2]
    for seed in got:
        assert got[seed][0]["threads"] == 1 and got[seed][0]["status"] == "completed"
        assert len(got[seed][0]["group"]) == (2 if seed < 2 else 1) and len(want[seed][0]["group"]) == 3
        assert got[seed][0]["test_accuracy"] == pytest.approx(want[seed][0]["test_accuracy"], abs=2e-3)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux only: /proc shows the workers")
def test_ctrl_c_stops_every_worker_and_names_each_group_to_resume(tmp_path, mnist_slice, cli):
    """SIGINT to the process group, as a terminal's Ctrl-C: both workers stop, their runs end
    `interrupted`, the one-line error gives a resume command per group, and one resumes."""
    from .test_sweep import children_of, is_gone

    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "nnbook", "train", str(CONFIGS / "ch6_shallow.yaml"),
                             "--set", f"data={mnist_slice}", "--set", "train_limit=1000", "--set", "epochs=500",
                             "--set", "device=cpu", "--repeats", "2", "--jobs", "2", "--stack", "1",
                             "--runs-dir", str(runs), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_signals)
    wait_until(proc, training_started(runs, 2), "both workers training", 120)
    workers = children_of(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: every completed epoch is kept; resume with: ")
    commands = lines[0].split("resume with: ", 1)[1].split("; ")
    assert sorted(commands) == sorted(f"nnbook train --resume {r}" for r in run_dirs(runs))
    deadline = time.monotonic() + 10
    while not all(is_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(workers) >= 2 and [pid for pid in workers if not is_gone(pid)] == []
    for run in run_dirs(runs):
        summary = read_json(run / "summary.json")
        assert summary["status"] == "interrupted" and summary["group"] == [run.name]
    done = read_json(run_dirs(runs)[0] / "summary.json")["epochs_completed"]
    resumed = cli("train", "--resume", run_dirs(runs)[0], "--set", f"epochs={done + 1}", "--force")
    assert resumed.returncode == 0, resumed.stderr


def test_jobs_and_stack_do_not_apply_to_resume(tmp_path, cli):
    result = cli("train", "--resume", tmp_path, "--jobs", "2")
    assert result.returncode == 2
    assert "--stack and --executor do not apply to --resume" in result.stderr and result.stderr.count("\n") == 1
