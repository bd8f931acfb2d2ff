"""Ensembles of finished runs, from their saved test predictions (never retrains).

On the validation split (`split`), for choices made before the test set is read (which
weights vote, which members): each member's validation predictions are computed from its
saved networks and kept in the run (analysis/predictions.py); such a vote is no test
figure, and `nnbook report` leaves it out.

How the members combine (the book's plurality vote, or the mean probability) is
analysis/voting.py's.

Choosing members: a path that is not a finished run with test predictions is
skipped with its reason, so `nnbook ensemble runs/*` (or `nnbook ensemble runs`)
works on a folder of mixed runs; members evaluated on different test data are refused outright,
as their predictions do not describe the same images. The members are runs of one
experiment (config name and identity: analysis/experiments.py), each seed once:
runs of several experiments are refused unless asked for (`mixed`), and then the
record names every experiment that voted; one seed of one experiment twice (a copied
run) is always refused.

Writes `ensemble.json` and `ensemble_errors.png` (the book's grid of
misclassified digits) into an output directory. Reads runs only through runs/.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from nnbook.analysis.experiments import experiment_of_each
from nnbook.analysis.plots import plot_errors
from nnbook.analysis.predictions import split_predictions
from nnbook.analysis.voting import EnsembleResult, Method, evaluate_ensemble, method_of
from nnbook.data import mnist
from nnbook.choices import Choice
from nnbook.config.labels import Experiment
from nnbook.errors import ConfigError, NnbookError
from nnbook.files import atomic_text
from nnbook.records import FINISHED
from nnbook.runs import directory as runs
from nnbook.runs import layout
from nnbook.runs.records import Summary

ENSEMBLE_FILE, ERRORS_PNG = "ensemble.json", "ensemble_errors.png"


class Weights(Choice):
    """Which network of each run votes: `best`, its best-validation weights (nnbook's figure);
    `last`, the network after its last epoch, as the book's conv.py voted."""

    best = "best"
    last = "last"


class VoteSplit(Choice):
    """The images an ensemble votes on: the test split (the figure), or the validation split (choices)."""

    test = "test"
    validation = "validation"


@dataclass
class Member:
    path: Path
    summary: Summary
    probabilities: np.ndarray  # (N, 10) on the split voted on
    experiment: Optional[Experiment] = None  # set by check_one_experiment


@dataclass
class Selection:
    members: list[Member]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)


def select_members(paths: list[Path], only: Optional[str] = None, last: bool = False, split: str = "test",
                   data_dir=None) -> Selection:
    """Open every path; keep finished runs with predictions on `split` (of config `only`, if given):
    the best-validation network's, or with `last` the last epoch's (on validation, computed from
    the saved networks where the run has none yet)."""
    members, skipped = [], []
    for path in map(Path, paths):
        why = unusable(path, last, split)
        if why is None:
            summary = runs.read_summary(path)
            if only and summary.name != only:
                why = f"config {summary.name}, not {only}"
        if why:
            skipped.append((path, why))
            continue
        try:
            probabilities = split_predictions(path, split, last, data_dir)
        except NnbookError as e:
            skipped.append((path, str(e).removeprefix(f"{path}: ")))
            continue
        except (OSError, ValueError) as e:
            skipped.append((path, f"unreadable {runs.predictions_file(last, split)} ({e})"))
            continue
        members.append(Member(path, summary, probabilities))
    return Selection(members, skipped)


def member_paths(paths: list[Path]) -> list[Path]:
    """The paths to choose members from: a folder of runs that is not one itself (a results root, as
    `report` and `plot` take) stands for the run directories in it; nnbook's own output folders
    (ensembles/, plots/, ... in a `runs/*` glob) are passed over silently."""
    out = []
    for path in paths:
        if layout.is_output_folder(path):
            continue
        inside = [] if runs.is_run_dir(path) or not path.is_dir() else sorted(p for p in path.iterdir()
                                                                               if runs.is_run_dir(p))
        out.extend(inside or [path])
    return out


def unusable(path: Path, last: bool = False, split: str = "test") -> Optional[str]:
    """Why a path cannot be an ensemble member, or None."""
    if not path.is_dir():
        return runs.no_such_path(path).removeprefix(f"{path}: ")
    if (path / ENSEMBLE_FILE).exists():
        return "an ensemble's output, not a run"
    if not runs.is_run_dir(path):
        return f"not a run directory (no {runs.SUMMARY})"
    try:
        summary = runs.read_summary(path)
    except NnbookError as e:
        return str(e)
    if summary.status not in FINISHED:
        return f"unfinished (status {summary.status}, {summary.epochs_completed} epochs)"
    if split == "test" and not runs.has_predictions(path, last):
        if last:
            return (f"no {runs.LAST_PREDICTIONS} (the last epoch's predictions; runs trained before nnbook "
                    "saved them have only the best-validation network's: use --weights best)")
        return f"no saved test predictions ({runs.PREDICTIONS})"
    return None


def check_same_test_data(members: list[Member]) -> None:
    groups: dict[str, list[Member]] = {}
    for m in members:
        groups.setdefault(m.summary.test_sha256, []).append(m)
    if len(groups) > 1:
        parts = [f"{len(ms)} on test set {str(sha)[:12]} ({ms[0].path.name}, data {ms[0].summary.data})"
                 for sha, ms in groups.items()]
        raise NnbookError("these runs were evaluated on different test data, so their predictions cannot be "
                          f"combined: {'; '.join(parts)}")
    shapes = {m.probabilities.shape for m in members}
    if len(shapes) > 1:
        raise NnbookError(f"the runs' test predictions have different shapes {sorted(shapes)}")


def check_one_experiment(members: list[Member], mixed: bool = False) -> list[Experiment]:
    """Label each member with its experiment; refuse one seed of one experiment twice, and runs of
    several experiments unless `mixed`. Returns the experiments, in member order."""
    experiments = experiment_of_each([m.path for m in members])
    seen: dict[tuple[Experiment, Optional[int]], Path] = {}
    for m in members:
        m.experiment = experiments[m.path]
        twice = seen.setdefault((m.experiment, m.summary.seed), m.path)
        if twice != m.path:
            raise ConfigError(f"{twice} and {m.path} are the same run twice ({m.experiment.label}, seed "
                              f"{m.summary.seed}): a copy would vote twice; give each seed once")
    found = list(dict.fromkeys(m.experiment for m in members))
    if len(found) > 1 and not mixed:
        counts = "; ".join(f"{sum(m.experiment is e for m in members)} of {e.label}" for e in found)
        raise ConfigError(f"these runs are of {len(found)} different experiments ({counts}): give the runs of "
                          "one (--only NAME keeps one name), or --mixed to vote them together")
    return found


# ----------------------------------------------------------------------------- the command


def find_test_split(summary: Summary, data_dir=None, split: str = "test"):
    """The test images and labels a run was evaluated on, found by their fingerprint:
    the book's mnist.pkl.gz first (the expanded set shares its test and validation splits),
    then the run's own data file; or, `split`, the other split of that data set."""
    wanted = summary.test_sha256
    candidates = []
    try:
        candidates.append(mnist.find_mnist(data_dir, download=False))
    except NnbookError:
        pass
    if summary.data:
        candidates.append(Path(summary.data))
    for path in candidates:
        if path.exists():
            dataset = mnist.load_file(path)
            if dataset.test_sha256 == wanted:
                return getattr(dataset, split)
    raise NnbookError(f"cannot find the test data these runs were evaluated on (sha256 {str(wanted)[:12]}…); "
                      f"looked in {', '.join(str(p) for p in candidates) or 'nothing'}")


def default_out_dir(members: list[Member], root: Path) -> Path:
    """A new ROOT/<name>-<YYYYmmdd-HHMMSS>/."""
    return runs.new_run_dir(root, ensemble_name(members))


def ensemble_name(members: list[Member]) -> str:
    """The name `nnbook report` groups this ensemble under."""
    names = sorted({m.summary.name or "run" for m in members})
    return f"{names[0]}_ensemble" if len(names) == 1 else "ensemble"


def experiments_record(members: list[Member]) -> dict:
    """What ensemble.json says of the members' experiments, where there is something to say: the
    experiment's differences from the shipped config (and what scaled it down), or, for a vote of
    several experiments, every one's label. Nothing for runs of a shipped config as shipped."""
    found = list(dict.fromkeys(m.experiment for m in members if m.experiment is not None))
    if len(found) > 1:
        return {"experiments": [e.label for e in found]}
    record = {}
    if found and found[0].differences:
        record["differences"] = found[0].differences
    if found and found[0].scaled_down:
        record["scaled_down"] = found[0].scaled_down
    return record


def write_ensemble(out: Path, members: list[Member], result: EnsembleResult, test_images: np.ndarray,
                   weights: Weights = Weights.best, split: str = "test") -> dict:
    """ensemble.json and the grid of the digits the vote gets wrong. The counts and the members'
    accuracies are named for the split voted on: `n_test` and `test_accuracy` for the test split."""
    errors = result.errors
    record = {
        "name": ensemble_name(members),
        "method": result.method,
        "weights": weights.value,  # whose predictions voted: best-validation or last-epoch networks
        **({} if split == "test" else {"split": split}),
        **experiments_record(members),
        "members": [{"path": str(m.path), "name": m.summary.name, "seed": m.summary.seed,
                     f"{split}_accuracy": acc} for m, acc in zip(members, result.member_accuracies)],
        "test_sha256": members[0].summary.test_sha256,
        f"n_{split}": int(len(result.labels)),
        "accuracy": result.accuracy,
        "n_errors": int(len(errors)),
        "disagreement": result.disagreement,
        "pairwise_disagreement": result.pairwise_disagreement,
        "errors": [{"index": int(i), "label": int(result.labels[i]), "predicted": int(result.predicted[i])}
                   for i in errors],
    }
    layout.make_output_dir(out)
    atomic_text(out / ENSEMBLE_FILE, json.dumps(record, indent=1) + "\n")
    plot_errors(out / ERRORS_PNG, test_images, result.labels, result.predicted, errors)
    return record


def read_ensemble(path: Path) -> dict:
    try:
        return json.loads((Path(path) / ENSEMBLE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NnbookError(f"{path}: unreadable {ENSEMBLE_FILE} ({e})") from None


@dataclass(frozen=True)
class EnsembleOptions:
    """How `nnbook ensemble` chooses its members and combines them: bundled, as they travel together."""

    method: Method | str = Method.vote  # the book's plurality vote, or the mean probability
    weights: Weights | str = Weights.best  # each run's best-validation network, or its last
    only: Optional[str] = None  # only the runs of this config name
    mixed: bool = False  # vote runs of several experiments together (refused otherwise)
    split: VoteSplit | str = VoteSplit.test  # test, or validation (for choices made before the test)


@dataclass
class Vote:
    """An ensemble of runs, combined: the members, the paths passed over and why, the result."""

    members: list[Member]
    skipped: list[tuple[Path, str]]
    result: EnsembleResult
    test_images: np.ndarray  # (N, 784): the split voted on (the test split unless asked)
    weights: Weights
    experiments: list  # the experiments that voted (analysis/experiments.py), one unless mixed


def vote(paths: list[Path], options: EnsembleOptions = EnsembleOptions(), data_dir=None) -> Vote:
    """Choose the members among `paths` and combine them as `options` say (writes nothing):
    `nnbook ensemble`'s and nnbook.ensemble's one way to an ensemble."""
    method, weights = method_of(options.method), weights_of(options.weights)
    given = list(map(Path, paths))
    paths = member_paths(given)
    split = split_of(options.split)
    selection = select_members(paths, options.only, weights is Weights.last, split, data_dir)
    members = selection.members
    if len(members) < 2:  # the paths given make no ensemble: a usage mistake, in one line naming why
        skipped = "; ".join(f"{path}: {why}" for path, why in selection.skipped)
        raise ConfigError(f"an ensemble needs at least 2 finished runs with {split} predictions, and "
                          f"{'the path given holds' if len(given) == 1 else 'the paths given hold'} "
                          f"{len(members) or 'none'}" + (f" (skipped {skipped})" if skipped else ""))
    check_same_test_data(members)  # first: predictions of other images cannot be compared at all
    experiments = check_one_experiment(members, options.mixed)
    test = find_test_split(members[0].summary, data_dir, split)
    probabilities = np.stack([m.probabilities for m in members])
    if probabilities.shape[1] != len(test):
        raise NnbookError(f"the runs hold {probabilities.shape[1]} {split} predictions, the {split} set has "
                          f"{len(test)}")
    return Vote(members, selection.skipped, evaluate_ensemble(probabilities, test.y, method), test.x, weights,
                experiments)


def split_of(split: VoteSplit | str) -> str:
    try:
        return VoteSplit(split).value
    except ValueError:
        raise ConfigError(f"--split {split!r}: choose one of {', '.join(v.value for v in VoteSplit)}") from None


def weights_of(weights: Weights | str) -> Weights:
    try:
        return Weights(weights)
    except ValueError:
        raise ConfigError(f"--weights {weights!r}: choose one of {', '.join(w.value for w in Weights)}") from None


def run_ensemble(paths: list[Path], options: EnsembleOptions = EnsembleOptions(), out: Optional[Path] = None,
                 data_dir=None, say=print, root: Path = Path("runs") / layout.ENSEMBLES) -> tuple[Path, dict]:
    """`nnbook ensemble`: choose members, combine, write (to `out`, else a new folder under
    `root`), and say what was done. nnbook's own output folders among `paths` (a `runs/*`
    glob) are passed over silently."""
    combined = vote(paths, options, data_dir)
    members, skipped, result = combined.members, combined.skipped, combined.result
    for path, why in skipped:
        say(f"skipped {path}: {why}")
    out = Path(out) if out else default_out_dir(members, root)
    record = write_ensemble(out, members, result, combined.test_images, combined.weights, split_of(options.split))
    experiments = combined.experiments
    voted = (f"of {experiments[0].label}" if len(experiments) == 1 else f"of {len(experiments)} experiments ("
             + "; ".join(f"{sum(m.experiment is e for m in members)} of {e.label}" for e in experiments) + ")")
    say(f"combined {len(members)} runs {voted} by "
        f"{'plurality vote' if result.method == Method.vote.value else 'mean probability'} of their "
        f"{'best-validation' if combined.weights is Weights.best else 'last-epoch'} networks"
        + ("" if split_of(options.split) == "test" else f", on the {split_of(options.split)} images")
        + (f"; skipped {len(skipped)}" if skipped else ""))
    return out, record
