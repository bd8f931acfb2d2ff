"""One experiment, top to bottom: load data -> build model -> train(on_epoch=log) -> finish.

Ties the pieces together for `nnbook train`: a config becomes one run
directory per seed (`repeats`), trained together as the members of one
`StackedNet` (or one at a time with `sequential`). `resume_experiment` takes
the same path from a `ResumePlan` (resume.py) instead of a fresh model.

While a group trains, SIGINT and SIGTERM stop it cleanly (interrupts.py): the
epoch's files are written whole, the runs are marked `interrupted` and the
message says how to resume.
"""

from __future__ import annotations

import random
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nnbook.config import Config, dump_config
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs.interrupts import ForcedExit, Interrupt, catch_interrupts
from nnbook.runs.directory import Run, check_runs_dir, environment


@dataclass
class RunResult:
    path: Path
    summary: dict


class Interrupted(NnbookError):
    """Training stopped by SIGINT/SIGTERM; exit 130 or 143 as the shell would report."""

    def __init__(self, message: str, exit_code: int = 130):
        super().__init__(message)
        self.exit_code = exit_code


class Diverged(NnbookError):
    """A run's cost became NaN or infinite."""


def seeds_of(config: Config) -> list[int]:
    return [config.seed + i for i in range(config.repeats)]


def run_config(config: Config, seed: int) -> Config:
    """The resolved config of one run: its own seed, a single repeat."""
    return config.model_copy(update={"seed": seed, "repeats": 1})


def train_experiment(config: Config, runs_dir: Path, display, data_dir: Optional[str] = None,
                     sequential: bool = False, config_source: str = "config", dataset=None) -> list[RunResult]:
    """`dataset`: an already loaded `data.Dataset` for `config.data` (the chapter 6 runner
    shares one between configs); it is left intact."""
    from nnbook.nn.net import build_model
    from nnbook.training.loop import resolve_device

    check_runs_dir(runs_dir)  # before minutes of data loading, not after
    device = resolve_device(config.device)
    with catch_interrupts() as interrupts:
        runs: list[Run] = []  # the group being set up, for the message if a signal comes before it trains
        try:
            dataset, tensors, n_train = load_data(config, device, data_dir, config_source, dataset)
            env = environment(device)
            seeds = seeds_of(config)
            groups = [[s] for s in seeds] if sequential else [seeds]
            display.start(config, n_train, env, len(seeds), sequential)

            results = []
            for group in groups:
                runs = []
                seed_everything(group[0])
                net = build_model(config, group).to(device)
                stamp = time.strftime("%Y%m%d-%H%M%S")
                for s in group:
                    runs.append(Run.create(runs_dir, dump_config(run_config(config, s)),
                                           {"name": config.name, "seed": s, "data": dataset.source,
                                            "test_sha256": dataset.test_sha256, **env}, stamp))
                for run in runs:  # the runs trained together, resumed together (resume.py)
                    run.update(group=[r.path.name for r in runs])
                display.runs_created([r.path for r in runs])
                results += train_group(config, net, runs, tensors, display, interrupts)
        except Interrupt as stop:  # loading the data or making a group's directories
            raise stopped_before_training(stop, runs) from None
    display.finish(results)
    return results


def resume_experiment(plan, display, data_dir: Optional[str] = None) -> list[RunResult]:
    """Continue `plan.runs` (a `resume.ResumePlan`) from `plan.epoch` completed epochs."""
    from nnbook.nn.net import build_model
    from nnbook.runs.resume import check_same_data, check_same_device, restore_state
    from nnbook.training.loop import resolve_device

    config = plan.config
    device = resolve_device(config.device)
    check_same_device(plan, device)
    with catch_interrupts() as interrupts:
        try:
            dataset, tensors, n_train = load_data(config, device, data_dir, str(plan.runs[0].path / "config.yaml"))
            check_same_data(plan, dataset)
            display.start(config, n_train, environment(device), len(plan.runs), False)
            display.runs_created([r.path for r in plan.runs])
            display.print(f"Resuming after epoch {plan.epoch} of {config.epochs}" if plan.epoch
                          else "Resuming from the start (no epoch had been completed)")

            seed_everything(plan.seeds[0])
            net = build_model(config, plan.seeds).to(device)
            state = restore_state(net, plan)  # None when no epoch was completed
            histories = [list(saved["metrics"]) for saved in plan.saved] if plan.saved else None
            results = train_group(config, net, plan.runs, tensors, display, interrupts, state, histories)
        except Interrupt as stop:  # loading the data or restoring the checkpoints
            raise stopped_before_training(stop, plan.runs) from None
    display.finish(results)
    return results


def load_data(config: Config, device, data_dir, source: str, dataset=None):
    """The dataset and its splits on `device`. Returns (dataset, tensors, n_train).
    A dataset loaded here has its training images dropped from host memory once
    copied; a `dataset` passed in (shared by several configs) is left intact."""
    from nnbook.data import mnist
    from nnbook.training.loop import to_device

    shared = dataset is not None
    if not shared:
        dataset = mnist.load(config.data, data_dir, source=source)
    n_train = min(config.train_limit or len(dataset.training), len(dataset.training))
    if config.mini_batch_size > n_train:
        raise ConfigError(f"{source}: mini_batch_size = {config.mini_batch_size} is larger than the "
                          f"{n_train} training images")
    tensors = to_device(dataset, device, config.train_limit)
    if not shared:
        del dataset.training  # the device copy is the one used from here on
    return dataset, tensors, n_train


def seed_everything(seed: int) -> None:
    """Every global generator from `seed`; the model and the loop use their own ones."""
    import numpy as np
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def train_group(config: Config, net, runs: list[Run], tensors, display, interrupts, state=None,
                histories: Optional[list[list[dict]]] = None) -> list[RunResult]:
    """Train the members of `net` (one per run) and write each epoch to their run
    directories; from `state` and `histories` when resuming. `interrupts`: the
    installed signal handlers (interrupts.catch_interrupts)."""
    from nnbook.training.loop import train

    seeds = [run.summary["seed"] for run in runs]
    histories = histories or [[] for _ in runs]
    seconds = [sum(row["seconds"] for row in h) for h in histories]
    done = [state.epoch if state else 0]  # epochs completed, for the message if interrupted
    for run in runs:
        run.lock()

    def on_epoch(report) -> None:
        # Written in this order so that a kill between any two writes loses
        # nothing that resuming cannot redo: the best model before the
        # checkpoint that counts it, the checkpoint (with the metrics history)
        # before metrics.jsonl and summary.json, which resume.py rebuilds.
        with interrupts.protected():
            for m, run in enumerate(runs):
                record = report.records[m]
                if record is None and run.summary["status"] != "running":
                    continue  # stopped in an earlier epoch
                if report.improved[m]:
                    run.save_best(report.net.member_state(m), report.test_probabilities[m].cpu().numpy())
                if record is not None:
                    histories[m].append(record.__dict__.copy())
                    seconds[m] += record.seconds
                saved = report.state(m)
                saved["metrics"] = histories[m]
                saved["config"] = run_config(config, seeds[m]).model_dump(mode="json")
                run.save_checkpoint(saved)
                if record is not None:
                    run.log_epoch(record)
                best = report.best[m]
                extra = {"diverged_in_epoch": report.epoch} if report.status[m] == "diverged" else {}
                run.update(status=report.status[m] or "running", epochs_completed=len(histories[m]),
                           best_validation_accuracy=best.validation_accuracy if best.epoch else None,
                           best_epoch=best.epoch, test_accuracy=best.test_accuracy,
                           seconds=round(seconds[m], 3), **extra)
            done[0] = report.epoch
            display.epoch(report.epoch, config.epochs, report.records, report.best, report.improved,
                          report.status, seeds, reasons=report.reasons)

    display.begin_training()
    try:
        try:
            train(net, config, tensors, seeds, on_epoch, on_progress=display.progress, state=state)
            with interrupts.protected():
                for run in runs:
                    if run.summary["status"] == "running":
                        run.update(status="completed")
        except Interrupt as stop:
            for run in runs:
                if run.summary["status"] == "running":
                    run.update(status="interrupted")
            n = done[0]
            kept = f"epochs 1-{n} are saved" if n > 1 else "epoch 1 is saved" if n else "no epoch was completed"
            raise Interrupted(f"interrupted by {stop} in epoch {n + 1}: {kept} in "
                              f"{', '.join(str(r.path) for r in runs)}; {resume_hint(runs)}",
                              stop.exit_code) from None
    except ForcedExit as forced:
        forced.hint = resume_hint(runs)  # cli.py prints it; nothing more is written
        raise
    finally:
        display.end_training()
        for run in runs:
            run.unlock()
    return [RunResult(run.path, run.summary) for run in runs]


def stopped_before_training(stop: Interrupt, runs: list[Run]) -> Interrupted:
    """The error for a signal that came before `runs` began (another epoch of) training."""
    for run in runs:
        if run.summary["status"] == "running":
            run.update(status="interrupted")
    then = f"; {resume_hint(runs)}" if runs else "; nothing was trained"
    return Interrupted(f"interrupted by {stop} before training began{then}", stop.exit_code)


def resume_hint(runs: list[Run]) -> str:
    together = f" (it resumes all {len(runs)} runs trained together)" if len(runs) > 1 else ""
    return f"resume with: nnbook train --resume {shlex.quote(str(runs[0].path))}{together}"


def raise_if_diverged(results: list[RunResult], config: Config) -> None:
    """For `nnbook train`: a diverged run is a failure of the command (exit 1). A sweep
    calls train_experiment too, and counts a diverged point as a result, not an error."""
    diverged = [r for r in results if r.summary["status"] == "diverged"]
    if diverged:
        where = ", ".join(f"{r.path} in epoch {r.summary.get('diverged_in_epoch', '?')}" for r in diverged)
        raise Diverged(f"diverged (the cost became NaN or infinite): {where}; the completed epochs and the "
                       f"best model so far are kept; try a smaller eta, e.g. --set eta={config.eta / 4:g} "
                       f"(this run used eta = {config.eta:g})")
