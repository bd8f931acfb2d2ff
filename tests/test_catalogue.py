"""`nnbook list`: every shipped config in one table, filtered by chapter, with a rough time per run."""

import re
import shutil
from pathlib import Path

import pytest

from nnbook.book import FIGURES, STATISTICS
from nnbook.config.catalogue import catalogue, describe_network
from nnbook.config import SHIPPED_DIR, find_config, load_config, shipped_names
from nnbook.errors import ConfigError

from .cli import CONFIGS


def test_every_shipped_config_is_listed_once_in_the_books_order():
    entries = catalogue(CONFIGS)
    assert sorted(e.path.name for e in entries) == sorted(p.name for p in CONFIGS.glob("*.yaml"))
    chapters = [e.chapter for e in entries]
    assert chapters == sorted(chapters, key=["1", "3", "5", "6", "beyond"].index)
    by_name = {e.name: e for e in entries}
    assert by_name["ch3_784_100_10_l2"].figure == 97.92
    assert by_name["ch3_784_100_10_l2"].statistic == STATISTICS[FIGURES["ch3_784_100_10_l2"]["statistic"]]
    assert by_name["ch6_sweep_lmbda_relu"].points == 9 and by_name["ch6_sweep_lmbda_relu"].runs == 27


def test_the_network_in_one_line():
    assert describe_network(load_config(CONFIGS / "ch1_784_30_10.yaml")) == "784-30-10 sigmoid, quadratic"
    assert describe_network(load_config(CONFIGS / "ch6_relu_dropout.yaml")) == (
        "conv 20, conv 40, fc 1000 p0.5, fc 1000 p0.5, softmax p0.5 (relu)")


def test_list_shows_a_chapter_with_times_measured_here(cli, tmp_path):
    listing = cli("list", "--chapter", "6", "--no-timing")
    assert listing.returncode == 0, listing.stderr
    assert "ch6_relu_dropout" in listing.stdout and "ch3_" not in listing.stdout
    assert "99.60%" in listing.stdout and "time/run" not in listing.stdout
    # Timing measures each network briefly: two small configs here, to stay fast.
    for name in ("ch1_784_30_10", "ch3_overfit_1000"):
        shutil.copy(CONFIGS / f"{name}.yaml", tmp_path)
    timed = cli("list", "--configs-dir", tmp_path, "--device", "cpu", env={"COLUMNS": "200"})  # a row a line
    assert timed.returncode == 0, timed.stderr
    assert "time/run" in timed.stdout and "(cpu)" in timed.stdout  # the header may wrap
    # The last cell of each row: "~N s", "~N min" or "~N.N h", a positive time. Plausible bounds for
    # these 784-30-10 nets on one CPU thread: ch1_784_30_10 is 150,000 steps of 10 images and 600,000
    # images evaluated (seconds to minutes); ch3_overfit_1000 40,000 steps and 8 million images.
    # Neither can take under a second (1 us a step is beyond any CPU here) or hours.
    units = {"s": 1, "min": 60, "h": 3600}
    for name in ("ch1_784_30_10", "ch3_overfit_1000"):
        (row,) = [line for line in timed.stdout.splitlines() if f" {name} " in line]
        time = re.search(r"~(\d+(?:\.\d)?) (s|min|h)\s*\W?$", row)
        assert time, row
        seconds = float(time[1]) * units[time[2]]
        assert 1 <= seconds <= 3 * 3600, row


def test_an_unknown_configs_directory_is_one_line(cli, tmp_path):
    """`nnbook list` and `nnbook chapter6` run outside the checkout: one line that says where the configs are;
    chapter6 makes no output directory."""
    for command in (["list"], ["chapter6", "--out", tmp_path / "out"]):
        result = cli(*command, "--configs-dir", tmp_path / "nowhere")
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (command, result.stderr)
        assert "nowhere: no such directory" in result.stderr and "leave --configs-dir out" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_repository_keeps_one_copy_of_the_configs():
    """configs/ at the top of the checkout is a link to the package's configs, not a second copy."""
    assert CONFIGS.is_symlink() and CONFIGS.resolve() == SHIPPED_DIR.resolve()
    assert SHIPPED_DIR.parent.name == "nnbook" and len(shipped_names()) == len(list(CONFIGS.glob("*.yaml"))) > 30


def test_a_shipped_config_is_found_by_its_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config("ch6_shallow") == find_config("ch6_shallow.yaml") == SHIPPED_DIR / "ch6_shallow.yaml"
    assert load_config("ch6_shallow", ["epochs=2"]).name == "ch6_shallow"
    # A file of that name here is the file meant: a name is looked up only where no file is.
    (tmp_path / "ch6_shallow").write_text("epochs: 1\n")
    assert find_config("ch6_shallow") == Path("ch6_shallow")
    with pytest.raises(ConfigError, match=r"^ch6_shalow: no such config file, nor a shipped config \(did you "
                       r"mean ch6_shallow\? `nnbook list` shows the \d+ shipped ones\)$"):
        find_config("ch6_shalow")
    with pytest.raises(ConfigError, match=r"^elsewhere/ch6_shallow.yaml: no such config file$"):
        find_config("elsewhere/ch6_shallow.yaml")  # a path into a directory is a path, never a shipped name


def test_train_a_shipped_config_by_name_from_another_directory(cli, tmp_path, mnist_slice):
    result = cli("train", "ch6_shallow", "--set", "epochs=1", "--set", f"data={mnist_slice}",
                 "--runs-dir", tmp_path / "runs", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [run] = (tmp_path / "runs").iterdir()
    assert run.name.startswith("ch6_shallow-") and "completed" in result.stdout


def test_a_chapter_without_configs_is_one_line_naming_those_that_exist(cli):
    result = cli("list", "--chapter", "7", "--no-timing")
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert result.stderr == "error: --chapter 7: no configs of that chapter in the shipped configs; the chapters there are " \
                            "1, 3, 5, 6, beyond\n"
