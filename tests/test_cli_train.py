"""`nnbook train` end to end: the real CLI, in this process, on a slice of the real MNIST
(conftest.SLICE). `nnbook data` runs in a subprocess, on the book's own file."""

import gzip
import json
import pickle
import shlex
import statistics
from pathlib import Path

import numpy as np
import torch
import yaml

from nnbook.config import SHIPPED_DIR

from .cli import CONFIGS, nnbook, read_json, run_dirs
from .conftest import SLICE


def test_train_writes_a_complete_run_directory(tmp_path, cli, mnist_slice, mnist):
    result = cli("train", CONFIGS / "ch6_dbl_conv_relu.yaml", "--set", f"data={mnist_slice}",
                 "--set", "train_limit=1000", "--set", "epochs=2", "--device", "cpu", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Epoch 1: validation" in result.stdout and "Result" in result.stdout
    (run,) = run_dirs(tmp_path)
    assert run.name.startswith("ch6_dbl_conv_relu-")
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.jsonl", "summary.json", "model.pt",
                                                "test_predictions.npy", "checkpoint.pt"}
    assert not (run / ".lock").exists()  # held while training, removed when the run ends
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["epoch"] for l in lines] == [1, 2]
    for line in lines:
        assert set(line) >= {"epoch", "train_cost", "validation_accuracy", "test_accuracy", "eta", "seconds"}
    summary = read_json(run / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2 and summary["seed"] == 0
    best = max(lines, key=lambda l: (l["validation_accuracy"], l["epoch"]))
    assert summary["best_epoch"] == best["epoch"]
    assert summary["test_accuracy"] == best["test_accuracy"] > 0.5  # far above chance
    assert summary["torch"].startswith("2.") and summary["device"] == "cpu"
    assert summary["data"] == str(mnist_slice)

    predictions = np.load(run / "test_predictions.npy")
    assert predictions.shape == (SLICE["test"], 10) and predictions.dtype == np.float32
    assert np.allclose(predictions.sum(1), 1, atol=1e-4)
    assert (predictions.argmax(1) == mnist.test.y[:SLICE["test"]]).mean() == summary["test_accuracy"]
    weights = torch.load(run / "model.pt", weights_only=True)
    assert weights["layers.0.weight"].shape == (20, 1, 5, 5)
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["train_limit"] == 1000 and resolved["epochs"] == 2 and resolved["seed"] == 0


def test_resolved_config_reruns_and_never_overwrites(tmp_path, cli, mnist_slice):
    first = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=500",
                "--set", "epochs=1", "--seed", "3", "--device", "cpu", "--runs-dir", tmp_path)
    assert first.returncode == 0, first.stderr
    (run,) = run_dirs(tmp_path)
    again = cli("train", run / "config.yaml", "--runs-dir", tmp_path)
    assert again.returncode == 0, again.stderr
    runs = run_dirs(tmp_path)
    assert len(runs) == 2
    a, b = (read_json(r / "summary.json") for r in runs)
    assert a["seed"] == b["seed"] == 3 and a["device"] == b["device"] == "cpu"
    assert a["test_accuracy"] == b["test_accuracy"]  # same config and seed on the CPU: same result


def test_repeats_make_one_run_directory_per_seed(tmp_path, cli, mnist_slice):
    result = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=500",
                 "--set", "epochs=1", "--repeats", "3", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    summaries = [read_json(r / "summary.json") for r in run_dirs(tmp_path)]
    assert sorted(s["seed"] for s in summaries) == [0, 1, 2]
    tests = [s["test_accuracy"] for s in summaries]
    top = max(summaries, key=lambda s: s["best_validation_accuracy"])
    assert len(set(tests)) > 1  # three seeds, three networks
    assert (f"Best of 3 runs by validation: test {100 * top['test_accuracy']:.2f}% (seed {top['seed']}); "
            f"mean ± std of test: {100 * statistics.mean(tests):.2f}% ± {100 * statistics.stdev(tests):.2f}"
            in result.stdout), result.stdout


def test_quiet_prints_the_results_and_nothing_of_the_training(tmp_path, cli, mnist_slice):
    """--quiet: "Print only errors and the results" -- the result table and the best of the runs, no epochs."""
    result = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=300",
                 "--set", "epochs=2", "--repeats", "2", "--device", "cpu", "--runs-dir", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Epoch" not in result.stdout and "run directory:" not in result.stdout
    top = max((read_json(r / "summary.json") for r in run_dirs(tmp_path)), key=lambda s: s["best_validation_accuracy"])
    assert "Result (test accuracy at the best validation epoch)" in result.stdout
    assert f"Best of 2 runs by validation: test {100 * top['test_accuracy']:.2f}%" in result.stdout, result.stdout


def test_dry_run_prints_the_model_and_trains_nothing(tmp_path, cli):
    result = cli("train", CONFIGS / "ch6_relu_dropout.yaml", "--dry-run", "--runs-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "40x4x4" in result.stdout and "1,672,570" in result.stdout and "p_dropout 0.5" in result.stdout
    assert "Dry run" in result.stdout
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_dry_run_checks_the_device_and_the_data_as_training_does_first(tmp_path, cli, mnist):
    """Each mistake: the one line training gives, exit as training exits, and no model table."""
    config = CONFIGS / "ch6_shallow.yaml"
    not_gzip = tmp_path / "notes.pkl.gz"
    not_gzip.write_text("hello")
    big = tmp_path / "big.pkl.gz"  # larger than a dry run reads: only its start is checked
    with gzip.open(big, "wb", compresslevel=1) as f:
        pickle.dump({"weights": np.zeros(300_000)}, f, protocol=2)
    foreign = tmp_path / "foreign.pkl.gz"
    with gzip.open(foreign, "wb", compresslevel=1) as f:
        pickle.dump((Path("x"), np.zeros(300_000)), f, protocol=2)
    trained = {}
    for settings, code, line in [
        (["device=cuda"], 2, "device: cuda asked for, but this torch"),
        ([f"data={tmp_path / 'nowhere.pkl.gz'}"], 2, f"{config}: data: '{tmp_path / 'nowhere.pkl.gz'}' is not mnist"),
        ([f"data={not_gzip}"], 1, f"{not_gzip}: not a data file in the book's format"),
        ([f"data={foreign}"], 1, f"{foreign}: not a data file in the book's format: it asks to load pathlib"),
    ]:
        if settings == ["device=cuda"] and torch.cuda.is_available():
            continue
        overrides = [a for s in settings for a in ("--set", s)]
        dry = cli("train", config, *overrides, "--dry-run")
        assert (dry.returncode, dry.stdout) == (code, ""), dry.stdout
        assert dry.stderr.startswith(f"error: {line}") and dry.stderr.count("\n") == 1, dry.stderr
        trained[line] = cli("train", config, *overrides, "--set", "epochs=1", "--runs-dir", tmp_path / "runs")
        assert (trained[line].returncode, trained[line].stderr) == (code, dry.stderr)  # what training says
    small = tmp_path / "small.pkl.gz"  # 50 images of each split: under 1 MB, read whole
    with gzip.open(small, "wb", compresslevel=1) as f:
        pickle.dump(tuple((s.x[:50], s.y[:50]) for s in (mnist.training, mnist.validation, mnist.test)), f, protocol=2)
    fine = cli("train", config, "--set", f"data={small}", "--dry-run")
    assert fine.returncode == 0 and f"data: {small} (read whole: in the book's format)" in fine.stdout
    assert "device: cpu" in fine.stdout or "device: cuda" in fine.stdout
    started = cli("train", config, "--set", f"data={big}", "--dry-run")  # a large file: its start alone is read
    assert started.returncode == 0 and "as far as its first 1 MB show" in started.stdout, started.stderr


def test_config_mistake_is_one_line_and_exit_2(tmp_path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text((CONFIGS / "ch6_shallow.yaml").read_text().replace("eta:", "etta:"))
    result = cli("train", bad)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'etta'" in result.stderr and "did you mean 'eta'" in result.stderr
    assert "Traceback" not in result.stderr


def help_examples(command) -> list[str]:
    """The example command lines of a command's docstring (indented `nnbook ...` lines after "Examples:")."""
    text = command.callback.__doc__.split("Examples:", 1)[1]
    return [line.strip() for line in text.splitlines() if line.strip().startswith("nnbook ")]


def test_help_teaches(cli, tmp_path):
    """`nnbook train --help` names every option with its help, the files a run writes, and
    examples that work: each one is shown whole, and its config and options do what it says."""
    from typer.main import get_command

    from nnbook.cli import app

    command = get_command(app).commands["train"]
    result = cli("train", "--help")
    assert result.returncode == 0 and result.stderr == ""
    # rich wraps the text and boxes the options: compare words in order, without the boxes
    # and without markdown's backticks (rendered as plain text).
    text = " ".join(result.stdout.replace("│", " ").split())

    def words(s: str) -> str:
        return " ".join(s.replace("`", "").split())

    options = [p for p in command.params if p.param_type_name == "option"]
    assert {"--set", "--runs-dir", "--dry-run", "--threads", "--resume"} <= {name for o in options for name in o.opts}
    for option in options:
        assert all(f" {name} " in text for name in option.opts), option.opts
        assert words(option.help) in text, option.opts
    assert ("writes a new directory RUNS_DIR/NAME-YYYYmmdd-HHMMSS/ with config.yaml, metrics.jsonl (one line per "
            "epoch), summary.json, model.pt (best-validation weights) and test_predictions.npy") in text
    assert "Ctrl-C (or SIGTERM) stops a run cleanly, keeping every completed epoch" in text

    examples = help_examples(command)
    assert len(examples) == 4
    for example in examples:
        assert f" {example} " in text, example
        args = shlex.split(example)[1:]
        if "--resume" in args:  # the run directory is made up: the option is accepted, the path is not found
            resumed = cli(*args)
            assert resumed.returncode == 2 and "no such run directory" in resumed.stderr, resumed.stderr
            continue
        # a config file of the checkout, or a shipped config's name (found from any directory)
        assert (CONFIGS.parent / args[1]).is_file() or (SHIPPED_DIR / f"{args[1]}.yaml").is_file(), example
        dry = cli(*args, "--dry-run", "--runs-dir", tmp_path)
        if "cuda" in args and not torch.cuda.is_available():  # the dry run checks the device, as training does
            assert dry.returncode == 2 and dry.stderr.startswith("error: device: cuda asked for"), dry.stderr
            dry = cli(*args, "--device", "cpu", "--dry-run", "--runs-dir", tmp_path)
            args = args[:args.index("--device")]  # the later --device cpu is what resolves
        assert dry.returncode == 0, dry.stderr
        resolved = yaml.safe_load(dry.stdout.split("Resolved config", 1)[1].split("\n\n", 1)[0])
        for option, value in zip(args[2::2], args[3::2]):  # each option the example sets, as resolved
            key, _, value = value.partition("=") if option == "--set" else (option[2:], "", value)
            assert resolved[key] == yaml.safe_load(value), example


def test_data_command_finds_the_verified_book_file(tmp_path):
    """In a subprocess from an empty directory with an empty HOME: finding and verifying the
    book's file writes nothing anywhere (the trainings of test_resume.py read a slice)."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    result = nnbook("data", cwd=work, env={"HOME": str(home), "XDG_CACHE_HOME": "", "NNBOOK_DATA": "",
                                           "PYTHONDONTWRITEBYTECODE": "1", "MPLCONFIGDIR": ""})
    assert result.returncode == 0, result.stderr
    assert "mnist.pkl.gz" in result.stdout and "sha256 verified" in result.stdout
    assert f"array cache: {home / '.cache' / 'nnbook' / 'arrays'} (the arrays of 0 data files, 0 MB" in result.stdout
    assert list(work.iterdir()) == [] and list(home.rglob("*")) == []


def test_threads_option_is_applied_and_recorded(tmp_path, cli, mnist_slice):
    before = torch.get_num_threads()
    threads = 2 if before == 1 else 1  # not what torch already uses
    try:
        result = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=100",
                     "--set", "epochs=1", "--threads", threads, "--runs-dir", tmp_path, "-q")
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)  # the option sets it for the whole process, which runs the other tests too
    assert result.returncode == 0, result.stderr
    assert "Epoch" not in result.stdout and "Result" in result.stdout  # -q: the results only
    (run,) = run_dirs(tmp_path)
    assert read_json(run / "summary.json")["threads"] == threads


def test_a_line_naming_a_long_run_path_is_printed_whole(tmp_path, cli, mnist_slice):
    """In a log or a pipe (120 columns), a message that names a run stays on one line however long
    its path: `grep "already completed" log` finds it."""
    deep = tmp_path / ("results-of-a-long-experiment-name-" * 4)
    first = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=200",
                "--set", "epochs=1", "--device", "cpu", "--runs-dir", deep, "--quiet")
    assert first.returncode == 0, first.stderr
    (run,) = run_dirs(deep)
    assert len(str(run)) > 120
    assert f"Run directories in {deep}/" in first.stdout.splitlines()
    again = cli("train", "--resume", run)
    assert again.returncode == 0, again.stderr
    assert f"{run}: already completed (1 epochs" in again.stdout.splitlines()[0]
