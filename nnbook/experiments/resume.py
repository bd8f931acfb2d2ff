"""`nnbook train --resume RUN_DIR`: continue a stopped run in its own directory.

A run stopped by Ctrl-C, SIGTERM, SIGKILL or a power cut is continued from its
last completed epoch and, on the CPU, ends with exactly the metrics, model and
predictions an uninterrupted run would have produced (timings aside):
checkpoint.pt holds the weights, every random generator's state, the
best-so-far bookkeeping, the metrics history and the config trained with
(training/checkpoint.py says what it holds; runs/directory.Run.record_epoch writes it).

What is resumed is the run's stack: runs trained together in one stacked
model (`repeats`, not --sequential) are resumed together, because a member's
arithmetic is bitwise the same only with the same number of members beside
it. Members are checkpointed one after another, so a kill can leave them one
epoch apart; runs/directory.py keeps the previous checkpoint too, and the newest epoch
that every member has is the one resumed.

`plan_resume` locks the stack's runs first and reads them only then, so that
no other process can change them between reading and resuming: with the locks
held, a status of `running` is known to be stale (its process was killed, or
its disk too full to say why it stopped) and is resumed like `interrupted`,
`stopped` or `failed`. It checks everything and only then repairs the
directory: metrics.jsonl and summary.json are rewritten from the chosen
checkpoint (a kill can leave them an epoch behind it; `error` is cleared).
The config must be the one the run was trained with; `--force` accepts changes
other than the layers, the seed and repeats, and records them. More epochs
(`--set epochs=N`) need no --force, for a finished run too, wherever the longer run's
protocol continues from the checkpoint (`why_not_longer` says where it does not):
the run then ends as if it had been trained for N epochs from the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nnbook.config import Config, GeometricSchedule, HalvingSchedule, dump_config
from nnbook.config.identity import NOT_IDENTITY
from nnbook.errors import ConfigError, NnbookError
from nnbook.files import is_held
from nnbook.records import COMPLETED, DIVERGED, EARLY_STOPPED, FINISHED, NOTHING_LEFT, RUNNING, EpochRecord
from nnbook.runs.directory import CONFIG, LOCK, SUMMARY, Run, config_file, is_run_dir, read_config
from nnbook.training.checkpoint import (MemberCheckpoint, at_epoch, member_checkpoints, metrics_of, restore_progress,
                                        trained_config)
from nnbook.training.progress import Progress

# Keys that cannot change on resume, even with --force: the saved weights have
# the old layers' shapes, and a run's seed and repeat count are what it is.
FIXED = ("layers", "seed", "repeats", "dtype")
# What a resume does not list as a change: what is not the experiment's identity (config/identity.py),
# except what resume must still see: the FIXED keys (a new seed or repeats is refused) and the name
# (a renamed config is a change that --force accepts and records). That leaves where the run trains;
# a change of device type is checked on its own (check_same_device).
NOT_COMPARED = tuple(k for k in NOT_IDENTITY if k not in FIXED + ("name",))


@dataclass
class ResumePlan:
    config: Config  # the stack's config: its first member's (members differ only in config.PER_MEMBER keys)
    runs: list[Run]  # the stack's runs, in member order, locked by this process (unless finished)
    seeds: list[int]
    epoch: int  # completed epochs to continue from; 0: start again from the initial weights
    saved: Optional[list[MemberCheckpoint]]  # per member: the checkpoint at `epoch` (None when epoch is 0)
    changes: list[str] = field(default_factory=list)  # accepted with --force, "key: old -> new"
    finished: Optional[str] = None  # set when there is nothing to do: what to tell the user
    configs: list[Config] = field(default_factory=list)  # each member's own, in member order

    @property
    def histories(self) -> Optional[list[list[EpochRecord]]]:
        """Per member: the metrics of the epochs before `epoch` (None when starting again)."""
        if not self.saved:
            return None
        return [metrics_of(saved) for saved in self.saved]


def plan_resume(run_dir: Path, overrides: list[str] = (), force: bool = False) -> ResumePlan:
    """Check that `run_dir` can be resumed as asked, and bring its files in line with
    its checkpoint. Raises ConfigError/NnbookError saying why not."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"--resume {run_dir}: no such run directory")
    if not is_run_dir(run_dir):
        raise ConfigError(f"--resume {run_dir}: not a run directory (no {SUMMARY} and {CONFIG} in it); "
                          "give a directory made by nnbook train, e.g. runs/NAME-YYYYmmdd-HHMMSS")
    finished = [] if overrides else finished_stack(run_dir)
    if finished:  # nothing asked of it: said without a lock, so a finished run on a read-only share says so too
        return ResumePlan(None, finished, [], 0, None, finished=finished_message(finished))
    runs = stack_of(Run.open_locked(run_dir))
    try:
        return plan_locked(run_dir, runs, overrides, force)
    except BaseException:
        for run in runs:
            run.unlock()
        raise


def plan_locked(run_dir: Path, runs: list[Run], overrides: list[str], force: bool) -> ResumePlan:
    """plan_resume, once `runs` (the stack) are locked by this process."""
    statuses = [run.summary.status for run in runs]
    finished = all(s in FINISHED for s in statuses)
    if not finished and all(s in NOTHING_LEFT for s in statuses):
        diverged = next(run for run in runs if run.summary.status == DIVERGED)
        eta = read_config(diverged.path).eta
        raise NnbookError(f"{diverged.path} diverged in epoch {diverged.summary.diverged_in_epoch or '?'} "
                          "(the cost became NaN or infinite); resuming would diverge again. Start a new run "
                          f"with a smaller eta: nnbook train {config_file(diverged.path)} --set eta={eta / 4:g}")

    saved_lists = [member_checkpoints(run.load_checkpoints()) for run in runs]
    configs, changes, trained_epochs = [], [], None
    for run, saved in zip(runs, saved_lists):
        config, trained = resumed_config(run, saved, overrides)
        configs.append(config)
        changes = changes or config_changes(trained, config.model_dump(mode="json"))
        trained_epochs = trained_epochs or trained["epochs"]
    longer = f"epochs: {trained_epochs} -> {configs[0].epochs}" if configs[0].epochs > trained_epochs else None
    why_not = longer and why_not_longer(configs[0], saved_lists)
    if finished:
        if not longer:
            for run in runs:
                run.unlock()  # nothing will be written
            return ResumePlan(None, runs, [], 0, None, finished=finished_message(runs))
        if why_not:
            raise ConfigError(f"--resume {run_dir} --set epochs={configs[0].epochs}: cannot continue it, "
                              f"{why_not}")
    # More epochs need no --force where the protocol continues (why_not_longer): the result is the longer run's.
    refuse_changes(run_dir, [c for c in changes if c != longer or why_not], force)
    epoch, saved = common_epoch(runs, saved_lists)

    repair(runs, configs, saved, epoch, changes)
    return ResumePlan(configs[0], runs, [c.seed for c in configs], epoch, saved if epoch else None, changes,
                      configs=configs)


def finished_stack(run_dir: Path) -> list[Run]:
    """The runs trained together with `run_dir` (its stack), read without taking their locks, where
    every one is finished and no process holds one (a finished run changes only when a resume asks it
    for more epochs, which holds its lock); else none."""
    names = Run.open(run_dir).summary.group or [run_dir.name]  # summary.json names the stack `group`
    paths = [run_dir.parent / name for name in names]
    if not all(is_run_dir(p) for p in paths) or any(is_held(p / LOCK) for p in paths):
        return []
    runs = [Run.open(p) for p in paths]
    return runs if all(run.summary.status in FINISHED for run in runs) else []


def stack_of(run: Run) -> list[Run]:
    """The runs trained together with `run` (locked), its stack, in member order, each locked by
    this process before it is read (itself alone for older runs). On failure none stays locked."""
    names = run.summary.group or [run.path.name]  # summary.json's key for the stack: `group`, a file format
    paths = [run.path.parent / name for name in names]
    missing = [str(p) for p in paths if not is_run_dir(p)]
    stack = [run]
    try:
        if missing:
            raise NnbookError(f"{run.path} was trained together with {', '.join(missing)}, which "
                              f"{'is' if len(missing) == 1 else 'are'} missing or not a run directory any more; "
                              "the stack can only be resumed whole")
        for p in paths:
            if p != run.path:
                stack.append(Run.open_locked(p))
    except BaseException:
        for member in stack:
            member.unlock()
        raise
    return [run if p == run.path else next(m for m in stack if m.path == p) for p in paths]


def finished_message(runs: list[Run]) -> str:
    parts = []
    for run in runs:
        s = run.summary
        test = s.test_accuracy
        result = f"; test {100 * test:.2f}% at the best validation epoch {s.best_epoch}" if test else ""
        parts.append(f"{run.path}: already {(s.status or '').replace('_', ' ')} ({s.epochs_completed} epochs{result})")
    longer = ""
    if any(run.summary.status == COMPLETED for run in runs):
        n = max(run.summary.epochs_completed for run in runs)
        longer = f" (to train it longer: nnbook train --resume {runs[0].path} --set epochs=N, N > {n})"
    return "; ".join(parts) + "; nothing to resume" + longer


def why_not_longer(config: Config, saved_lists: list[list[MemberCheckpoint]]) -> Optional[str]:
    """Why training a stack for more epochs than it was trained for would not give the longer
    run's result, or None where it does. It does where every schedule and rule decides an epoch
    from the epochs before it alone (steps, list, halving, early stopping: the checkpoint holds
    their state): a member that stopped early stays stopped, as it would have in the longer run,
    and the others go on. It does not where an epoch's eta depends on the total (geometric), nor
    where every member has stopped already (nothing would train)."""
    if isinstance(config.schedule, GeometricSchedule):
        return (f"its geometric schedule brings eta to eta_end = {config.schedule.eta_end:g} at the last epoch, so "
                "every epoch's eta depends on how many epochs there are; train a new run for the longer schedule")
    newest = [saved[0] for saved in saved_lists if saved]
    if newest and all(s.get("status") == EARLY_STOPPED for s in newest):
        s = newest[0]
        halving = config.schedule if isinstance(config.schedule, HalvingSchedule) else None
        if halving and s["eta"] <= halving.stop_ratio * config.eta * (1 + 1e-9):
            why = (f"its halving schedule, exhausted (eta fell to {s['eta']:.3g}, stop_ratio "
                   f"{halving.stop_ratio:g} of its start),")
        elif config.early_stopping is not None:
            why = f"its early_stopping rule ({config.early_stopping.rule}, patience {config.early_stopping.patience})"
        else:
            why = "its halving schedule"
        every = "every run of the stack" if len(newest) > 1 else "the run"
        return (f"{every} stopped early in epoch {s['epoch']}: {why} ended it, as it would have ended a longer "
                "run; nothing would train")
    return None


def resumed_config(run: Run, saved: list[MemberCheckpoint], overrides: list[str]) -> tuple[Config, dict]:
    """The config to continue with (config.yaml plus `overrides`) and the one the run was trained
    with, as JSON (the checkpoint's; config.yaml's before any epoch)."""
    config = read_config(run.path, overrides)
    trained = (trained_config(saved[0]) if saved else None) or read_config(run.path).model_dump(mode="json")
    return config, trained


def config_changes(old: Any, new: Any, key: str = "") -> list[str]:
    """Every difference between two config dicts, as 'key: old -> new' with dotted keys."""
    if isinstance(old, dict) and isinstance(new, dict):
        changes = []
        for k in list(new) + [k for k in old if k not in new]:
            if key == "" and k in NOT_COMPARED:
                continue
            changes += config_changes(old.get(k, "(absent)"), new.get(k, "(absent)"), f"{key}.{k}" if key else k)
        return changes
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new)) for c in config_changes(a, b, f"{key}.{i}")]
    return [] if old == new else [f"{key}: {_show(old)} -> {_show(new)}"]


def _show(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def refuse_changes(run_dir: Path, changes: list[str], force: bool) -> None:
    if not changes:
        return
    listed = ", ".join(changes)
    fixed = [c for c in changes if c.split(".")[0].split(":")[0] in FIXED]
    if fixed:
        raise ConfigError(f"--resume {run_dir}: {', '.join(fixed)} cannot change when resuming (the saved "
                          "weights and random streams belong to the old values); train a new run instead")
    if not force:
        raise ConfigError(f"--resume {run_dir}: the config differs from the one the run was trained with "
                          f"({listed}); resume without changes, or add --force to continue with the new values")


def common_epoch(runs: list[Run], saved_lists: list[list[MemberCheckpoint]]) -> tuple[int, list[MemberCheckpoint]]:
    """The newest epoch every member can continue from, and each member's checkpoint for it.
    A member that stopped (early_stopped, diverged) before that epoch continues from its
    last checkpoint: it is frozen and only has to keep its place in the stack."""

    def pick(saved: list[MemberCheckpoint], epoch: int) -> Optional[MemberCheckpoint]:
        for s in saved:
            if s["epoch"] == epoch:
                return s
        for s in saved:
            if s.get("status") is not None and s["epoch"] <= epoch:
                return at_epoch(s, epoch)
        return None

    for epoch in sorted({s["epoch"] for saved in saved_lists for s in saved}, reverse=True):
        chosen = [pick(saved, epoch) for saved in saved_lists]
        if all(c is not None for c in chosen):
            return epoch, chosen
    return 0, [{} for _ in runs]  # no epoch that all members completed: start again


def repair(runs: list[Run], configs: list[Config], saved: list[MemberCheckpoint], epoch: int,
           changes: list[str]) -> None:
    """Bring metrics.jsonl and summary.json in line with the checkpoint resumed from
    (and config.yaml with the accepted changes)."""
    for run, config, s in zip(runs, configs, saved):
        history = metrics_of(s) if epoch else []
        best = s.get("best") or {}
        run.remove_temporary_files()
        run.rewrite_metrics(history)
        resumed_with_changes = run.summary.resumed_with_changes
        if changes:
            run.write_config(dump_config(config))
            resumed_with_changes = (resumed_with_changes or []) + changes
        run.update(status=s.get("status") or RUNNING, epochs_completed=len(history),
                   best_validation_accuracy=best.get("validation_accuracy") if best.get("epoch") else None,
                   best_epoch=best.get("epoch"), test_accuracy=best.get("test_accuracy"),
                   seconds=round(sum(row.seconds for row in history), 3),
                   resumed_with_changes=resumed_with_changes, diverged_in_epoch=None, error=None)


# ----------------------------------------------------------------------------- checks once the data are loaded


def check_same_device(plan: ResumePlan, device) -> None:
    trained_on = str(plan.runs[0].summary.device or device)
    if trained_on.split(":")[0] != device.type:
        raise ConfigError(f"--resume {plan.runs[0].path}: the run was trained on {trained_on} and would resume "
                          f"on {device}, whose random streams differ; resume with --device {trained_on}")


def check_same_data(plan: ResumePlan, dataset) -> None:
    trained = plan.runs[0].summary.test_sha256
    if trained and trained != dataset.test_sha256:
        raise NnbookError(f"--resume {plan.runs[0].path}: {dataset.source} is not the data the run was trained on "
                          "(its test images differ); point --data-dir at the run's data")


def restored_progress(net, plan: ResumePlan) -> Optional[Progress]:
    """The members' checkpoints loaded into `net`, and the Progress to continue from (None:
    train from the start)."""
    if not plan.saved:
        return None
    progress = restore_progress(net, plan.saved)
    if any(c.startswith("eta:") for c in plan.changes):  # --force with a new eta: the members still training
        progress.eta = [c.eta if s is None else e for c, s, e in zip(plan.configs, progress.status, progress.eta)]
    return progress
