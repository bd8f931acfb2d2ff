"""The Typer app: every command registered under its name, and the one place where
nnbook's errors become a one-line message and an exit code.

Exit codes: 0 success; 2 a usage or config mistake (`ConfigError`, Click's usage
errors); 1 a runtime failure the user can fix (`NnbookError`); 130/143 a run stopped
by SIGINT/SIGTERM. Anything else is a bug and keeps its traceback. `--debug` (or
NNBOOK_DEBUG=1) shows the traceback of nnbook's own errors too.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Optional

import typer
from rich.text import Text

from nnbook.cli import analyse, catalogue, data, sweep, train
from nnbook.cli.help_text import HelpCommand, HelpGroup
from nnbook.errors import NnbookError
from nnbook.experiments.interrupts import ForcedExit, exit_at_once_on_signals
from nnbook.ui.console import error_console

try:  # Typer >= 0.20 ships its own copy of click; older Typer uses the click package
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed Typer
    from click.exceptions import ClickException

app = typer.Typer(
    name="nnbook",
    help="Reproduce the experiments of Nielsen's *Neural Networks and Deep Learning* from YAML configs.\n\n"
    "Start with:  nnbook list, then nnbook train ch6_shallow --set epochs=1",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    cls=HelpGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEBUG = {"on": False}


def _show_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import PackageNotFoundError, version

        from nnbook import __version__

        try:
            torch = f"torch {version('torch')}"  # read from the package's metadata: torch is not imported
        except PackageNotFoundError:
            torch = "torch not installed"
        print(f"nnbook {__version__} (Python {sys.version.split()[0]}, {torch})")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                          help="Show nnbook's version (and Python's and torch's) and exit.")]
    = False,
) -> None:
    DEBUG["on"] = debug or bool(os.environ.get("NNBOOK_DEBUG"))


for name, command in [("list", catalogue.list_experiments), ("config-reference", catalogue.config_reference),
                      ("train", train.train), ("gradients", train.gradients),
                      ("data", data.data), ("sweep", sweep.sweep), ("expand-mnist", data.expand_mnist),
                      ("ensemble", analyse.ensemble), ("evaluate", analyse.evaluate), ("report", analyse.report),
                      ("plot", analyse.plot), ("chapter6", analyse.chapter6),
                      ("augment-preview", data.augment_preview)]:
    app.command(name, cls=HelpCommand)(command)


def main() -> None:
    """The console entry point (`nnbook`, `python -m nnbook`)."""
    try:
        code = run()
    finally:
        exit_at_once_on_signals()  # a Ctrl-C while Python shuts down: no traceback, nothing left to save
    sys.exit(code)


def run(argv: Optional[list[str]] = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]) and return its exit code.
    Installs no signal handler beyond a training's own, so tests may call it in-process."""
    DEBUG["on"] = bool(os.environ.get("NNBOOK_DEBUG"))
    try:
        code = app(args=argv, prog_name="nnbook", standalone_mode=False)
    except NnbookError as e:
        if DEBUG["on"]:
            raise
        for line in str(e).splitlines() or [""]:  # a config with several problems: one line each
            error_console().print(Text("error: ", style="red") + Text(line))
        return e.exit_code
    except ClickException as e:  # usage errors: Click's own message and usage line
        if DEBUG["on"]:
            raise
        e.show()
        return e.exit_code
    except ForcedExit as e:  # a second Ctrl-C: every file on disk is whole; say how to go on
        hint = getattr(e, "hint", None)
        error_console().print(Text("stopped at once", style="red") + Text(f" ({e} twice)" + (f"; {hint}" if hint else "")))
        return e.exit_code
    except (KeyboardInterrupt, typer.Abort) as e:  # before any run directory exists: nothing to keep
        error_console().print("[red]interrupted[/]")
        return getattr(e, "exit_code", 130)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if isinstance(code, int) and code:  # Typer turns a KeyboardInterrupt into a returned 130
        if code == 130:
            error_console().print("[red]interrupted[/]")
        return code
    return 0
