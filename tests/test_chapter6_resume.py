"""`nnbook chapter6 --out DIR` run again on the same DIR continues: finished configs are not
trained again, stopped ones resume exactly, the rest train, and the report comes out as an
uninterrupted chapter's. On the first 100 training images of the real MNIST, 2 epochs."""

import json
import signal

import pytest

from nnbook.experiments.chapter6 import ChapterOptions, Trainers, run_chapter6
from nnbook.experiments.display import Silent
from nnbook.experiments.interrupts import Interrupt
from nnbook.errors import Interrupted

from .conftest import CONFIGS, run_dirs

ONLY = ["ch6_shallow", "ch6_conv_only"]
ARGS = ["--train-limit", 100, "--epochs-scale", 0.04, "--repeats", 2, "--quiet", "--device", "cpu"]


class CtrlCAfter(Silent):
    """A display whose user presses Ctrl-C once `epochs` epochs of its config are written."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def epoch(self, report) -> None:
        if report.epoch == self.epochs:
            raise Interrupt(signal.SIGINT)


def chapter(cli, out, *only):
    args = [a for name in (only or ONLY) for a in ("--only", name)]
    result = cli("chapter6", *args, *ARGS, "--configs-dir", CONFIGS, "--out", out)
    assert result.returncode == 0, result.stderr
    return result


def results_of(out) -> dict:
    """Every run's metrics without wall times, by config name and seed."""
    found = {}
    for run in run_dirs(out / "runs"):
        summary = json.loads((run / "summary.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        found[(summary["name"], summary["seed"])] = (summary["status"], [
            {k: v for k, v in row.items() if k != "seconds"} for row in rows])
    return found


def table_without_times(out) -> list[list[str]]:
    """The report's table rows, the s/epoch column left out."""
    rows = [line.split("|") for line in (out / "chapter6.md").read_text().splitlines() if line.startswith("| ch6")]
    header = next(line.split("|") for line in (out / "chapter6.md").read_text().splitlines()
                  if line.startswith("| config"))
    seconds = header.index(" s/epoch ")
    return [row[:seconds] + row[seconds + 1:] for row in rows]


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    from .cli import run_captured

    out = tmp_path_factory.mktemp("whole") / "chapter"
    args = [a for name in ONLY for a in ("--only", name)]
    result = run_captured("chapter6", *args, *ARGS, "--configs-dir", CONFIGS, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


def test_a_stopped_chapter_continues_into_the_report_of_an_uninterrupted_one(whole, tmp_path, cli):
    out = tmp_path / "chapter"
    # The first config finishes, the second is stopped by Ctrl-C after its first epoch.
    chapter(cli, out, "ch6_shallow")
    with pytest.raises(Interrupted):
        run_chapter6(CONFIGS, out, ChapterOptions(epochs_scale=0.04, train_limit=100, repeats=2, only=ONLY,
                                                  device="cpu"), trainers=Trainers(new_display=lambda: CtrlCAfter(1)), say=lambda line: None)
    stopped = results_of(out)
    assert {s for (name, _), (s, _) in stopped.items() if name == "ch6_conv_only"} == {"interrupted"}
    report = (out / "chapter6.md").read_text()
    assert "| ch6_shallow @train_limit=100,epochs=" in report and "Not trained yet:** ch6_conv_only" in report
    shallow_files = {p: p.read_bytes() for run in run_dirs(out / "runs") if run.name.startswith("ch6_shallow")
                     for p in run.iterdir()}

    again = chapter(cli, out)
    assert "ch6_shallow: 2 finished run(s)" in again.stdout and "resuming" in again.stdout
    assert len(run_dirs(out / "runs")) == 4  # nothing trained twice
    assert all(p.read_bytes() == data for p, data in shallow_files.items())  # the finished runs untouched
    assert results_of(out) == results_of(whole)  # every epoch of every run as in the uninterrupted chapter
    assert table_without_times(out) == table_without_times(whole)
    assert "Not trained yet" not in (out / "chapter6.md").read_text()


def test_a_chapter_dir_trained_with_other_settings_is_refused_by_name(whole, cli):
    args = [a for name in ONLY for a in ("--only", name)]
    result = cli("chapter6", *args, "--train-limit", 100, "--epochs-scale", 0.08, "--repeats", 2, "--quiet",
                 "--device", "cpu", "--configs-dir", CONFIGS, "--out", whole)
    assert result.returncode == 2
    assert "trained with other settings (epochs: 2 -> 5)" in result.stderr and "new --out" in result.stderr


def test_a_chapter_on_workers_continues_group_by_group(whole, tmp_path, cli):
    """A chapter stopped in its first config, continued with --jobs 2 --stack 2: the stopped group and
    the next config's stack go to one pool of two worker processes, the longer first (nothing is
    resumed in the driver first), and the report comes out as the in-process chapter's. Run again,
    every group is found finished; a config with a seed never started trains only that seed."""
    out = tmp_path / "chapter"
    with pytest.raises(Interrupted):  # ch6_shallow stopped after its first epoch, ch6_conv_only not started
        run_chapter6(CONFIGS, out, ChapterOptions(epochs_scale=0.04, train_limit=100, repeats=2, only=ONLY,
                                                  device="cpu"), trainers=Trainers(new_display=lambda: CtrlCAfter(1)), say=lambda line: None)
    assert {status for status, _ in results_of(out).values()} == {"interrupted"}
    args = [a for name in ONLY for a in ("--only", name)]
    first = cli("chapter6", *args, *ARGS, "--jobs", "2", "--stack", "2", "--configs-dir", CONFIGS, "--out", out)
    assert first.returncode == 0, first.stderr
    assert "ch6_shallow: resuming" in first.stdout and "(after epoch 1 of 2)" in first.stdout
    assert "The 2 configs' stacks on 2 workers" in first.stdout  # one pool for both, not a pool per config
    assert "longest first" in first.stdout
    assert "ch6_conv_only (seeds 0-1) on worker 1" in first.stdout  # the conv net's two epochs cost more: first,
    assert "ch6_shallow (seeds 0-1, resumed) on worker 2" in first.stdout  # the stopped group beside it
    groups = {tuple(json.loads((run / "summary.json").read_text())["group"]) for run in run_dirs(out / "runs")}
    assert len(groups) == 2 and all(len(g) == 2 for g in groups)
    assert [row[1] for row in table_without_times(out)] == [row[1] for row in table_without_times(whole)]
    assert "Not trained yet" not in (out / "chapter6.md").read_text()
    got, want = results_of(out), results_of(whole)
    for key, (status, rows) in got.items():  # each seed as in one stack of two (to rounding: other threads)
        assert status == want[key][0] == "completed" and len(rows) == 2
        assert [r["validation_accuracy"] for r in rows] == pytest.approx(
            [r["validation_accuracy"] for r in want[key][1]], abs=0.02)

    again = chapter(cli, out, "ch6_shallow")
    assert "ch6_shallow: 2 finished run(s)" in again.stdout and "run(s), 2 epoch(s)" not in again.stdout
    assert len(run_dirs(out / "runs")) == 4

    partial = tmp_path / "partial"
    result = cli("chapter6", "--only", "ch6_shallow", *ARGS[:4], "--repeats", 1, "--quiet", "--device", "cpu",
                 "--configs-dir", CONFIGS, "--out", partial)
    assert result.returncode == 0, result.stderr
    more = chapter(cli, partial, "ch6_shallow")  # --repeats 2: seed 0 is there, seed 1 is not
    assert "1 finished run(s)" in more.stdout and "== ch6_shallow: 1 run(s), 2 epoch(s)" in more.stdout
    assert sorted(seed for _, seed in results_of(partial)) == [0, 1]


def test_a_chapter_on_workers_names_a_device_they_cannot_use_before_anything_is_made(tmp_path, cli):
    """--jobs N trains on CPU workers: a chapter asked to run on a GPU is refused at once, in one line."""
    out = tmp_path / "chapter"
    result = cli("chapter6", "--only", "ch6_shallow", *ARGS[:6], "--jobs", "2", "--device", "cuda",
                 "--configs-dir", CONFIGS, "--out", out)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("device: cuda asked for" in result.stderr  # a machine without a GPU
            or "--jobs 2: several workers train on the CPU only" in result.stderr)  # one with
    assert not out.exists()
