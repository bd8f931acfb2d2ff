"""The one error type the CLI turns into a one-line message.

Library code raises `NnbookError` (or a subclass) for anything a user can fix;
the CLI prints `str(error)` and exits with `error.exit_code`. Everything else
is a bug and keeps its traceback.
"""


class NnbookError(Exception):
    """A problem the user can fix at runtime (data, files, devices): exit 1."""

    exit_code = 1


class ConfigError(NnbookError):
    """A usage or config mistake (bad YAML, unknown key, bad value): exit 2."""

    exit_code = 2
