"""One experiment, top to bottom: load data -> build model -> train(on_epoch=log) -> finish.

Ties the pieces together for `nnbook train`: a config becomes one run
directory per seed (`repeats`), trained together as the members of one
`StackedNet` (or one at a time with `sequential`).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .config import Config, dump_config
from .errors import ConfigError, NnbookError
from .runs import Run, environment


@dataclass
class RunResult:
    path: Path
    summary: dict


class Interrupted(NnbookError):
    exit_code = 130


def seeds_of(config: Config) -> list[int]:
    return [config.seed + i for i in range(config.repeats)]


def run_config(config: Config, seed: int) -> Config:
    """The resolved config of one run: its own seed, a single repeat."""
    return config.model_copy(update={"seed": seed, "repeats": 1})


def train_experiment(config: Config, runs_dir: Path, display, data_dir: Optional[str] = None,
                     sequential: bool = False, config_source: str = "config", dataset=None) -> list[RunResult]:
    """`dataset`: an already loaded `data.Dataset` for `config.data` (the chapter 6 runner
    shares one between configs); it is left intact."""
    import numpy as np
    import torch

    from . import data as mnist
    from .model import build_model
    from .train import resolve_device, to_device, train

    device = resolve_device(config.device)
    shared = dataset is not None
    if not shared:
        dataset = mnist.load(config.data, data_dir, source=config_source)
    n_train = min(config.train_limit or len(dataset.training), len(dataset.training))
    if config.mini_batch_size > n_train:
        raise ConfigError(f"{config_source}: mini_batch_size = {config.mini_batch_size} is larger than the "
                          f"{n_train} training images")
    tensors = to_device(dataset, device, config.train_limit)
    if not shared:
        del dataset.training  # the device copy is the one used from here on
    env = environment(device)
    seeds = seeds_of(config)
    groups = [[s] for s in seeds] if sequential else [seeds]
    display.start(config, n_train, env, len(seeds), sequential)

    results = []
    for group in groups:
        torch.manual_seed(group[0])  # every generator is seeded from `seed`; the model's own ones below
        np.random.seed(group[0] % 2**32)
        random.seed(group[0])
        net = build_model(config, group).to(device)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        runs = [Run.create(runs_dir, dump_config(run_config(config, s)),
                           {"name": config.name, "seed": s, "data": dataset.source,
                            "test_sha256": dataset.test_sha256, **env}, stamp)
                for s in group]
        histories: list[list[dict]] = [[] for _ in group]
        display.runs_created([r.path for r in runs])
        seconds = [0.0] * len(group)

        def on_epoch(report) -> None:
            for m, run in enumerate(runs):
                record = report.records[m]
                if record is None and run.summary["status"] != "running":
                    continue  # stopped in an earlier epoch
                if report.improved[m]:
                    run.save_best(report.net.member_state(m), report.test_probabilities[m].cpu().numpy())
                if record is not None:
                    histories[m].append(record.__dict__.copy())
                    seconds[m] += record.seconds
                state = report.state(m)
                state["metrics"] = histories[m]
                run.save_checkpoint(state)
                if record is not None:
                    run.log_epoch(record)
                best = report.best[m]
                run.update(status=report.status[m] or "running", epochs_completed=len(histories[m]),
                           best_validation_accuracy=best.validation_accuracy if best.epoch else None,
                           best_epoch=best.epoch, test_accuracy=best.test_accuracy, seconds=round(seconds[m], 3))
            display.epoch(report.epoch, config.epochs, report.records, report.best, report.improved,
                          report.status, group, reasons=report.reasons)

        display.begin_training()
        try:
            train(net, config, tensors, group, on_epoch, on_progress=display.progress)
        except KeyboardInterrupt:
            for run in runs:
                if run.summary["status"] == "running":
                    run.update(status="interrupted")
            raise Interrupted(f"interrupted; completed epochs are saved in {', '.join(str(r.path) for r in runs)}")
        finally:
            display.end_training()
        for run in runs:
            if run.summary["status"] == "running":
                run.update(status="completed")
            results.append(RunResult(run.path, run.summary))
    display.finish(results)
    return results
