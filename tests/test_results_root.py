"""Every command writes under one results root (the runs directory, `--runs-dir`), so running
the README's commands in a checkout leaves nothing else behind; readers of runs pass over
nnbook's own output folders there."""

from .cli import CONFIGS


def test_every_command_writes_only_under_the_results_root(tmp_path, cli, mnist_slice):
    data = f"data={mnist_slice}"
    steps = [
        ("train", CONFIGS / "ch6_shallow.yaml", "--set", data, "--set", "epochs=1", "--repeats", "2",
         "--device", "cpu", "--quiet"),
        ("train", CONFIGS / "ch3_overfit_1000.yaml", "--set", data, "--set", "epochs=2", "--set", "train_limit=100",
         "--device", "cpu", "--quiet"),
        ("augment-preview", CONFIGS / "beyond_ensemble.yaml", "--set", data, "--images", "2", "--samples", "2"),
        ("gradients", CONFIGS / "ch5_784_30_30_10.yaml", "--set", data, "--epochs", "2", "--networks", "1",
         "--device", "cpu"),
    ]
    for args in steps:
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 0, (args[0], result.stderr)
    # A `runs/*` glob now holds runs and nnbook's output folders; the readers take it as it is.
    everything = sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "runs").iterdir())
    ensemble = cli("ensemble", *everything, "--only", "ch6_shallow", cwd=tmp_path)
    assert ensemble.returncode == 0, ensemble.stderr
    skipped = [line for line in ensemble.stdout.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and "config ch3_overfit_1000, not ch6_shallow" in skipped[0]  # no output folder
    plot = cli("plot", *everything, cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert "overfitting-ch3_overfit_1000.png" in plot.stdout
    report = cli("report", "runs", "--format", "csv", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    names = [line.split(",")[0] for line in report.stdout.splitlines()[1:]]
    assert names == ["ch3_overfit_1000", "ch6_shallow", "ch6_shallow_ensemble"]

    assert [p.name for p in tmp_path.iterdir()] == ["runs"]  # nothing beside the results root
    folders = {p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith("ch")}
    assert folders == {"ensembles", "plots", "gradients", "previews"}
    assert (tmp_path / "runs" / "previews" / "beyond_ensemble.png").exists()
    assert list((tmp_path / "runs" / "gradients").glob("ch5_784_30_30_10-gradients.*"))


def test_an_unusable_results_root_is_one_line_for_every_command_that_writes(tmp_path, cli, mnist_slice):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    commands = [
        ("gradients", CONFIGS / "ch5_784_30_30_10.yaml", "--set", f"data={mnist_slice}", "--epochs", "1",
         "--networks", "1", "--sample", "10", "--device", "cpu"),
        ("augment-preview", CONFIGS / "beyond_ensemble.yaml", "--set", f"data={mnist_slice}", "--images", "1"),
    ]
    for args in commands:
        result = cli(*args, "--runs-dir", blocked / "runs", cwd=tmp_path)
        assert result.returncode == 1, (args[0], result.stderr)
        assert "cannot write to" in result.stderr and "--runs-dir" in result.stderr, args[0]
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, args[0]
