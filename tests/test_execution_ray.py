"""The Ray placement on a local two-node Ray cluster (Ray's own test-cluster utilities), on real
MNIST: a scaled-down chapter, stopped here and continued on the cluster, gives the report of the
same chapter trained in this process, figure for figure; and Ctrl-C on `nnbook train
--executor ray` stops the tasks on the nodes, brings their finished epochs back as resumable runs
and leaves no task running."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nnbook.errors import Interrupted
from nnbook.experiments.chapter6 import ChapterOptions, Trainers, run_chapter6

from .cli import ROOT, default_signals, read_json
from .conftest import CONFIGS, run_dirs
from .pause import wait_until
from .test_chapter6_resume import ARGS, ONLY, CtrlCAfter, results_of, table_without_times
from .test_chapter6_resume import whole  # noqa: F401 - the chapter trained in this process, a fixture


@pytest.fixture(scope="module")
def two_nodes():
    """A head and one more node, a CPU each and no GPU: every task of two runs on a node of its own."""
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "num_gpus": 0})
    cluster.add_node(num_cpus=1, num_gpus=0)
    cluster.wait_for_nodes()
    yield cluster.address
    cluster.shutdown()


def test_a_chapter_on_two_ray_nodes_continues_and_reports_what_this_process_trains(two_nodes, whole,
                                                                                   tmp_path, cli):
    """Stopped here after the first epoch of its first config, the chapter is continued with --address:
    the stopped stack travels to a node, continues there from its checkpoint and comes back into its
    own directories, the second config trains from the start on the other node; every epoch of every
    run, and the report, are the uninterrupted chapter's trained in this process."""
    out = tmp_path / "chapter"
    with pytest.raises(Interrupted):
        run_chapter6(CONFIGS, out, ChapterOptions(epochs_scale=0.04, train_limit=100, repeats=2, only=ONLY,
                                                  device="cpu"),
                     trainers=Trainers(new_display=lambda: CtrlCAfter(1)), say=lambda line: None)
    stopped = {run.name for run in run_dirs(out / "runs")}
    assert {status for status, _ in results_of(out).values()} == {"interrupted"}
    only = [a for name in ONLY for a in ("--only", name)]
    again = cli("chapter6", *only, *ARGS, "--configs-dir", CONFIGS, "--out", out, "--address", two_nodes)
    assert again.returncode == 0, again.stderr
    assert "Ray cluster: 2 CPUs, 0 GPUs" in again.stdout and "up to 2 at once" in again.stdout
    assert "(seeds 0-1, resumed)" in again.stdout  # the stopped stack of ch6_shallow, whole
    assert again.stdout.count("✓ done") == len(ONLY)  # a task per config: its two seeds as one stack
    assert {run.name for run in run_dirs(out / "runs")} >= stopped and len(run_dirs(out / "runs")) == 4
    assert not list((out / "runs").glob("*/.lock"))  # the driver let go of the stopped runs' locks
    assert results_of(out) == results_of(whole)
    assert table_without_times(out) == table_without_times(whole)


def tasks_running() -> list[str]:
    """The processes of this machine executing nnbook's Ray task (Ray titles a busy worker so)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"train_task" in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue  # ended meanwhile
    return found


def epochs_on_the_nodes(since: float) -> list[int]:
    """The epochs each task has written so far in its temporary runs directory on this machine."""
    done = []
    for metrics in Path(tempfile.gettempdir()).glob("nnbook-ray-*/*/metrics.jsonl"):
        try:
            if metrics.stat().st_mtime >= since:
                done.append(len(metrics.read_text().splitlines()))
        except OSError:
            continue  # the task ended meanwhile
    return done


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="Linux only: /proc shows the tasks")
def test_ctrl_c_stops_the_tasks_on_the_nodes_and_brings_their_epochs_back_resumable(two_nodes, tmp_path,
                                                                                   mnist_slice, cli):
    runs = tmp_path / "runs"
    since = time.time() - 1
    proc = subprocess.Popen([sys.executable, "-m", "nnbook", "train", str(CONFIGS / "ch6_shallow.yaml"),
                             "--set", f"data={mnist_slice}", "--set", "train_limit=1000", "--set", "epochs=500",
                             "--set", "device=cpu", "--repeats", "2", "--stack", "1", "--executor", "ray",
                             "--address", two_nodes, "--runs-dir", str(runs), "--quiet"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_signals)
    wait_until(proc, lambda: sum(n >= 1 for n in epochs_on_the_nodes(since)) == 2,
               "both tasks past their first epoch", 120)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "stopping 2 task(s) on the cluster" in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted: every completed epoch is kept; resume with: ")
    commands = lines[0].split("resume with: ", 1)[1].split("; ")
    assert sorted(commands) == sorted(f"nnbook train --resume {r}" for r in run_dirs(runs))
    assert len(run_dirs(runs)) == 2 and not list(runs.glob("*/.lock"))
    for run in run_dirs(runs):
        summary = read_json(run / "summary.json")
        assert summary["status"] == "interrupted" and summary["group"] == [run.name]
        assert 1 <= summary["epochs_completed"] < 500
        assert len((run / "metrics.jsonl").read_text().splitlines()) == summary["epochs_completed"]
    deadline = time.monotonic() + 10
    while tasks_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tasks_running() == []
    first = run_dirs(runs)[0]
    done = read_json(first / "summary.json")["epochs_completed"]
    resumed = cli("train", "--resume", first, "--set", f"epochs={done + 1}", "--force")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((first / "summary.json").read_text())["epochs_completed"] == done + 1
