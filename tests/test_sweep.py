"""`nnbook sweep`: the grid, point names, the plan that skips done runs, the grid
table, and the local and Ray executors end to end on slices of the real MNIST."""

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from nnbook.analysis.plots import plot_grid
from nnbook.config import dump_config, load_config
from nnbook.errors import ConfigError
from nnbook.config import run_config
from nnbook.sweep.grid import format_value, load_sweep
from nnbook.sweep.plan import plan
from nnbook.sweep.results import grid_figure, grid_markdown, grid_results

from .cli import CONFIGS, default_signals, nnbook, read_json, run_captured, run_dirs, torch_threads, training_started
from .pause import wait_until

# A sweep small enough for a test: the shallow net, 500 images of the session's slice of MNIST
# (conftest.SLICE), 1 epoch, 2 points x 2 seeds; on the CPU, so that every executor computes the
# same numbers on a machine with a GPU too.
TINY = ["--set", "device=cpu", "--set", "train_limit=500", "--set", "epochs=1", "--grid", "lmbda=0,1",
        "--repeats", "2"]
STAMP = re.compile(r"-\d{8}-\d{6}(-\d+)?$")


def write_sweep(tmp_path: Path, block: str, base: str = "ch6_shallow.yaml") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text((CONFIGS / base).read_text() + block)
    return path


def fake_run(runs_dir: Path, config, seed: int, status: str = "completed", test: float = 0.9,
             stamp: str = "20260101-000000") -> Path:
    """A run directory as `nnbook train` leaves it (config and summary), without training."""
    path = runs_dir / f"{config.name}-{stamp}-{seed}"
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(dump_config(run_config(config, seed)))
    (path / "summary.json").write_text(json.dumps({
        "name": config.name, "seed": seed, "status": status, "epochs_completed": 1,
        "best_validation_accuracy": test + 0.01, "best_epoch": 1, "test_accuracy": test}))
    return path


# ----------------------------------------------------------------------------- the grid (no training)


def test_grid_is_the_product_in_order_with_dotted_keys_and_point_names(tmp_path):
    path = write_sweep(tmp_path, "sweep:\n  lmbda: [0.0, 1e-5]\n  layers.0.units: [30, 100]\n")
    sweep = load_sweep(path, ["epochs=2"], repeats=3)
    assert sweep.name == "s" and sweep.keys == ["lmbda", "layers.0.units"] and sweep.n_runs == 12
    assert [p.name for p in sweep.points] == [
        "s@lmbda=0,layers.0.units=30", "s@lmbda=0,layers.0.units=100",
        "s@lmbda=1e-05,layers.0.units=30", "s@lmbda=1e-05,layers.0.units=100"]
    last = sweep.points[-1].config
    # `1e-5` is a string to YAML 1.1; the sweep reads it as the number it means
    assert last.lmbda == 1e-5 and last.layers[0].units == 100 and last.epochs == 2 and last.repeats == 3
    assert sweep.points[-1].seeds == [0, 1, 2]


def test_grid_option_replaces_or_adds_keys_and_parses_yaml_values(tmp_path):
    path = write_sweep(tmp_path, "sweep:\n  lmbda: [0.0, 1.0]\n")
    sweep = load_sweep(path, grid=["lmbda=0.5", "early_stopping={patience: 2},null"])
    assert [p.values for p in sweep.points] == [{"lmbda": 0.5, "early_stopping": {"patience": 2}},
                                                {"lmbda": 0.5, "early_stopping": None}]
    assert sweep.points[0].config.early_stopping.patience == 2 and sweep.points[1].config.early_stopping is None
    assert sweep.points[0].name == "s@lmbda=0.5,early_stopping=patience_2"
    plain = load_sweep(CONFIGS / "ch6_shallow.yaml", grid=["eta=0.1,3"])
    assert [p.name for p in plain.points] == ["ch6_shallow@eta=0.1", "ch6_shallow@eta=3"]


@pytest.mark.parametrize("value, text", [(0.0, "0"), (1e-05, "1e-05"), (100.0, "100"), (0.1, "0.1"), (300, "300"),
                                         (True, "true"), ("relu", "relu"), ("a/b c", "a_b_c")])
def test_values_in_run_names_are_short_and_safe(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize("block, grid, sets, message", [
    ("", [], [], "no `sweep:` block and no --grid"),
    ("sweep: [1, 2]\n", [], [], "sweep must map keys to lists"),
    ("sweep:\n  lmbda: 0.1\n", [], [], "sweep.lmbda = 0.1: must be a list"),
    ("sweep:\n  lmbda: []\n", [], [], "sweep.lmbda is empty"),
    ("sweep:\n  repeats: [1, 2]\n", [], [], "'repeats' cannot be swept"),
    ("sweep:\n  lmbdaa: [1, 2]\n", [], [], "(sweep point lmbdaa=1): unknown key 'lmbdaa' — did you mean 'lmbda'?"),
    ("sweep:\n  lmbda: [-1, 1]\n", [], [], "(sweep point lmbda=-1): lmbda = -1"),
    ("sweep:\n  layers.7.units: [1]\n", [], [], "sweep.layers.7.units: 'layers.7' must be a list index"),
    ("sweep:\n  lmbda: [1, 1.0]\n", [], [], "would share the run name 's@lmbda=1'"),
    ("sweep:\n  lmbda: [1]\n", [], ["lmbda=2"], "--set lmbda: lmbda is swept"),
    ("", ["lmbda"], [], "--grid 'lmbda': expected KEY=V1,V2"),
    ("", ["lmbda=[1,"], [], "not a comma-separated YAML list"),
])
def test_sweep_mistakes_are_one_line_config_errors(tmp_path, block, grid, sets, message):
    with pytest.raises(ConfigError) as e:
        load_sweep(write_sweep(tmp_path, block), sets, grid)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_train_on_a_sweep_config_points_to_nnbook_sweep():
    with pytest.raises(ConfigError, match=r"is a sweep config .* run it with `nnbook sweep .*ch6_sweep_lmbda_relu"):
        load_config(CONFIGS / "ch6_sweep_lmbda_relu.yaml")


def test_shipped_sweeps_are_the_books_grids():
    relu = load_sweep(CONFIGS / "ch6_sweep_lmbda_relu.yaml")
    assert [p.values["lmbda"] for p in relu.points] == [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]
    assert relu.n_runs == 27 and relu.points[0].config.layers[0].activation == "relu"
    sigmoid = load_sweep(CONFIGS / "ch6_sweep_lmbda_sigmoid.yaml")
    assert [p.values["lmbda"] for p in sigmoid.points] == [1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0]
    assert sigmoid.points[0].config.eta == 0.1 and sigmoid.n_runs == 24
    width = load_sweep(CONFIGS / "ch6_sweep_fc_width.yaml")
    assert [p.config.layers[2].units for p in width.points] == [100, 300, 1000]
    assert width.points[0].config.data == "mnist_expanded" and width.n_runs == 9


# ----------------------------------------------------------------------------- the plan and the grid table


def test_plan_skips_done_runs_with_the_same_experiment_only(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "sweep:\n  lmbda: [0.0, 1.0]\n"), repeats=3)
    runs = tmp_path / "runs"
    a, b = sweep.points
    fake_run(runs, a.config, 0)
    fake_run(runs, a.config, 1, status="diverged")  # a result too: not trained again
    stopped = fake_run(runs, a.config, 2, status="interrupted")  # not done: resumed
    fake_run(runs, b.config, 1)
    fake_run(runs, b.config.model_copy(update={"device": "cpu"}), 2)  # where it ran does not matter
    fake_run(runs, b.config.model_copy(update={"epochs": 99}), 0)  # another experiment: not a match
    (runs / "not-a-run").mkdir()
    jobs, done = plan(sweep, runs)
    assert sorted(done) == [(a.name, 0), (a.name, 1), (b.name, 1), (b.name, 2)]
    assert [(j.point.name, j.seeds, j.resume) for j in jobs] == [(a.name, [2], stopped), (b.name, [0], None)]
    assert jobs[0].config.seed == 2 and jobs[0].config.repeats == 1
    fake_run(runs, a.config, 2, stamp="20260102-000000")  # trained again since: nothing to resume
    assert [(j.point.name, j.seeds, j.resume) for j in plan(sweep, runs)[0]] == [(b.name, [0], None)]

    # seeds 0 and 3 missing (1 and 2 done, repeats do not change the experiment): two stacks,
    # each stack trains consecutive seeds as one StackedNet
    more = load_sweep(write_sweep(tmp_path, "sweep:\n  lmbda: [1.0]\n"), repeats=4)
    jobs, _ = plan(more, runs)
    assert [j.seeds for j in jobs] == [[0], [3]]


def test_plan_resumes_a_stopped_packed_stack_whole_and_only_when_all_of_it_is_there(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "sweep:\n  lmbda: [0.0, 1.0]\n"), repeats=1)
    runs = tmp_path / "runs"
    a, b = sweep.points
    members = [fake_run(runs, a.config, 0, status="interrupted", stamp="20260101-000001"),
               fake_run(runs, b.config, 0, status="completed", stamp="20260101-000001")]  # stopped early, say
    for path in members:
        summary = json.loads((path / "summary.json").read_text())
        (path / "summary.json").write_text(json.dumps({**summary, "group": [m.name for m in members]}))
    stacks, done = plan(sweep, runs)
    assert [(s.resume, [(p.name, seed) for p, seed in s.members]) for s in stacks] == [
        (members[0], [(a.name, 0), (b.name, 0)])]  # the packed stack, both points, resumed from its leader
    members[1].rename(tmp_path / "moved")  # a member gone: the stack cannot resume whole, its seed trains
    stacks, _ = plan(sweep, runs)
    assert [(s.resume, s.point.name, s.seeds) for s in stacks] == [(None, a.name, [0]), (None, b.name, [0])]


def test_grid_table_and_plot_from_run_directories(tmp_path):
    sweep = load_sweep(write_sweep(tmp_path, "sweep:\n  lmbda: [0.0, 1.0e-3, 1.0]\n"), repeats=2)
    runs = tmp_path / "runs"
    fake_run(runs, sweep.points[0].config, 0, test=0.90)
    fake_run(runs, sweep.points[0].config, 1, test=0.80)
    fake_run(runs, sweep.points[1].config, 0, test=0.95)
    results = grid_results(sweep, runs)
    table = grid_markdown(sweep, results)
    assert "| lmbda | runs | test (best val) | mean test | ± std | best val |" in table
    assert "| 0 | 2/2 | 90.00% | 85.00% | 7.07 | 91.00% |" in table
    assert "| 0.001 | 1/2 | 95.00% | 95.00% | — | 96.00% |" in table
    assert "| 1 | 0/2 | — | — | — | — |" in table
    png = plot_grid(grid_figure(sweep, results), tmp_path / "grid.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- end to end on real MNIST


def point_and_seed(run: Path) -> tuple[str, int]:
    return STAMP.sub("", run.name), read_json(run / "summary.json")["seed"]


def results_by_run(runs_dir: Path) -> dict:
    """(point, seed) -> (status, metrics lines without timings): what must not depend on the executor,
    compared exactly. Every run compared here trained on one torch thread, and summary.json, which
    records it, is checked: the local sweep runs in this process on one, a Ray task on the one CPU
    it declares, and the device-worker test makes each worker's share of the cores one. Across
    thread counts a float sum may differ in its last bits, which one epoch of SGD can carry into an
    accuracy (one image of 1,000 flipped), so there the only comparison left would be a tolerance
    loose enough to hide a real difference."""
    out = {}
    for run in run_dirs(runs_dir):
        metrics = []
        for line in (run / "metrics.jsonl").read_text().splitlines():
            record = json.loads(line)
            del record["seconds"]
            metrics.append(record)
        summary = read_json(run / "summary.json")
        assert summary["threads"] == 1, run
        out[point_and_seed(run)] = (summary["status"], metrics)
    return out


@pytest.fixture(scope="module")
def tiny(mnist_slice) -> list[str]:
    return ["--set", f"data={mnist_slice}", *TINY]


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory, tiny):
    """The tiny sweep by the local executor, in this process on one torch thread (results_by_run)."""
    runs = tmp_path_factory.mktemp("local")
    with torch_threads(1):
        result = run_captured("sweep", CONFIGS / "ch6_shallow.yaml", *tiny, "--runs-dir", runs, "--stack", "point")
    return runs, result


def test_local_sweep_trains_every_point_then_a_rerun_skips_them(local_sweep, tiny, cli):
    runs, result = local_sweep
    assert result.returncode == 0, result.stderr
    assert "2 points × 2 repeats = 4 runs; 0 already done, 4 to train in 2 stacks" in result.stdout
    assert "2 runs trained together" in result.stdout  # each point's seeds as one StackedNet
    assert sorted(point_and_seed(r) for r in run_dirs(runs)) == [
        ("ch6_shallow@lmbda=0", 0), ("ch6_shallow@lmbda=0", 1), ("ch6_shallow@lmbda=1", 0), ("ch6_shallow@lmbda=1", 1)]
    for run in run_dirs(runs):
        summary = read_json(run / "summary.json")
        resolved = yaml.safe_load((run / "config.yaml").read_text())
        assert summary["status"] == "completed" and summary["test_accuracy"] > 0.1
        assert resolved["name"] == summary["name"] and resolved["repeats"] == 1
        assert resolved["lmbda"] == float(summary["name"].rsplit("=", 1)[1]) and resolved["train_limit"] == 500
    table = (runs / "ch6_shallow.sweep.md").read_text()
    assert re.search(r"\| 0 \| 2/2 \| \d+\.\d\d% \|", table) and re.search(r"\| 1 \| 2/2 \| \d+\.\d\d% \|", table)
    assert (runs / "ch6_shallow.sweep.png").exists()

    before = sorted(p.name for p in run_dirs(runs))
    again = cli("sweep", CONFIGS / "ch6_shallow.yaml", *tiny, "--runs-dir", runs)
    assert again.returncode == 0, again.stderr
    assert "4 already done, 0 to train" in again.stdout and "trained together" not in again.stdout
    assert sorted(p.name for p in run_dirs(runs)) == before
    assert (runs / "ch6_shallow.sweep.md").read_text() == table

    dry = cli("sweep", CONFIGS / "ch6_shallow.yaml", *tiny[:-1], "3", "--runs-dir", runs, "--dry-run", "--stack", "point")
    assert dry.returncode == 0, dry.stderr
    assert "4 already done, 2 to train in 2 stacks" in dry.stdout and "1 run (2 done)" in dry.stdout
    packed = cli("sweep", CONFIGS / "ch6_shallow.yaml", *tiny[:-1], "3", "--runs-dir", runs, "--dry-run")
    assert "4 already done, 2 to train in 1 stack" in packed.stdout  # the two points' third seeds: one stack
    assert "Dry run: nothing trained." in dry.stdout and sorted(p.name for p in run_dirs(runs)) == before


def test_an_interrupted_sweep_run_again_continues_its_stopped_stack_exactly(tmp_path, tiny, cli, monkeypatch):
    """Ctrl-C in the second epoch of the first point's stack; the same command again continues that
    stack from its first epoch in its own directories, trains the second point, and every run ends
    as in the sweep trained without a stop."""
    import signal

    from nnbook.experiments.interrupts import Interrupt
    from nnbook.training import loop

    from .pause import before_step

    def ctrl_c():  # what the handler of a first SIGINT raises where the training is
        raise Interrupt(signal.SIGINT)

    args = ["sweep", CONFIGS / "ch6_shallow.yaml", *tiny, "--set", "epochs=2", "--stack", "point"]
    with torch_threads(1):
        whole = cli(*args, "--runs-dir", tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    runs, steps = tmp_path / "runs", 500 // 10  # steps per epoch: train_limit / mini_batch_size
    with monkeypatch.context() as patch, torch_threads(1):
        patch.setattr(loop, "make_step", before_step(steps + steps // 2, ctrl_c))
        stopped = cli(*args, "--runs-dir", runs)
    assert stopped.returncode == 130 and "run the same `nnbook sweep` again to continue" in stopped.stderr
    assert sorted((point_and_seed(r), read_json(r / "summary.json")["epochs_completed"]) for r in run_dirs(runs)) == [
        (("ch6_shallow@lmbda=0", 0), 1), (("ch6_shallow@lmbda=0", 1), 1)]
    left = sorted(p.name for p in run_dirs(runs))
    with torch_threads(1):
        again = cli(*args, "--runs-dir", runs)
    assert again.returncode == 0, again.stderr
    assert "lmbda=0 (seeds 0-1, resumed)" in again.stdout
    assert sorted(p.name for p in run_dirs(runs) if p.name in left) == left and len(run_dirs(runs)) == 4
    assert results_by_run(runs) == results_by_run(tmp_path / "whole")


def test_a_failed_point_is_reported_and_the_others_go_on(tmp_path, cli, mnist_slice):
    # mini_batch_size 1000 > the 500 training images: that point fails when it starts training
    args = ["sweep", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=500",
            "--set", "epochs=1", "--grid", "mini_batch_size=1000,10"]
    result = cli(*args, "--runs-dir", tmp_path / "all")
    assert result.returncode == 1
    assert "✗ failed mini_batch_size=1000" in result.stdout and "larger than the 500 training images" in result.stdout
    assert "✓ done mini_batch_size=10" in result.stdout
    assert result.stderr.strip().startswith("error: 1 of 2 stacks failed") and result.stderr.strip().count("\n") == 0
    assert [point_and_seed(r) for r in run_dirs(tmp_path / "all")] == [("ch6_shallow@mini_batch_size=10", 0)]

    fast = cli(*args, "--fail-fast", "--runs-dir", tmp_path / "fast")
    assert fast.returncode == 1 and "✓ done" not in fast.stdout
    assert not (tmp_path / "fast").exists() or run_dirs(tmp_path / "fast") == []


def test_a_failure_during_training_marks_its_runs_failed(tmp_path, mnist_slice):
    from nnbook.ui.train_display import TrainDisplay
    from nnbook.execution.stack import Dirs, train_stack

    class Breaks(TrainDisplay):
        def epoch(self, *args, **kwargs):
            raise RuntimeError("out of memory")

    sets = [f"data={mnist_slice}", "train_limit=100", "epochs=2"]
    config = load_sweep(CONFIGS / "ch6_shallow.yaml", sets, ["lmbda=0"], 2).points[0]
    paths, error = train_stack(config.config, Dirs(tmp_path), Breaks(quiet=True))
    assert error == "RuntimeError: out of memory" and len(paths) == 2
    for path in paths:
        assert read_json(path / "summary.json")["status"] == "failed"
        assert read_json(path / "summary.json")["error"] == error
    assert plan(load_sweep(CONFIGS / "ch6_shallow.yaml", sets, ["lmbda=0"], 2),
                tmp_path)[0][0].seeds == [0, 1]  # failed runs are trained again


def test_one_worker_per_device_gives_the_same_runs(local_sweep, tmp_path, mnist_slice, monkeypatch):
    """The multi-GPU path of the local executor (a process per device), on two CPU 'devices'."""
    from nnbook.ui.sweep_display import SweepDisplay
    from nnbook.execution.local import run_local
    from nnbook.execution.stack import Dirs

    # One torch thread per worker, as the local sweep compared with used.
    sweep = load_sweep(CONFIGS / "ch6_shallow.yaml", [f"data={mnist_slice}", "train_limit=500", "epochs=1"],
                       ["lmbda=0,1"], 2)
    jobs, _ = plan(sweep, tmp_path)
    outcomes = run_local(jobs, Dirs(tmp_path), SweepDisplay(quiet=True), devices=["cpu", "cpu"], threads=1)
    assert [o.error for o in outcomes] == [None, None]
    assert results_by_run(tmp_path) == results_by_run(local_sweep[0])


def test_packed_points_train_as_one_stack_each_run_as_per_point(local_sweep, tiny, tmp_path):
    """--stack 4: the two points' four runs in one StackedNet, each member its own lmbda;
    every run's epoch is the one it has when its point trains alone (to rounding)."""
    with torch_threads(1):
        result = run_captured("sweep", CONFIGS / "ch6_shallow.yaml", *tiny, "--runs-dir", tmp_path, "--stack", "4")
    assert result.returncode == 0, result.stderr
    assert "4 to train in 1 stack" in result.stdout and "4 runs trained together" in result.stdout
    assert "2 points packed: lmbda=0; lmbda=1 (seeds 0-1)" in result.stdout
    packed, per_point = results_by_run(tmp_path), results_by_run(local_sweep[0])
    assert packed.keys() == per_point.keys()
    for run, (status, metrics) in packed.items():
        assert status == per_point[run][0] == "completed"
        for got, want in zip(metrics, per_point[run][1], strict=True):
            assert got["train_cost"] == pytest.approx(want["train_cost"], rel=1e-5), run
            assert got["validation_accuracy"] == pytest.approx(want["validation_accuracy"], abs=2e-3), run
    # lmbda reached its member: the two points' seed-0 runs differ
    assert packed[("ch6_shallow@lmbda=0", 0)][1] != packed[("ch6_shallow@lmbda=1", 0)][1]


# A sweep on two CPU "devices" (the multi-GPU path: a worker process each), run as its own
# program so that it can be signalled; the runs are long enough to be stopped in the middle.
ON_TWO_DEVICES = """
import sys
from pathlib import Path

from nnbook.errors import Interrupted
from nnbook.sweep.grid import load_sweep
from nnbook.execution.local import run_local
from nnbook.execution.stack import Dirs
from nnbook.sweep.plan import plan
from nnbook.ui.sweep_display import SweepDisplay

if __name__ == "__main__":
    sweep = load_sweep(sys.argv[1], sys.argv[3:], ["lmbda=0,1"], 1)
    try:
        run_local(plan(sweep, Path(sys.argv[2]))[0], Dirs(Path(sys.argv[2])), SweepDisplay(quiet=True),
                  devices=["cpu", "cpu"])
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        sys.exit(stop.exit_code)
"""


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return found


def is_gone(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux only: /proc shows the workers")
@pytest.mark.parametrize("how, code", [("SIGINT to the process group (Ctrl-C)", 130),
                                       ("SIGTERM to the sweep alone", 143)])
def test_a_signal_stops_every_device_worker_and_leaves_resumable_runs(tmp_path, mnist_slice, cli, how, code):
    import signal
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    script, runs = tmp_path / "sweep_on_two_devices.py", tmp_path / "runs"
    script.write_text(ON_TWO_DEVICES)
    sets = [f"data={mnist_slice}", "train_limit=1000", "epochs=500", "device=cpu"]
    proc = subprocess.Popen([sys.executable, str(script), str(CONFIGS / "ch6_shallow.yaml"), str(runs), *sets],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_signals)
    wait_until(proc, training_started(runs, 2), "both workers training", 120)
    workers = children_of(proc.pid)
    if code == 130:
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert err.strip().splitlines() == ["sweep interrupted; every finished epoch is kept: run the same `nnbook "
                                        "sweep` again to continue (stopped stacks resume where they stopped)"]
    assert len(workers) >= 2
    deadline = time.monotonic() + 10  # the driver waited for its workers: none is left running
    while not all(is_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in workers if not is_gone(pid)] == []
    for run in run_dirs(runs):
        summary = read_json(run / "summary.json")
        assert summary["status"] == "interrupted", summary
        done = summary["epochs_completed"]
        assert 1 <= done == len((run / "metrics.jsonl").read_text().splitlines())
    resumed = cli("train", "--resume", run, "--set", f"epochs={done + 1}", "--force")
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming after epoch {done} of {done + 1}" in resumed.stdout
    assert read_json(run / "summary.json")["status"] == "completed"


@pytest.fixture(scope="module")
def ray_cluster():
    """A single-node Ray cluster with 2 CPUs and no GPU (even on a machine that has one), started
    here (a new one even if the machine runs another); the CLI joins it with --address. ray.init
    also sets RAY_AUTH_MODE in this process's environment, which the CLI inherits, so it sends the
    cluster's token."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_ray_sweep_matches_the_local_one_and_resumes(ray_cluster, local_sweep, tiny, tmp_path, cli):
    local_runs, _ = local_sweep
    # A new process joins the cluster by its address, as a user's `nnbook sweep` does.
    result = nnbook("sweep", CONFIGS / "ch6_shallow.yaml", *tiny, "--executor", "ray", "--address", ray_cluster,
                    "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Ray cluster: 2 CPUs, 0 GPUs" in result.stdout and "up to 2 at once" in result.stdout
    assert result.stdout.count("✓ done") == 2 and "failed 0 · queued 0" in result.stdout
    # the same runs, statuses and (on the CPU, same seeds) the same metrics as the local executor
    assert results_by_run(tmp_path) == results_by_run(local_runs)
    for run in run_dirs(tmp_path):
        assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "summary.json", "model.pt",
                                                    "test_predictions.npy", "checkpoint.pt"}
    assert (tmp_path / "ch6_shallow.sweep.md").read_text() == (local_runs / "ch6_shallow.sweep.md").read_text()

    # one more seed per point: only those two runs go to the cluster (from this process, which has
    # joined it already)
    more = cli("sweep", CONFIGS / "ch6_shallow.yaml", *tiny[:-1], "3", "--address", ray_cluster,
               "--runs-dir", tmp_path)
    assert more.returncode == 0, more.stderr
    assert "4 already done, 2 to train in 2 stacks (ray executor)" in more.stdout
    assert sorted(point_and_seed(r)[1] for r in run_dirs(tmp_path)) == [0, 0, 1, 1, 2, 2]
