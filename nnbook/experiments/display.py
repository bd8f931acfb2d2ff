"""What training tells the person watching it (`Display`), and what it returns (`RunResult`).

The command passes a display in: `nnbook train`'s shows every epoch
(ui/train_display.TrainDisplay), a sweep's workers train with `Silent`. Light on
purpose (no torch): a sweep and `nnbook --help` import it without loading the code
that trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Protocol

from nnbook.config import Config
from nnbook.runs.records import Summary


@dataclass
class RunResult:
    path: Path
    summary: Summary


class Display(Protocol):
    """What training tells the person watching it (ui/train_display.TrainDisplay shows it)."""

    progress: Optional[Callable[[int, int], None]]  # (steps done, steps per epoch), set by begin_training

    # members: each run's own config (a sweep packs several points), trained in `stacks`
    def start(self, config: Config, n_train: int, env: dict, members: list[Config], stacks: int) -> None: ...
    def runs_created(self, paths: list[Path]) -> None: ...
    def print(self, *args, **kwargs) -> None: ...
    def begin_training(self) -> None: ...
    def epoch(self, report) -> None: ...  # after every epoch: the loop's EpochReport
    def end_training(self) -> None: ...
    def finish(self, results: list[RunResult]) -> None: ...


class Silent:
    """A Display that shows nothing: for training where no one watches (a sweep's workers)."""

    progress = None

    def start(self, config, n_train, env, members, stacks) -> None:
        pass

    def runs_created(self, paths) -> None:
        pass

    def print(self, *args, **kwargs) -> None:
        pass

    def begin_training(self) -> None:
        pass

    def epoch(self, report) -> None:
        pass

    def end_training(self) -> None:
        pass

    def finish(self, results) -> None:
        pass
