"""Every user mistake gets one short message and the right exit code: the corpus in tests/cases/.

Each file in tests/cases/ is one case: a config (possibly the broken input
itself) whose leading comments say what to run and what must come out:

    # What the mistake is.
    # run: train {case} --set data={not_data}     (default: train {case})
    # exit: 1                                     2: usage and config, 1: runtime
    # expect: words | that must all | appear in the message
    # lines: any                                  (only for click's own usage messages)

{case} is the case file; {tmp} and the named fixtures below (bad data files,
fake run directories) are paths made for the test. Besides the exit code and
the words, every case must print no traceback, one line on stderr (unless
`lines: any`) and create no run directory.

Every case runs the real CLI in this process (`nnbook.cli.run`, the console
entry's own error mapping); a few representative ones run again as a user runs
them, `python -m nnbook` in a subprocess, where the message and exit code must
be the same.
"""

import gzip
import json
import pickle
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from .cli import ROOT, nnbook

CASES = sorted((ROOT / "tests" / "cases").glob("*.yaml"))


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a case file; the first line is its description."""
    fields = {}
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        key, sep, value = line[1:].strip().partition(": ")
        if sep and key in ("run", "exit", "expect", "lines"):
            fields[key] = value.strip()
        else:
            fields.setdefault("what", line[1:].strip())
    return fields


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    """Bad files and directories the cases point at."""
    base = tmp_path_factory.mktemp("bad_input")
    not_data = base / "notes.pkl.gz"
    not_data.write_text("these are my notes, not MNIST\n")
    wrong_shapes = base / "wrong.pkl.gz"
    with gzip.open(wrong_shapes, "wb") as f:
        split = (np.zeros((5, 3), np.float32), np.zeros(5, np.int64))
        pickle.dump((split, split, split), f)
    bad_mnist = base / "bad_mnist"
    bad_mnist.mkdir()
    (bad_mnist / "mnist.pkl.gz").write_bytes(bytes(17_051_982))  # the book's size, not its bytes
    truncated = base / "truncated_mnist"
    truncated.mkdir()
    (truncated / "mnist.pkl.gz").write_bytes(bytes(1000))
    a_file = base / "a_file"
    a_file.write_text("a file where a directory is expected\n")
    not_a_run = base / "not_a_run"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("hello\n")
    runs = {f"run_{name}": fake_run(base / f"run_{name}", status, sha) for name, status, sha in [
        ("a", "completed", "a" * 64), ("b", "completed", "a" * 64), ("unfinished", "interrupted", "a" * 64),
        ("other_data", "completed", "b" * 64)]}
    return {"not_data": not_data, "wrong_shapes": wrong_shapes, "bad_mnist": bad_mnist,
            "truncated_mnist": truncated, "a_file": a_file, "not_a_run": not_a_run, **runs}


def fake_run(path: Path, status: str, test_sha256: str) -> Path:
    """A run directory as `nnbook train` leaves it, without the training: what ensemble,
    evaluate and report read (an unfinished run has no model.pt yet)."""
    from nnbook.config import dump_config, load_config

    path.mkdir()
    (path / "config.yaml").write_text(dump_config(load_config(ROOT / "tests" / "cases" / "epochs_zero.yaml",
                                                              ["epochs=1"])))
    summary = {"status": status, "name": "case", "seed": 0, "epochs_completed": 1, "best_validation_accuracy": 0.5,
               "best_epoch": 1, "test_accuracy": 0.1, "seconds": 1.0, "test_sha256": test_sha256, "data": "mnist"}
    (path / "summary.json").write_text(json.dumps(summary))
    np.save(path / "test_predictions.npy", np.full((10000, 10), 0.1, np.float32))
    return path


def fill(text: str, places: dict[str, Path]) -> str:
    for name, path in places.items():
        text = text.replace("{" + name + "}", str(path))
    return text


def test_the_corpus_is_complete(fixtures):
    """Every file in tests/cases/ runs as a case (test_bad_input is parametrised over CASES), and
    every case states its whole outcome: a description, the exit code, the words of the message,
    and a command of nnbook's whose placeholders all name a path made here (an unknown one would
    reach nnbook literally, and the case would test some other mistake than it says)."""
    from typer.main import get_command

    from nnbook.cli import app

    assert sorted((ROOT / "tests" / "cases").iterdir()) == CASES  # none that the *.yaml glob would miss
    commands = set(get_command(app).commands)
    places, used, seen = {"case", "tmp", *fixtures}, set(), {}
    for case in CASES:
        lines = case.read_text().splitlines()
        comments = lines[:next(i for i, line in enumerate(lines + [""]) if not line.startswith("#"))]
        fields = header(case)
        assert fields.get("what") == comments[0][1:].strip(), case.name  # the first line says what it is
        # Every further comment line is a field: a misspelt key ("# exepct: ...") would be skipped silently.
        assert len(comments) == 1 + len(set(fields) - {"what"}), case.name
        assert fields["exit"] in ("1", "2"), case.name
        assert all(words.strip() for words in fields["expect"].split(" | ")), case.name
        assert fields.get("lines", "any") == "any", case.name
        run = shlex.split(fields.get("run", "train {case}"))
        assert run and run[0] in commands, case.name
        names = set(re.findall(r"\{(\w+)\}", fields.get("run", "{case}") + fields["expect"]))
        assert names <= places, f"{case.name}: {names - places}"
        used |= names
        key = (fields.get("run", "train {case}"), "\n".join(lines[len(comments):]))
        assert key not in seen, f"{case.name} repeats {seen.get(key)}"  # the same mistake twice
        seen[key] = case.name
    assert set(fixtures) <= used, set(fixtures) - used  # every bad file made here is some case's input
    assert set(IN_A_SUBPROCESS) <= {c.stem for c in CASES}


# One of each kind: a config mistake, a data file that is not the book's, Click's own usage
# message, a command reading run directories (ensemble), a --resume that cannot be.
IN_A_SUBPROCESS = ["unknown_key_misspelled", "data_truncated", "unknown_option", "ensemble_different_test_data",
                   "resume_not_a_run"]


def command_line(case: Path, places: dict[str, Path], runs_dir: Path) -> list[str]:
    fields = header(case)
    args = [fill(a, places) for a in shlex.split(fields.get("run", "train {case}"))]
    if args[0] == "train" and "--runs-dir" not in args:
        args += ["--runs-dir", str(runs_dir)]
    return args


def check(case: Path, places: dict[str, Path], runs_dir: Path, result) -> None:
    fields = header(case)
    message = result.stderr.strip()
    assert result.returncode == int(fields["exit"]), f"{case.name}: rc {result.returncode}\n{result.stderr}"
    for words in fill(fields["expect"], places).split(" | "):
        assert words in message, f"{case.name}: {words!r} not in\n{message}"
    assert "Traceback" not in result.stderr + result.stdout
    if fields.get("lines") != "any":
        assert message.startswith("error: ") and len(message.splitlines()) == 1, message
    assert not runs_dir.exists() or not [p for p in runs_dir.iterdir() if p.is_dir()], "a run directory was made"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_bad_input(case, fixtures, tmp_path, cli):
    places = {"case": case, "tmp": tmp_path, **fixtures}
    runs_dir = tmp_path / "runs"
    check(case, places, runs_dir, cli(*command_line(case, places, runs_dir), env={"NNBOOK_DATA": ""}))


@pytest.mark.parametrize("name", IN_A_SUBPROCESS)
def test_bad_input_in_a_subprocess(name, fixtures, tmp_path):
    case = ROOT / "tests" / "cases" / f"{name}.yaml"
    places = {"case": case, "tmp": tmp_path, **fixtures}
    runs_dir = tmp_path / "runs"
    check(case, places, runs_dir, nnbook(*command_line(case, places, runs_dir), env={"NNBOOK_DATA": ""}))


def test_debug_shows_the_traceback(tmp_path):
    result = nnbook("--debug", "train", ROOT / "tests" / "cases" / "epochs_zero.yaml", "--runs-dir", tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr
