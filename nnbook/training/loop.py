"""The training loop: mini-batch SGD with network3's bookkeeping.

`train(net, StackSpec(config, seeds), data, on_epoch)` trains the K members of
a `StackedNet` together. Each member keeps its own seed, dropout masks, data
order, best-validation bookkeeping and early stopping, so member k's epochs
are those a single run with seed `seeds[k]` would produce.

Per epoch, in this order:
  1. data: eta from the schedule, the epoch's order (network3: the data's fixed
     order; network2: reshuffled) and, with an `augment` block, the training
     images distorted afresh, a copy per member (batches.py);
  2. steps: the mini-batches in order (batches.py), the last partial one
     dropped (`n_batches` below), each an SGD step of every member (nn/step.py);
  3. evaluation: validation accuracy; when it is >= the best so far it becomes
     the best and the test accuracy is computed -- the reported figure is the
     test accuracy at the best validation epoch; then the optional diagnostics
     (`config.monitor`) (monitor.py, progress.py);
  4. bookkeeping: one `EpochRecord` per member, the chapter 3 halving schedule
     and the early-stopping rules (schedules.py);
  5. the `on_epoch` callback.

No YAML, no Typer, no file I/O: results go to the `on_epoch` callback. A
mini-batch larger than the training data is refused before training, with the
config's name (experiments/experiment.load_data).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np
import torch

from nnbook.config import Config, HalvingSchedule
from nnbook.nn.net import StackedNet
from nnbook.nn.sgd import l2_decay
from nnbook.nn.step import StepKind, make_step
from nnbook.records import EARLY_STOPPED, EpochRecord
from nnbook.seeds import member_generators
from nnbook.training.batches import EpochData, StaticBatches, epoch_data, mini_batches, training_targets
from nnbook.training.checkpoint import MemberCheckpoint, member_checkpoint, with_run_records
from nnbook.training.devices import DeviceData
from nnbook.training.monitor import accuracy, evaluate_test, monitor_epoch
from nnbook.training.schedules import eta_at, halve_on_plateau, stop_reason
from nnbook.training.progress import Best, Progress, record_validations, start_progress


@dataclass(frozen=True)
class StackSpec:
    """What `train` trains: the members of one stack, what they share and where they start. Bundled,
    as they travel together from the experiment (experiments/experiment.py) into the loop."""

    config: Config  # what the members share: epochs, schedule, mini-batch size, layers, ...
    seeds: list[int]  # member k's seed (its generators: nnbook/seeds.py)
    # Each member's own config when they differ in eta, lmbda or mu (sweep points packed into one
    # stack, config/repeats.stack_key); None: `config` for all.
    members: Optional[list[Config]] = None
    progress: Optional[Progress] = None  # where a restored stack continues from (checkpoint.restore_progress)


@dataclass
class MemberEpoch:
    """One member's part of an EpochReport: what its run directory records (runs/directory.Run.record_epoch)."""

    epoch: int
    record: Optional[EpochRecord]  # None when it trained no more: stopped before, or diverged now
    status: Optional[str]  # None while training, else EARLY_STOPPED | DIVERGED
    best: Best
    # At a new best: its weights and its (10000, 10) test probabilities, else None.
    best_model: Optional[tuple[dict[str, torch.Tensor], np.ndarray]]
    # Its resumable checkpoint, built on demand, carrying the run's records that the run
    # directory passes in (checkpoint.with_run_records: its metrics so far, the config it trains with).
    checkpoint: Callable[[list[EpochRecord], Optional[dict]], MemberCheckpoint]


@dataclass
class EpochReport:
    """What `on_epoch` receives after every epoch."""

    epoch: int
    seeds: list[int]  # member m's seed
    records: list[Optional[EpochRecord]]  # None for members that had already stopped
    best: list[Best]
    status: list[Optional[str]]  # None while training, else EARLY_STOPPED | DIVERGED
    reasons: list[Optional[str]]  # why a member stopped early this epoch, in words
    improved: list[bool]  # members whose validation accuracy is a new best this epoch
    net: StackedNet
    test_probabilities: Optional[torch.Tensor]  # (K, 10000, 10), when any member improved
    checkpoint: Callable[[int], MemberCheckpoint]  # member m's resumable checkpoint, built on demand

    def member(self, m: int) -> MemberEpoch:
        best_model = None
        if self.improved[m]:
            best_model = (self.net.member_weights(m), self.test_probabilities[m].cpu().numpy())
        return MemberEpoch(self.epoch, self.records[m], self.status[m], self.best[m], best_model,
                           lambda metrics, config: with_run_records(self.checkpoint(m), metrics, config))


@dataclass
class Measured:
    """What an epoch measured, per member (lists of K)."""

    epoch: int  # 1-based
    train_cost: list[float]  # mean mini-batch cost, L2 term excluded
    validation: list[float]  # validation accuracy
    improved: list[bool]  # a new best validation accuracy (progress.record_validations)
    test_accuracy: Optional[list[float]]  # measured only when some member improved
    seconds: float  # the epoch's wall time, the diagnostics excluded
    diagnostics: dict[str, list]  # what `config.monitor` asks for: {EpochRecord field: K values}


def train(net: StackedNet, stack: StackSpec, data: DeviceData, on_epoch: Callable[[EpochReport], None],
          on_progress: Optional[Callable[[int, int], None]] = None, kind: StepKind = StepKind()) -> Progress:
    """Train `stack` until `stack.config.epochs`, early stopping or divergence of every member.
    `on_progress(steps_done, n_batches)` is called every ~1% of an epoch. `kind`: which step
    (nn/step.StepKind); with kind.static the mini-batches also go through fixed buffers
    (batches.StaticBatches). On a CUDA device make_step records the step as a CUDA graph
    whatever `kind.static` says, unless config.cuda_graph is false (nn/graph.py)."""
    config, seeds, progress = stack.config, stack.seeds, stack.progress
    members = stack.members or [config] * len(seeds)
    n_train, batch = len(data.train_y), config.mini_batch_size
    # The last partial mini-batch is dropped, as network3 does; network2 kept it, a difference no
    # shipped network2 config meets (50,000 and 1,000 training images in batches of 10).
    n_batches = n_train // batch
    distorting = config.augment is not None and config.augment.enabled()
    gens = member_generators(seeds, data.train_x.device, distorting)
    if progress is None:
        progress = start_progress(members)
    else:
        gens.restore(progress.order_generators, progress.mask_generators, progress.augment_generators)
    decay = [l2_decay(c, n_train) for c in members]
    step = make_step(net, config, decay, progress.velocity, [c.mu for c in members], kind)
    feed = StaticBatches() if kind.static else (lambda batches: batches)
    progress.velocity = step.velocity  # made by the step when mu > 0 and none was saved
    targets = training_targets(data, len(seeds), distorting)

    while progress.epoch < config.epochs and any(s is None for s in progress.status):
        epoch = progress.epoch + 1  # 1-based, the epoch about to run
        start = time.perf_counter()
        set_epoch_eta(progress, config, members, epoch)
        step.set_eta(progress.eta)
        x, order = epoch_data(data, config, gens)

        batches = feed(mini_batches(net, EpochData(x, targets, order), batch, n_batches, gens.mask))
        train_cost = take_steps(step, batches, n_batches, progress.status, on_progress)

        # Every member on the whole validation set; the test set only at a new best.
        validation = accuracy(net, data.validation_x, data.validation_y)
        improved = record_validations(progress, epoch, train_cost, validation)
        test_probs, test_acc = evaluate_test(net, data) if any(improved) else (None, None)
        seconds = time.perf_counter() - start  # the diagnostics below are not training time
        diagnostics = monitor_epoch(net, config, data, decay, test_acc)

        records, reasons = close_epoch(progress, config, members, Measured(epoch, train_cost, validation, improved,
                                                                  test_acc, seconds, diagnostics))
        progress.epoch = epoch

        on_epoch(EpochReport(epoch, seeds, records, list(progress.best), list(progress.status), reasons, improved,
                             net, test_probs, lambda m: member_checkpoint(net, progress, m, gens)))
    return progress


def set_epoch_eta(progress: Progress, config: Config, members: list[Config], epoch: int) -> None:
    """An epoch-driven schedule sets the eta of every member still training before the
    epoch, from the member's own starting eta (a diverged member keeps eta 0); the halving
    schedule acts after it (close_epoch)."""
    if config.schedule is None or isinstance(config.schedule, HalvingSchedule):
        return
    for m, status in enumerate(progress.status):
        if status is None:
            progress.eta[m] = eta_at(config.schedule, members[m].eta, epoch, config.epochs)


def take_steps(step, batches: Iterable[tuple], n_batches: int, status: list[Optional[str]],
               on_progress: Optional[Callable[[int, int], None]]) -> list[float]:
    """One epoch's SGD steps over `batches` (batches.mini_batches, `n_batches` of them); returns
    each member's mean mini-batch cost. Stops early once every member still training has a
    non-finite cost."""
    w = step.net.layers[0].weight
    cost_sum = torch.zeros(step.k, device=w.device, dtype=w.dtype)  # summed on the device, read once per epoch
    report_every = max(1, n_batches // 100)
    steps = 0
    for xb, tb, masks in batches:
        step(xb, tb, masks, cost_sum)
        steps += 1
        if steps % report_every == 0:
            if on_progress:
                on_progress(steps, n_batches)
            finite = torch.isfinite(cost_sum).tolist()  # the one host sync, every ~1% of an epoch
            if not any(f for f, s in zip(finite, status) if s is None):
                break  # every training member diverged: stop at once
    return (cost_sum / steps).tolist()


def close_epoch(progress: Progress, config: Config, members: list[Config],
                measured: Measured) -> tuple[list[Optional[EpochRecord]], list[Optional[str]]]:
    """The epoch's bookkeeping for every member still training: its record, its history,
    the halving schedule and the early-stopping rules. Returns (records, why members stopped)."""
    k = len(progress.status)
    records: list[Optional[EpochRecord]] = [None] * k
    reasons: list[Optional[str]] = [None] * k
    for m in range(k):
        if progress.status[m] is not None:  # stopped earlier, or diverged this epoch
            continue
        improved = measured.improved[m]
        test = measured.test_accuracy[m] if improved else None
        if improved:
            progress.best[m].test_accuracy = test
        records[m] = EpochRecord(measured.epoch, measured.train_cost[m], measured.validation[m], test,
                                 progress.eta[m], measured.seconds,
                                 **{key: values[m] for key, values in measured.diagnostics.items()})
        progress.history[m].append(measured.validation[m])
        if isinstance(config.schedule, HalvingSchedule):
            start = members[m].eta
            progress.eta[m], progress.plateau[m], exhausted = halve_on_plateau(
                config.schedule, progress.eta[m], start, progress.plateau[m], improved)
            if exhausted:
                reasons[m] = (f"eta fell to {progress.eta[m]:.3g}, {config.schedule.stop_ratio:.3g} of its start "
                              f"{start:g}")
        reasons[m] = reasons[m] or stop_reason(config.early_stopping, progress.best[m].stale, progress.history[m])
        if reasons[m]:
            progress.status[m] = EARLY_STOPPED
    return records, reasons
