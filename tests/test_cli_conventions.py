"""The conventions of a command-line tool: --version, -h as --help, placeholders a person reads."""

import re
from importlib.metadata import version

import pytest
from typer.main import get_command

import nnbook
from nnbook.cli import app

COMMANDS = sorted(get_command(app).commands)
# Typer's own labels for a value's Python type: `<int>`, `<bool>`, `<list[Path]>`, `<int range>`, `<vote|mean>`.
TYPE_LABEL = re.compile(r"<[\w\[\]| ]+>")


def test_version_names_nnbook_as_installed(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith(f"nnbook {nnbook.__version__} (Python ")
    assert nnbook.__version__ == version("nnbook")  # the package's metadata and the module agree
    assert f"torch {version('torch')}" in result.stdout


@pytest.mark.parametrize("command", [[]] + [[name] for name in COMMANDS])
def test_h_is_help_and_help_shows_no_python_types(cli, command, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    long, short = cli(*command, "--help"), cli(*command, "-h")
    assert long.returncode == short.returncode == 0 and long.stderr == short.stderr == ""
    assert short.stdout == long.stdout and "Usage: nnbook" in long.stdout
    assert not TYPE_LABEL.findall(long.stdout), TYPE_LABEL.findall(long.stdout)


def test_placeholders_say_what_to_write(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    rows = {line.split()[1]: line for line in cli("train", "-h").stdout.splitlines() if line.startswith("│ --")}
    assert rows["--threads"].split()[2] == "N" and rows["--runs-dir"].split()[2] == "DIR"
    assert rows["--resume"].split()[2] == "RUN_DIR"
    assert rows["--dry-run"].split()[2] == "Print"  # a flag takes no value: none is shown
    ensemble = cli("ensemble", "-h").stdout
    assert "Usage: nnbook ensemble [OPTIONS] RUN_DIR..." in ensemble and "vote|mean" in ensemble
    assert "Usage: nnbook train [OPTIONS] [CONFIG]" in cli("train", "-h").stdout
