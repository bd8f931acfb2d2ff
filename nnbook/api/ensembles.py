"""`nnbook.ensemble`: the book's committee of nets from Python, as plain data.

The members are chosen and combined by analysis/ensemble.vote, the function `nnbook ensemble`
uses: the same plurality vote (ties to the label voted first in member order) or mean of
probabilities, of the runs' best-validation networks or, with weights="last", of the networks
after their last epoch as the book's conv.py voted. Writes nothing (`nnbook ensemble` writes
ensemble.json and the grid of misclassified digits); never retrains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence, Union

from nnbook.analysis.ensemble import EnsembleOptions, vote
from nnbook.api.results import Experiment, RunRecord, run_paths

Members = Union[Experiment, Sequence[Union[RunRecord, str, Path]], str, Path]


@dataclass
class Ensemble:
    """What a committee of runs did on the test images, or those of `split` (accuracies are fractions)."""

    method: str  # "vote" | "mean"
    weights: str  # "best" | "last": which network of each run voted
    members: list[Path]
    member_accuracies: list[float]
    accuracy: float
    errors: list[int]  # the images it gets wrong, by index
    disagreement: float  # the fraction of images on which the members do not all agree
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # paths that are no member, and why
    split: str = "test"  # the images voted on

    def __repr__(self) -> str:
        on = "" if self.split == "test" else f", on {self.split}"
        return (f"<Ensemble {self.method} of {len(self.members)} ({self.weights} networks{on}): "
                f"{100 * self.accuracy:.2f}%, {len(self.errors)} errors>")


def ensemble(runs: Members, weights: str = "best", method: str = "vote", data_dir=None,
             split: str = "test") -> Ensemble:
    """Combine finished runs: an Experiment (nnbook.train's result, or one of load_runs'), a list
    of runs or run directories, or a glob. A run that cannot vote (unfinished, no predictions) is
    passed over and named in `skipped`; fewer than 2 that can is a ConfigError. split="validation"
    votes on the validation images instead (for choices made before the test set is read)."""
    combined = vote(member_paths(runs), EnsembleOptions(method, weights, split=split), data_dir)
    result = combined.result
    return Ensemble(result.method, combined.weights.value, [m.path for m in combined.members],
                    result.member_accuracies, result.accuracy, [int(i) for i in result.errors],
                    result.disagreement, combined.skipped, split)


def member_paths(runs: Members) -> list[Path]:
    if isinstance(runs, Experiment):
        return [r.path for r in runs.runs]
    if isinstance(runs, (str, Path)):
        return run_paths(runs)
    return [r.path if isinstance(r, RunRecord) else Path(r) for r in runs]
