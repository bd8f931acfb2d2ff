"""The one error type the CLI turns into a one-line message.

Library code raises `NnbookError` (or a subclass) for anything a user can fix;
the CLI prints `str(error)` and exits with `error.exit_code`. Everything else
is a bug and keeps its traceback. The subclasses that callers tell apart are
defined here (a config mistake, a training stopped by a signal, a diverged run),
except `TrainingFailed`, which experiments/failures.py defines with its cause.
"""


class NnbookError(Exception):
    """A problem the user can fix at runtime (data, files, devices): exit 1."""

    exit_code = 1


class ConfigError(NnbookError):
    """A usage or config mistake (bad YAML, unknown key, bad value): exit 2."""

    exit_code = 2


class Interrupted(NnbookError):
    """Training stopped by SIGINT/SIGTERM; exit 130 or 143 as the shell would report."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Diverged(NnbookError):
    """A run's cost became NaN or infinite."""
