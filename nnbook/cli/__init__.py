"""The `nnbook` command line: thin commands over the library.

Each command module (`train`, `data`, `analyse`, `sweep`) declares typed options
(the shared ones come from `options.py`), calls into the library and prints;
`app.py` registers the commands and turns nnbook's errors into one red line and an
exit code. Nothing below the CLI imports it.

The library is imported inside each command body, not at the top: importing torch
takes seconds, and `nnbook --help` or a config mistake should answer at once.
"""

from nnbook.cli.app import app, main, run

__all__ = ["app", "main", "run"]
