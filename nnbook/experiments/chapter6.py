"""Chapter 6 end to end: every config of the chapter's table with repeats, the
5-net dropout ensemble, and a markdown report with the book's figures.

    OUT/chapter6.md           the report (the table of `nnbook report`, with how it was made)
    OUT/runs/                 one run directory per config and seed
    OUT/ensemble/             ensemble.json and ensemble_errors.png (best-validation networks)
    OUT/ensemble_last/        the same vote by the networks after their last epoch (the book's)
    OUT/*.png                 tanh vs sigmoid accuracy curves; the final net's first-layer filters

`ChapterOptions.epochs_scale` (and `train_limit`) shrink the runs for a quick pass on a CPU;
the report then says in its first lines that it is scaled down. What is shown
while each config trains is the display the command gives (`Trainers.new_display`).

Run again on the same OUT, the chapter continues where it stopped (`prior_runs`):
a config's runs that finished there are not trained again, those that stopped
(Ctrl-C, a failure, a machine that went down) are resumed stack by stack exactly as
`nnbook train --resume` would, and the seeds never started are trained. How a
config's seeds train (one stack, or workers: execution/placement.py) is the
`train_seeds` the command passes in; by default one stack in this process. Or,
with `train_all` (`nnbook chapter6 --jobs N`, or a Ray cluster), every config's seeds and
stopped stacks go to one pool of workers together, so a worker that is done with one config's runs
starts the next config's (longest first). The report is rewritten after every config,
so hours of training always have one. Runs of a config trained there with other
settings (epochs, training images, repeats) are a usage error: use a new OUT.
The expanded set is made on first use through data/mnist's locked path, as for
`nnbook train`.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Optional

from nnbook.analysis.ensemble import EnsembleOptions, run_ensemble
from nnbook.analysis.plots import first_conv_filters, plot_accuracy, plot_filters
from nnbook.analysis.report import collect, render
from nnbook.config import load_config, run_config, seeds_of
from nnbook.config.catalogue import check_configs_dir
from nnbook.data import mnist
from nnbook.errors import ConfigError
from nnbook.experiments.display import Display, RunResult, Silent
from nnbook.experiments.experiment import Source, resume_experiment, train_experiment
from nnbook.experiments.resume import plan_resume
from nnbook.config.identity import identity
from nnbook.files import atomic_text
from nnbook.records import NOTHING_LEFT
from nnbook.runs import directory, layout
from nnbook.runs.layout import Dirs
from nnbook.runs.records import Summary

CHAPTER6 = ["ch6_shallow", "ch6_conv", "ch6_conv_only", "ch6_dbl_conv", "ch6_dbl_conv_tanh", "ch6_dbl_conv_relu",
            "ch6_expanded", "ch6_expanded_fc300", "ch6_expanded_fc1000", "ch6_expanded_2fc100",
            "ch6_expanded_2fc300", "ch6_expanded_2fc1000", "ch6_relu_dropout"]
ENSEMBLE_OF = "ch6_relu_dropout"  # the book's ensemble: 5 of these nets, plurality vote
LAST_VOTE = "ensemble_last"  # the vote of the nets after their last epoch (the book's), beside ensemble/


def scaled_epochs(epochs: int, scale: float) -> int:
    return max(1, round(epochs * scale))


# train_seeds(config, seeds, dirs, dataset, display) -> the runs: trains those seeds of the config into
# dirs.runs_dir (the chapter's runs/; `Dirs`).
SeedTrainer = Callable[..., list[RunResult]]
# train_all([(config, seeds, stopped), ...], dirs, on_config): trains every config's seeds and resumes
# its stopped stacks (StoppedStack) at once (workers shared by all configs), calling on_config(config, its
# runs) as each config's last run ends.
ChapterTrainer = Callable[..., None]


class StoppedStack(NamedTuple):
    """A stack of runs trained together and stopped before its end: resumed whole, from its leader."""

    leader: Path
    seeds: list[int]
    epochs_completed: int  # by the stack (the least of its runs')


def train_in_one_stack(config, seeds: list[int], dirs: Dirs, dataset, display: Display) -> list[RunResult]:
    """The default `train_seeds`: the seeds as one stacked model in this process."""
    return train_experiment(config, dirs, display, Source(config.name, dataset),
                            members=[run_config(config, s) for s in seeds])


@dataclass(frozen=True)
class ChapterOptions:
    """What `nnbook chapter6` asks for: which configs, how many runs of each, and how scaled down."""

    epochs_scale: float = 1.0  # every config's epochs times this (at least 1 each); 1 = the book's
    train_limit: Optional[int] = None  # train on the first N images only (None: all)
    repeats: int = 3  # runs per config (the book: 3)
    ensemble_size: int = 5  # ENSEMBLE_OF runs in the ensemble (the book: 5)
    only: Optional[list[str]] = None  # these configs only (None: all of CHAPTER6)
    device: Optional[str] = None  # every config's device (None: the configs' own)
    command: str = ""  # the command line, quoted in the report


@dataclass(frozen=True)
class Trainers:
    """How the chapter trains its runs and shows them."""

    new_display: Callable[[], Display] = Silent  # a fresh training display per config (`nnbook train`'s, or quiet)
    train_seeds: Optional[SeedTrainer] = None  # how a config's seeds not yet trained train (train_in_one_stack)
    train_all: Optional[ChapterTrainer] = None  # instead: how every config's seeds not yet trained train at once


def run_chapter6(configs_dir: Optional[Path], out: Path, options: ChapterOptions = ChapterOptions(), data_dir=None,
                 trainers: Trainers = Trainers(), say=print) -> Path:
    """Train, ensemble, plot and report; returns the report's path."""
    epochs_scale, train_limit, repeats = options.epochs_scale, options.train_limit, options.repeats
    ensemble_size, only, device = options.ensemble_size, options.only, options.device
    new_display, train_seeds, train_all = trainers.new_display, trainers.train_seeds, trainers.train_all
    names = only or CHAPTER6
    unknown = [n for n in names if n not in CHAPTER6]
    if unknown:
        raise ConfigError(f"--only {', '.join(unknown)}: not a chapter 6 config; choose from {', '.join(CHAPTER6)}")
    if epochs_scale <= 0:
        raise ConfigError(f"--epochs-scale {epochs_scale}: must be > 0 (1 = the book's epochs)")
    configs_dir = check_configs_dir(configs_dir)
    configs = {}
    for name in names:
        overrides = [f"repeats={max(repeats, ensemble_size) if name == ENSEMBLE_OF else repeats}"]
        if train_limit:
            overrides.append(f"train_limit={train_limit}")
        if device:
            overrides.append(f"device={device}")
        config = load_config(configs_dir / f"{name}.yaml", overrides)
        configs[name] = config.model_copy(update={"epochs": scaled_epochs(config.epochs, epochs_scale)})

    layout.make_output_dir(out)
    runs_dir = out / "runs"
    dirs = Dirs(runs_dir, data_dir)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    prior = {name: prior_runs(runs_dir, config) for name, config in configs.items()}  # all checked first
    datasets: dict = {}  # data name -> Dataset, each file read once
    results: dict[str, list[RunResult]] = {}  # the configs done, in the order they were done
    report = out / "chapter6.md"
    queued: list[tuple] = []  # (config, seeds, its runs so far): for train_all, all at once

    def config_done(name: str, runs: list[RunResult]) -> None:
        results[name] = sorted(runs, key=lambda r: r.summary.seed)
        if len(results) < len(configs):  # the report so far; the last one follows with the ensemble and plots
            write_report(report, configs, results, [], options, started)

    for name, config in configs.items():
        finished, stopped, missing = prior[name]
        runs = list(finished)
        if finished:
            say(f"== {name}: {len(finished)} finished run(s) in {runs_dir}; not trained again")
        for old in stopped:
            say(f"== {name}: resuming {old.leader} (after epoch {old.epochs_completed} of {config.epochs})")
        if missing:
            say(f"== {name}: {len(missing)} run(s), {config.epochs} epoch(s)")
        if train_all is not None and (stopped or missing):  # the stopped stacks too, on the workers
            queued.append((config, missing, stopped, runs))
            continue
        for old in stopped:
            runs += resume_experiment(plan_resume(old.leader), dirs, new_display())
        if missing:
            if config.data not in datasets:  # data: mnist_expanded is made here on first use, under its lock
                datasets[config.data] = mnist.load(config.data, data_dir, source=name)
            runs += (train_seeds or train_in_one_stack)(config, missing, dirs, datasets[config.data], new_display())
        config_done(name, runs)
    datasets.clear()
    if queued:  # every config's seeds on the same workers (the expanded set made on first use by a worker, locked)
        before = {config.name: runs for config, _, _, runs in queued}
        train_all([(config, seeds, stopped) for config, seeds, stopped, _ in queued], dirs,
                  lambda config, trained: config_done(config.name, before[config.name] + trained))
    results = {name: results[name] for name in configs if name in results}  # the chapter's order

    extra = []
    if ENSEMBLE_OF in results and ensemble_size >= 2:
        members = [r.path for r in results[ENSEMBLE_OF]][:ensemble_size]
        run_ensemble(members, out=out / "ensemble", data_dir=data_dir, say=say)
        extra.append(f"Ensemble: plurality vote of the {len(members)} {ENSEMBLE_OF} runs' best-validation "
                     "networks; their misclassified digits in `ensemble/ensemble_errors.png`.")
        if all(directory.has_predictions(p, last=True) for p in members):  # runs of an older nnbook have none
            run_ensemble(members, EnsembleOptions(weights="last"), out / LAST_VOTE, data_dir, say)
            extra.append(f"The same vote by the networks after their last epoch, as the book's conv.py voted "
                         f"(network3.py keeps no best weights): `{LAST_VOTE}/`.")
        filters = first_conv_filters(results[ENSEMBLE_OF][0].path)
        if filters is not None:
            plot_filters(filters, out / "relu_dropout_filters.png", f"{ENSEMBLE_OF}: first conv layer's filters")
            extra.append("The first conv layer's filters of the final net: `relu_dropout_filters.png`.")
    if "ch6_dbl_conv" in results and "ch6_dbl_conv_tanh" in results:
        plot_accuracy([r.path for r in results["ch6_dbl_conv"] + results["ch6_dbl_conv_tanh"]],
                      out / "tanh_vs_sigmoid.png")
        extra.append("The problem's tanh vs sigmoid question: validation curves in `tanh_vs_sigmoid.png`.")

    write_report(report, configs, results, extra, options, started)
    say(f"report: {report}")
    return report


def prior_runs(runs_dir: Path, config) -> tuple[list[RunResult], list[StoppedStack], list[int]]:
    """What earlier invocations left of `config` in `runs_dir`: its finished runs, the stacks to
    resume, and the seeds not started. Runs trained with other settings (or seeds beyond
    `repeats`) are a ConfigError naming them."""
    stacks: dict[tuple, list[RunResult]] = {}  # each run's summary read once
    for path in sorted(runs_dir.glob(f"{config.name}-*")) if runs_dir.is_dir() else []:
        if not directory.is_run_dir(path):
            continue
        summary = directory.read_summary(path)
        if summary.name == config.name:  # not ch6_expanded_fc300's runs for ch6_expanded
            # summary.json's `group` (its key for the stack, kept as a file format) names the stack's runs
            stacks.setdefault(tuple(summary.group or [path.name]), []).append(RunResult(path, summary))
    asked_seeds = seeds_of(config)
    finished: list[RunResult] = []
    stopped: list[StoppedStack] = []
    seen: set[int] = set()
    for runs in stacks.values():
        paths, summaries = [r.path for r in runs], [r.summary for r in runs]
        # What the runs compute must be what is asked (config/identity.py); where they train may change
        # (resume checks it), and the seeds are compared below.
        trained, asked = identity(directory.read_config(paths[0])), identity(config)
        differ = [f"{k}: {v} -> {asked.get(k)}" for k, v in trained.items() if asked.get(k) != v]
        extra = [s.seed for s in summaries if s.seed not in asked_seeds or s.seed in seen]
        if extra:
            differ.append(f"repeats: seed {extra[0]} is not one of the {config.repeats} asked")
        if differ:
            raise ConfigError(f"{paths[0].parent} holds runs of {config.name} trained with other settings "
                              f"({'; '.join(differ)}); continue with the same options or choose a new --out")
        seen.update(s.seed for s in summaries)
        if all(s.status in NOTHING_LEFT for s in summaries):
            finished += runs
        else:
            stopped.append(StoppedStack(paths[0], sorted(s.seed for s in summaries),
                                        min(s.epochs_completed or 0 for s in summaries)))
    return finished, stopped, [s for s in asked_seeds if s not in seen]


def write_report(report: Path, configs: dict, results: dict, extra: list[str], options: ChapterOptions,
                 started: str) -> None:
    """chapter6.md from the runs trained so far (`results`), the configs still to train named."""
    env = next(iter(results.values()))[0].summary if results else Summary()  # where and with what it ran
    out = report.parent
    paths = [r.path for rs in results.values() for r in rs] + [out / e for e in ("ensemble", LAST_VOTE)
                                                                 if (out / e).exists()]
    lines = ["# Chapter 6, reproduced with nnbook", ""]
    epochs = {name: c.epochs for name, c in configs.items()}
    if options.epochs_scale != 1.0 or options.train_limit:
        counts = sorted({e for e in epochs.values()})
        lines += [f"**Scaled down — not the book's protocol.** Epochs × {options.epochs_scale:g} "
                  f"({', '.join(map(str, counts))} epoch{'s' if counts != [1] else ''} instead of 40/60)"
                  + (f", only the first {options.train_limit:,} training images" if options.train_limit else "")
                  + ". The accuracies are far below the book's and the differences mean nothing.", ""]
    lines += [f"- Runs per config: {options.repeats} (seeds 0..{options.repeats - 1}); {ENSEMBLE_OF}: "
              f"{configs[ENSEMBLE_OF].repeats if ENSEMBLE_OF in configs else '—'} runs, also the ensemble's members.",
              f"- Hardware: {_known(env.device)} ({_known(env.hardware)}), {_known(env.threads)} threads; "
              f"torch {_known(env.torch)}, nnbook {_known(env.nnbook)}, Python {platform.python_version()}.",
              f"- Last started {started}; each run's training time is in the `s/epoch` column.",
              "- `test % (best val run)` is the book's figure of merit: the test accuracy at the best validation "
              "epoch of the run with the best validation accuracy. `diff` is it minus the book's figure, in points.",
              "- `s/epoch` is the wall time of one epoch, training and evaluation; the repeats of a config train "
              "together (one stacked model, or worker processes side by side), so they share the machine."]
    if options.command:
        lines.append(f"- Command: `{options.command}`")
    pending = [name for name in configs if name not in results]
    if pending:
        lines += ["", f"**Not trained yet:** {', '.join(pending)}. Run the same command again to continue."]
    lines += ["", render(collect(paths), "markdown")]
    lines += [f"- {e}" for e in extra]
    atomic_text(report, "\n".join(lines) + "\n")


def _known(value) -> str:
    return "?" if value is None else str(value)
