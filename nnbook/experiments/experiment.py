"""One experiment, top to bottom: load data -> build model -> train(on_epoch=log) -> finish.

Ties the pieces together for `nnbook train`: a config becomes one run
directory per seed (`repeats`), trained together as the members of one
`StackedNet` (or one at a time with `sequential`). `resume_experiment` takes
the same path from a `ResumePlan` (resume.py) instead of a fresh model.

While a stack trains, SIGINT and SIGTERM stop it cleanly (interrupts.py): the
epoch's files are written whole, the runs are marked `interrupted` and the
message says how to resume. Any other failure (a full disk, a failed write, out
of memory, an exception in a callback) ends the same way in `TrainingFailed`
(failures.py names the cause and the remedy): every completed epoch is kept, the
runs are marked `failed` with the cause as `error` where summary.json can still
be written (where it cannot, it says `running` with the lock free, which readers
see as `stopped`), and `--resume` continues them once the cause is fixed.

The rules for what a run's files hold after each epoch are the run's own
(`Run.record_epoch`, runs/directory.py); what is shown goes to a `Display` that the
command passes in (display.py). This module loads torch (through nn/ and training/):
what only plans or watches training (a sweep's plan, `nnbook --help`) imports
display.py and nnbook/errors.py instead.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from nnbook.config import PER_MEMBER, Config, dump_config, run_config, seeds_of, stack_key
from nnbook.data import mnist
from nnbook.errors import ConfigError, Diverged, Interrupted, NnbookError
from nnbook.experiments.display import Display, RunResult
from nnbook.experiments.failures import TrainingFailed, describe_failure, remedy
from nnbook.experiments.interrupts import ForcedExit, Interrupt, catch_interrupts
from nnbook.experiments.resume import ResumePlan, check_same_data, check_same_device, restored_progress
from nnbook.nn.net import build_model, torch_dtype
from nnbook.records import COMPLETED, DIVERGED, FAILED, INTERRUPTED, EpochRecord
from nnbook.runs.directory import Run, check_runs_dir, config_file
from nnbook.runs.layout import Dirs
from nnbook.runs.records import Summary, environment
from nnbook.stacks import in_stacks
from nnbook.training.devices import resolve_device, to_device
from nnbook.training.loop import StackSpec, train
from nnbook.training.monitor import evaluate_test


@dataclass(frozen=True)
class Source:
    """Where an experiment's config and data come from, beyond `Dirs`: bundled, as they travel together."""

    name: str = "config"  # the config as messages name it: its file, or its name in a chapter or sweep
    dataset: Any = None  # an already loaded data.Dataset for config.data (shared by configs), left intact


@dataclass(frozen=True)
class StackRuns:
    """A stack: runs trained together as the members of one net, and where their training starts."""

    runs: list[Run]  # their directories, in member order
    members: list[Config]  # each run's own resolved config
    progress: Any = None  # the restored training state when resuming (resume.restored_progress), else None
    histories: list[list[EpochRecord]] = field(default_factory=list)  # each run's epochs so far ([]: none)


def train_experiment(config: Config, dirs: Dirs, display: Display, source: Source = Source(),
                     members: Optional[list[Config]] = None, stack: Optional[int] = None) -> list[RunResult]:
    """`source`: the config's name in messages, and its data when already loaded. `members`: the
    runs to train, each its own resolved config (name, seed, eta, lmbda, mu: sweep points packed
    into one stack), all with `config`'s stack_key; by default the config's repeats. They train as
    one stack, or in stacks of at most `stack` one after another (1: one at a time)."""
    runs_dir = dirs.runs_dir
    check_runs_dir(runs_dir)  # before minutes of data loading, not after
    device = resolve_device(config.device)
    with catch_interrupts() as interrupts:
        runs: list[Run] = []  # the stack being set up, for the message if a signal comes before it trains
        try:
            dataset, tensors, n_train = load_data(config, device, dirs.data_dir, source.name, source.dataset)
            env = environment(device)
            members = members or [run_config(config, s) for s in seeds_of(config)]
            check_stackable(config, members)
            stacks = in_stacks(members, stack or len(members))
            display.start(config, n_train, env, members, len(stacks))

            results = []
            for stack_members in stacks:
                runs = []
                net = build_model(config, [m.seed for m in stack_members]).to(device)
                stamp = time.strftime("%Y%m%d-%H%M%S")
                for m in stack_members:
                    runs.append(Run.create(runs_dir, dump_config(m),
                                           Summary(name=m.name, seed=m.seed, data=dataset.source,
                                                   test_sha256=dataset.test_sha256, **env), stamp))
                for run in runs:  # the runs trained together, resumed together (resume.py); the key stays
                    run.update(group=[r.path.name for r in runs])  # `group`: summary.json is a file format
                display.runs_created([r.path for r in runs])
                results += train_stack_runs(config, net, tensors, StackRuns(runs, stack_members), display, interrupts)
        except Interrupt as stop:  # loading the data or making a stack's directories
            raise stopped_before_training(stop, runs) from None
        except NnbookError as error:  # a config mistake, a lock refused; train_stack_runs's are marked already
            mark(runs, FAILED, error=describe_failure(error))
            raise
        except Exception as error:  # noqa: BLE001 - one line for any failure, e.g. no memory for the data
            raise failed_before_training(error, runs, "nothing was trained", "train it again") from error
        finally:
            for run in runs:
                run.unlock()
    display.finish(results)
    return results


def resume_experiment(plan: ResumePlan, dirs: Dirs, display: Display) -> list[RunResult]:
    """Continue `plan.runs` from `plan.epoch` completed epochs, in place: `dirs.runs_dir` is the folder they
    are in, `dirs.data_dir` where the data are searched first."""
    config = plan.config
    with catch_interrupts() as interrupts:
        try:
            device = resolve_device(config.device)
            check_same_device(plan, device)
            dataset, tensors, n_train = load_data(config, device, dirs.data_dir, str(config_file(plan.runs[0].path)))
            check_same_data(plan, dataset)
            display.start(config, n_train, environment(device), plan.configs, 1)
            display.runs_created([r.path for r in plan.runs])
            display.print(f"Resuming after epoch {plan.epoch} of {config.epochs}" if plan.epoch
                          else "Resuming from the start (no epoch had been completed)")

            net = build_model(config, plan.seeds).to(device)
            progress = restored_progress(net, plan)  # None when no epoch was completed
            stack = StackRuns(plan.runs, plan.configs, progress, plan.histories)
            results = train_stack_runs(config, net, tensors, stack, display, interrupts)
        except Interrupt as stop:  # loading the data or restoring the checkpoints
            raise stopped_before_training(stop, plan.runs) from None
        except NnbookError:  # a wrong device or data: the runs stay as plan_resume left them, resumable
            raise
        except Exception as error:  # noqa: BLE001 - as in train_experiment
            raise failed_before_training(error, plan.runs, f"{saved_epochs(plan.epoch)} as before",
                                         resume_hint(plan.runs)) from error
        finally:
            for run in plan.runs:
                run.unlock()
    display.finish(results)
    return results


def check_first(config: Config, data_dir, source: str) -> list[str]:
    """What training checks before it trains, checked without training or reading a large data
    file whole (`nnbook train --dry-run`): the device exists, the data file is there and in the
    book's format. Raises what training would raise; returns lines naming the device and the data."""
    device = resolve_device(config.device)
    return [f"device: {device}", f"data: {mnist.check(config.data, data_dir, source=source)}"]


def load_data(config: Config, device, data_dir, source: str, dataset=None):
    """The dataset and its splits on `device`. Returns (dataset, tensors, n_train).
    A dataset loaded here has its training images dropped from host memory once
    copied; a `dataset` passed in (shared by several configs) is left intact."""
    shared = dataset is not None
    if not shared:
        dataset = mnist.load(config.data, data_dir, source=source)
    n_train = min(config.train_limit or len(dataset.training), len(dataset.training))
    if config.mini_batch_size > n_train:  # the one check (the loop relies on it): before any run directory is made
        raise ConfigError(f"{source}: mini_batch_size = {config.mini_batch_size} is larger than the "
                          f"{n_train} training images")
    tensors = to_device(dataset, device, config.train_limit, torch_dtype(config))
    if not shared:
        del dataset.training  # the device copy is the one used from here on
    return dataset, tensors, n_train


def train_stack_runs(config: Config, net, tensors, stack: StackRuns, display: Display,
                     interrupts) -> list[RunResult]:
    """Train the members of `net` (one per run of `stack`) and write each epoch to their run
    directories; from `stack.progress` and `stack.histories` when resuming. `interrupts`: the
    installed signal handlers (interrupts.catch_interrupts)."""
    runs, members, progress = stack.runs, stack.members, stack.progress
    for run, member, history in zip(runs, members, stack.histories or [[] for _ in runs]):
        run.begin_training(member.model_dump(mode="json"), history)
    done = [progress.epoch if progress else 0]  # epochs completed, for the message if interrupted

    def on_epoch(report) -> None:
        with interrupts.protected():  # a first signal waits until the epoch's files are written
            for m, run in enumerate(runs):
                run.record_epoch(report.member(m))
            done[0] = report.epoch
            display.epoch(report)

    display.begin_training()
    try:
        try:
            train(net, StackSpec(config, [m.seed for m in members], members, progress), tensors, on_epoch,
                  on_progress=display.progress)
            with interrupts.protected():
                save_last_predictions(net, runs, tensors)
                for run in runs:
                    run.finish(COMPLETED)
        except Interrupt as stop:
            n = done[0]
            raise Interrupted(f"interrupted by {stop} in epoch {n + 1}: {saved_epochs(n)} in "
                              f"{', '.join(str(r.path) for r in runs)}{mark(runs, INTERRUPTED)}; "
                              f"{resume_hint(runs)}", stop.exit_code) from None
        except NnbookError as error:  # already one line that says what to do
            mark(runs, FAILED, error=str(error))
            raise
        except Exception as error:  # noqa: BLE001 - a full disk, out of memory, a callback's exception, ...
            n = done[0]
            when = f"in epoch {n + 1}" if n < config.epochs else "after its last epoch"
            cause = describe_failure(error)
            raise TrainingFailed(f"training failed {when}: {cause}; {saved_epochs(n)} in "
                                 f"{', '.join(str(r.path) for r in runs)}{mark(runs, FAILED, error=cause)}; "
                                 f"{remedy(error)}, then {resume_hint(runs)}", cause) from error
    except ForcedExit as forced:
        forced.hint = resume_hint(runs)  # the CLI prints it; nothing more is written
        raise
    finally:
        display.end_training()
        for run in runs:
            run.unlock()
    return [RunResult(run.path, run.summary) for run in runs]


def check_stackable(config: Config, members: list[Config]) -> None:
    """Members of one stack differ only in what the update rule takes per member (stack_key)."""
    key = stack_key(config)
    for m in members:
        if stack_key(m) != key:
            raise ConfigError(f"{m.name} (seed {m.seed}) cannot train in one stack with {config.name}: they differ "
                              f"in more than {', '.join(k for k in PER_MEMBER if k != 'repeats')}")


def save_last_predictions(net, runs: list[Run], tensors) -> None:
    """Each member's test probabilities as it stands after its last epoch (a member that stopped
    early is frozen there; a diverged one has none), for `nnbook ensemble --weights last`."""
    probabilities, _ = evaluate_test(net, tensors)
    for m, run in enumerate(runs):
        if run.summary.status != DIVERGED:
            run.save_last_predictions(probabilities[m].cpu().numpy())


def saved_epochs(n: int) -> str:
    return f"epochs 1-{n} are saved" if n > 1 else "epoch 1 is saved" if n else "no epoch was completed"


def mark(runs: list[Run], status: str, **fields) -> str:
    """End the runs still `running` with `status`, as far as the disk lets: "" when every
    summary.json was written, else a note for the message (those still say `running`,
    with their lock free, which readers see as `stopped`)."""
    unwritten = []
    for run in runs:
        try:
            run.finish(status, **fields)
        except OSError:
            unwritten.append(run.path.name)
    if not unwritten:
        return ""
    which = "" if len(runs) == 1 else f" of {', '.join(unwritten)}"
    them = "it" if len(unwritten) == 1 else "them"
    return f" (summary.json{which} could not be updated: report and resume see {them} as stopped)"


def stopped_before_training(stop: Interrupt, runs: list[Run]) -> Interrupted:
    """The error for a signal that came before `runs` began (another epoch of) training."""
    note = mark(runs, INTERRUPTED)
    then = f"; {resume_hint(runs)}" if runs else "; nothing was trained"
    return Interrupted(f"interrupted by {stop} before training began{note}{then}", stop.exit_code)


def failed_before_training(error: Exception, runs: list[Run], kept: str, then: str) -> TrainingFailed:
    """The error for a failure before `runs` began (another epoch of) training, e.g. out of
    memory moving the data to the GPU; `kept` says what stays, `then` how to go on."""
    cause = describe_failure(error)
    note = mark(runs, FAILED, error=cause)
    return TrainingFailed(f"training failed before it began: {cause}; {kept}{note}; {remedy(error)}, then {then}",
                          cause)


def resume_hint(runs: list[Run]) -> str:
    together = f" (it resumes all {len(runs)} runs trained together)" if len(runs) > 1 else ""
    return f"resume with: nnbook train --resume {shlex.quote(str(runs[0].path))}{together}"


def raise_if_diverged(results: list[RunResult], config: Config) -> None:
    """For `nnbook train`: a diverged run is a failure of the command (exit 1). A sweep
    calls train_experiment too, and counts a diverged point as a result, not an error."""
    diverged = [r for r in results if r.summary.status == DIVERGED]
    if diverged:
        where = ", ".join(f"{r.path} in epoch {r.summary.diverged_in_epoch or '?'}" for r in diverged)
        raise Diverged(f"diverged (the cost became NaN or infinite): {where}; the completed epochs and the "
                       f"best model so far are kept; try a smaller eta, e.g. --set eta={config.eta / 4:g} "
                       f"(this run used eta = {config.eta:g})")
