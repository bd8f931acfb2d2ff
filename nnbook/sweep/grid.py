"""Grid sweeps: a config with a `sweep:` block becomes points, each point ordinary runs.

A sweep config is an ordinary experiment config plus a grid:

    sweep:
      lmbda: [0.0, 1.0e-5, 1.0e-4]      # any key, dotted paths reach into lists:
      layers.2.units: [100, 300]        # the same paths as `--set`

The grid is the product of the lists, in the order written. Each point is the
config with those keys set, named `<name>@<key>=<value>[,<key>=<value>...]`
(so `nnbook report`, which groups runs by name, groups them by point), and
trains `repeats` runs (seeds seed, seed+1, ...) into ordinary run directories.

A rerun skips the runs already done: a run directory whose summary has the
point's name and seed, a finished status, and the same resolved config (the
device aside). An interrupted sweep therefore resumes where it stopped.

This module owns the grid, the point names, the plan (what is left to train),
the local executor and the grid table and plot. The Ray executor lives in
`sweep_ray.py`; both hand each batch of runs to `experiment.train_experiment`,
which trains the seeds of one point together as one `StackedNet`. Points are
trained one after another (each point may change any key, so points share no
model); with several visible GPUs the local executor trains one point per GPU.

torch is imported only where a point is trained; ray only by the Ray executor.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import yaml
from pydantic import ValidationError

from nnbook.config import Config, apply_override, read_yaml, set_key, validate
from nnbook.errors import ConfigError, NnbookError
from nnbook.runs.directory import CONFIG, FINISHED, SUMMARY, Run, is_run_dir

# Keys a grid may not sweep: the name is the point's, repeats are the point's runs.
RESERVED = ("name", "repeats", "sweep")
# A diverged run is a result too (that point's eta or lmbda is too large); training
# it again would diverge again, so a rerun skips it as it skips finished runs.
DONE = FINISHED + ("diverged",)
INTERRUPTED = ("sweep interrupted; finished runs are kept: run the same `nnbook sweep` again to train "
               "only what is left")
# PyYAML reads YAML 1.1, where `1e-5` (no dot) is a string, not a float.
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


# ----------------------------------------------------------------------------- the grid


@dataclass
class Point:
    values: dict[str, Any]  # swept key -> value, in the grid's order
    config: Config  # the point's resolved config: its own name, all its repeats

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def label(self) -> str:
        return point_label(self.values)

    @property
    def seeds(self) -> list[int]:
        return [self.config.seed + i for i in range(self.config.repeats)]


@dataclass
class Sweep:
    name: str  # the base config's name; points are `<name>@<label>`
    source: str  # the config file
    keys: list[str]
    points: list[Point]

    @property
    def n_runs(self) -> int:
        return sum(len(p.seeds) for p in self.points)


def load_sweep(path: str | Path, overrides: list[str] = (), grid: list[str] = (),
               repeats: Optional[int] = None) -> Sweep:
    """Read a config, its `sweep:` block and `--grid` options; validate every point
    before anything trains, so a bad value at point 9 is found at once."""
    path = Path(path)
    source = str(path)
    raw = read_yaml(path)
    axes = read_grid(raw.pop("sweep", None), source)
    for option in grid:  # --grid replaces that key's values from the file, or adds a key
        key, values = parse_grid_option(option)
        axes[key] = values
    if not axes:
        raise ConfigError(f"{source}: no `sweep:` block and no --grid; give the grid, e.g. "
                          "--grid lmbda=0,0.1,1 (repeat --grid for more keys)")
    raw.setdefault("name", path.stem)
    for assignment in overrides:
        key = assignment.partition("=")[0].strip()
        if key in axes:
            raise ConfigError(f"--set {key}: {key} is swept; change its values with --grid {key}=V1,V2,...")
        apply_override(raw, assignment)
    if repeats is not None:
        raw["repeats"] = repeats
    base = str(raw["name"])

    points, names = [], {}
    for combo in itertools.product(*axes.values()):
        values = dict(zip(axes, combo))
        label = point_label(values)
        point_raw = copy.deepcopy(raw)
        point_raw["name"] = f"{base}@{label}"
        for key, value in values.items():
            set_key(point_raw, key, copy.deepcopy(value), origin=f"{source}: sweep.{key}")
        config = validate(point_raw, source=f"{source} (sweep point {label})")
        if config.name in names:
            raise ConfigError(f"{source}: sweep points {names[config.name]} and {label} would share the run name "
                              f"{config.name!r}; remove the duplicate value")
        names[config.name] = label
        points.append(Point(values, config))
    return Sweep(base, source, list(axes), points)


def read_grid(block: Any, source: str) -> dict[str, list]:
    if block is None:
        return {}
    if not isinstance(block, dict):
        raise ConfigError(f"{source}: sweep must map keys to lists of values, e.g. sweep: {{lmbda: [0.0, 0.1, 1.0]}}")
    axes = {}
    for key, values in block.items():
        key = str(key)
        check_key(key, f"{source}: sweep.{key}")
        if not isinstance(values, list):
            raise ConfigError(f"{source}: sweep.{key} = {values!r}: must be a list of values, e.g. [{values}, ...]")
        if not values:
            raise ConfigError(f"{source}: sweep.{key} is empty; give at least one value")
        axes[key] = [as_number(v) for v in values]
    return axes


def parse_grid_option(option: str) -> tuple[str, list]:
    """`--grid KEY=V1,V2,...`: each value is YAML (`--grid early_stopping={patience: 5},null` works)."""
    key, sep, text = option.partition("=")
    key = key.strip()
    if not sep or not key or not text.strip():
        raise ConfigError(f"--grid {option!r}: expected KEY=V1,V2,..., e.g. --grid lmbda=0,1e-5,0.1")
    check_key(key, f"--grid {key}")
    try:
        values = yaml.safe_load(f"[{text}]")
    except yaml.YAMLError:
        raise ConfigError(f"--grid {option!r}: the values {text!r} are not a comma-separated YAML list") from None
    return key, [as_number(v) for v in values]


def check_key(key: str, where: str) -> None:
    if key in RESERVED:
        raise ConfigError(f"{where}: {key!r} cannot be swept (the name is the point's; use --repeats for seeds)")


def as_number(value: Any) -> Any:
    return float(value) if isinstance(value, str) and NUMBER.fullmatch(value.strip()) else value


def format_value(value: Any) -> str:
    """A value as it appears in a run name: short, exact, safe in a file name."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, float):
        text = repr(value).removesuffix(".0")  # 0.1, 1e-05, 100
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        text = json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", text).strip("_") or "_"  # {"patience":2} -> patience_2


def point_label(values: dict[str, Any]) -> str:
    return ",".join(f"{key}={format_value(value)}" for key, value in values.items())


# ----------------------------------------------------------------------------- the plan


@dataclass
class Job:
    """One batch of runs: seeds of one point that train together as one StackedNet."""

    point: Point
    seeds: list[int]  # consecutive

    @property
    def config(self) -> Config:
        return self.point.config.model_copy(update={"seed": self.seeds[0], "repeats": len(self.seeds)})

    @property
    def seeds_text(self) -> str:
        return str(self.seeds[0]) if len(self.seeds) == 1 else f"{self.seeds[0]}-{self.seeds[-1]}"


def experiment_of(config: Config) -> dict:
    """What a run was asked to do: its resolved config without `device` (where it
    trained does not change the experiment, and a Ray worker may pick another)."""
    return config.model_copy(update={"repeats": 1}).model_dump(mode="json", exclude={"device"})


def done_runs(sweep: Sweep, runs_dir: Path) -> dict[tuple[str, int], Path]:
    """(point name, seed) -> the run directory that already did it (the latest, if several)."""
    points = {p.name: p for p in sweep.points}
    found: dict[tuple[str, int], Path] = {}
    if not Path(runs_dir).is_dir():
        return found
    for path in sorted(Path(runs_dir).iterdir()):  # names end in a timestamp: sorted is oldest first
        if not is_run_dir(path):
            continue
        try:
            summary = json.loads((path / SUMMARY).read_text())
            point = points.get(summary.get("name"))
            if point is None or summary.get("status") not in DONE:
                continue
            seed = summary.get("seed")
            asked = experiment_of(point.config.model_copy(update={"seed": seed}))
            if experiment_of(Config.model_validate(yaml.safe_load((path / CONFIG).read_text()))) == asked:
                found[(point.name, seed)] = path
        except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError, ValidationError):
            continue  # unreadable, or an older schema: not a match, so it is trained again
    return found


def plan(sweep: Sweep, runs_dir: Path) -> tuple[list[Job], dict[tuple[str, int], Path]]:
    """The jobs still to train (one per point, or one per gap in its seeds) and the runs already done."""
    done = done_runs(sweep, runs_dir)
    jobs = []
    for point in sweep.points:
        todo = [s for s in point.seeds if (point.name, s) not in done]
        for _, group in itertools.groupby(enumerate(todo), key=lambda pair: pair[1] - pair[0]):
            jobs.append(Job(point, [s for _, s in group]))
    return jobs, done


# ----------------------------------------------------------------------------- training one job


@dataclass
class Outcome:
    job: Job
    paths: list[Path]  # the run directories it wrote, under the local runs directory
    error: Optional[str] = None  # None: trained (completed, early stopped or diverged)
    where: str = ""  # the machine, for the Ray executor


class _RecordingDisplay:
    """A TrainDisplay that also remembers the run directories made, to mark them failed."""

    def __init__(self, inner):
        self.inner = inner
        self.paths: list[Path] = []

    def runs_created(self, paths) -> None:
        self.paths.extend(paths)
        self.inner.runs_created(paths)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def describe_failure(error: BaseException) -> str:
    if isinstance(error, NnbookError):
        return str(error)
    return f"{type(error).__name__}: {error}".splitlines()[0]


def train_job(config: Config, runs_dir: Path, data_dir, display) -> tuple[list[Path], Optional[str]]:
    """Train one job's runs into `runs_dir`. A failure does not raise: its runs are
    marked `failed` with the error in summary.json, and the error is returned, so
    one bad point never stops a sweep. Ctrl-C still stops everything."""
    from nnbook.runs.experiment import Interrupted, train_experiment

    recording = _RecordingDisplay(display)
    try:
        results = train_experiment(config, Path(runs_dir), recording, data_dir=data_dir,
                                   config_source=config.name)
    except (Interrupted, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one point is reported, the sweep goes on
        message = describe_failure(e)
        for path in recording.paths:
            run = Run.open(path)
            if run.summary.get("status") == "running":
                run.update(status="failed", error=message)
        return recording.paths, message
    return [r.path for r in results], None


def _train_job_in_process(config: Config, runs_dir: str, data_dir, device: str, threads: int):
    """A worker process of the multi-GPU local executor: one job on one device."""
    import torch

    from nnbook.ui.train_display import TrainDisplay

    torch.set_num_threads(threads)
    return train_job(config.model_copy(update={"device": device}), Path(runs_dir), data_dir,
                     TrainDisplay(quiet=True))


# ----------------------------------------------------------------------------- executors


def local_devices(config: Config) -> list[str]:
    """One device per visible GPU when there are several and the config lets nnbook
    choose (device auto or cuda); otherwise [] (train in this process, one job at a time)."""
    if config.device not in ("auto", "cuda"):
        return []
    import torch

    n = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(n)] if n > 1 else []


def run_local(jobs: list[Job], runs_dir: Path, data_dir, display, fail_fast: bool = False,
              devices: Optional[list[str]] = None) -> list[Outcome]:
    """Train the jobs on this machine: in this process one after another, showing each
    job's training as `nnbook train` does; or, given several `devices`, one worker
    process per device, with a done / running / failed display."""
    if devices is None:
        devices = local_devices(jobs[0].point.config) if jobs else []
    if len(devices) > 1:
        return _run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices)
    from nnbook.ui.train_display import TrainDisplay
    from nnbook.runs.experiment import Interrupted

    outcomes = []
    for i, job in enumerate(jobs, 1):
        display.job_header(i, len(jobs), job)
        try:
            paths, error = train_job(job.config, runs_dir, data_dir, TrainDisplay(console=display.console,
                                                                                     quiet=display.quiet))
        except (Interrupted, KeyboardInterrupt):
            raise Interrupted(INTERRUPTED) from None
        outcomes.append(Outcome(job, paths, error))
        display.finished(outcomes[-1])
        if error and fail_fast:
            break
    return outcomes


def _run_on_devices(jobs, runs_dir, data_dir, display, fail_fast, devices) -> list[Outcome]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    free = list(devices)
    device_of = {}
    threads = max(1, (os.cpu_count() or 1) // len(devices))  # never oversubscribe the cores
    # spawn: a fresh interpreter per worker; forking a process that may hold CUDA state is unsafe.
    with ProcessPoolExecutor(len(devices), mp_context=multiprocessing.get_context("spawn")) as pool:
        def submit(job: Job):
            device = free.pop(0)
            future = pool.submit(_train_job_in_process, job.config, str(runs_dir), data_dir, device, threads)
            device_of[future] = device
            return future

        def wait_one(futures):
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            future = next(iter(done))
            free.append(device_of.pop(future))
            return future

        def collect(future, job: Job) -> Outcome:
            try:
                paths, error = future.result()
            except Exception as e:  # noqa: BLE001 - a crashed worker fails its job only
                return Outcome(job, [], describe_failure(e))
            return Outcome(job, paths, error, where=device_of.get(future, ""))

        def cancel(futures):
            for f in futures:
                f.cancel()

        return stream_jobs(jobs, lambda: len(devices), submit, wait_one, collect, cancel, display, fail_fast)


def stream_jobs(jobs: list[Job], capacity: Callable[[], int], submit: Callable, wait_one: Callable,
                collect: Callable, cancel: Callable, display, fail_fast: bool) -> list[Outcome]:
    """Keep up to `capacity()` jobs in flight, report each as it finishes. Only as many
    are submitted as can run, so 'running' is true and `--fail-fast` leaves the rest unstarted."""
    from nnbook.runs.experiment import Interrupted

    queue = list(jobs)
    running: dict[Any, Job] = {}
    outcomes: list[Outcome] = []
    display.begin_stream(len(jobs))
    try:
        while queue or running:
            while queue and len(running) < max(1, capacity()):
                job = queue.pop(0)
                running[submit(job)] = job
                display.started(job)
            handle = wait_one(list(running))
            outcome = collect(handle, running.pop(handle))
            outcomes.append(outcome)
            display.finished(outcome, running=len(running), queued=len(queue))
            if outcome.error and fail_fast:
                cancel(list(running))
                break
    except KeyboardInterrupt:
        cancel(list(running))
        raise Interrupted(INTERRUPTED) from None
    finally:
        display.end_stream()
    return outcomes


# ----------------------------------------------------------------------------- the grid table and plot


@dataclass
class PointResult:
    point: Point
    summaries: list[dict] = field(default_factory=list)  # its done runs, by seed

    @property
    def tests(self) -> list[float]:
        return [s["test_accuracy"] for s in self.summaries if s.get("test_accuracy") is not None]

    @property
    def best(self) -> Optional[dict]:
        """The run with the best validation accuracy (the book's "best of 3 runs")."""
        scored = [s for s in self.summaries if s.get("best_validation_accuracy") is not None]
        return max(scored, key=lambda s: s["best_validation_accuracy"]) if scored else None

    @property
    def mean_std(self) -> tuple[Optional[float], Optional[float]]:
        t = self.tests
        if not t:
            return None, None
        mean = sum(t) / len(t)
        return mean, (sum((x - mean) ** 2 for x in t) / max(1, len(t) - 1)) ** 0.5


def grid_results(sweep: Sweep, runs_dir: Path) -> list[PointResult]:
    done = done_runs(sweep, runs_dir)
    results = []
    for point in sweep.points:
        paths = [done[(point.name, s)] for s in point.seeds if (point.name, s) in done]
        results.append(PointResult(point, [json.loads((p / SUMMARY).read_text()) for p in paths]))
    return results


def grid_rows(sweep: Sweep, results: list[PointResult]) -> tuple[list[str], list[list[str]]]:
    """The grid as text cells: one row per point (percentages, like the rest of the screen output)."""
    def pct(x):
        return "—" if x is None else f"{100 * x:.2f}%"

    header = [*sweep.keys, "runs", "test (best val)", "mean test", "± std", "best val"]
    rows = []
    for r in results:
        mean, std = r.mean_std
        best = r.best
        diverged = sum(s.get("status") == "diverged" for s in r.summaries)
        runs = f"{len(r.summaries)}/{len(r.point.seeds)}" + (f" ({diverged} diverged)" if diverged else "")
        rows.append([*(format_value(v) for v in r.point.values.values()), runs,
                     pct(best and best.get("test_accuracy")), pct(mean),
                     "—" if std is None or len(r.tests) < 2 else f"{100 * std:.2f}",
                     pct(best and best.get("best_validation_accuracy"))])
    return header, rows


def grid_markdown(sweep: Sweep, results: list[PointResult]) -> str:
    header, rows = grid_rows(sweep, results)
    lines = [f"# {sweep.name}: sweep over {', '.join(sweep.keys)}", "",
             f"From `{sweep.source}`; test accuracy at the best validation epoch. "
             "\"test (best val)\" is the run with the best validation accuracy, as the book reports.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def plot_grid(sweep: Sweep, results: list[PointResult], path: Path) -> Optional[Path]:
    """Test accuracy against the first numeric swept key: each run a dot, the mean a line;
    one line per combination of the other keys. None when no key is numeric."""
    numeric = [k for k in sweep.keys
               if all(isinstance(p.values[k], (int, float)) and not isinstance(p.values[k], bool)
                      for p in sweep.points)]
    if not numeric or not any(r.tests for r in results):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key = numeric[0]
    others = [k for k in sweep.keys if k != x_key]
    series: dict[str, list[PointResult]] = {}
    for r in results:
        series.setdefault(point_label({k: r.point.values[k] for k in others}), []).append(r)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, rs in series.items():
        xs = [r.point.values[x_key] for r in rs if r.tests]
        means = [100 * r.mean_std[0] for r in rs if r.tests]
        line, = ax.plot(xs, means, marker="o", label=label or "mean of runs")
        for r in rs:
            ax.scatter([r.point.values[x_key]] * len(r.tests), [100 * t for t in r.tests], s=10,
                       color=line.get_color(), alpha=0.5)
    xs = sorted({float(p.values[x_key]) for p in sweep.points})
    positive = [x for x in xs if x > 0]
    if positive and xs[0] >= 0 and positive[-1] / positive[0] >= 100:
        # lmbda grids span decades and start at 0: linear below the smallest positive value
        if xs[0] == 0:
            ax.set_xscale("symlog", linthresh=positive[0])
        else:
            ax.set_xscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel("test accuracy at best validation (%)")
    ax.set_title(f"{sweep.name}: {len(sweep.points)} points, {max(len(p.seeds) for p in sweep.points)} runs each")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_grid_report(sweep: Sweep, runs_dir: Path) -> tuple[list[PointResult], Path, Optional[Path]]:
    """RUNS_DIR/<name>.sweep.md (the table) and RUNS_DIR/<name>.sweep.png (the plot)."""
    results = grid_results(sweep, runs_dir)
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    table = Path(runs_dir) / f"{sweep.name}.sweep.md"
    table.write_text(grid_markdown(sweep, results))
    plot = plot_grid(sweep, results, Path(runs_dir) / f"{sweep.name}.sweep.png")
    return results, table, plot



# ----------------------------------------------------------------------------- the whole sweep


EXECUTORS = ("local", "ray")


def run_sweep(sweep: Sweep, runs_dir: Path, display, executor: str = "local", data_dir=None,
              fail_fast: bool = False, dry_run: bool = False, address: Optional[str] = None,
              cpus_per_task: float = 1, gpus_per_task: Optional[float] = None) -> list[Outcome]:
    """Plan, train what is left, then show and write the grid. Returns the outcomes
    of the batches trained now (none for a dry run or a sweep already done)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: choose one of {', '.join(EXECUTORS)}")
    runs_dir = Path(runs_dir)
    jobs, done = plan(sweep, runs_dir)
    display.plan(sweep, jobs, done, executor)
    if dry_run:
        display.plan_table(sweep, jobs, done)
        display.print("Dry run: nothing trained.")
        return []
    outcomes: list[Outcome] = []
    if jobs and executor == "local":
        outcomes = run_local(jobs, runs_dir, data_dir, display, fail_fast)
    elif jobs:
        from nnbook.sweep.ray_executor import run_ray

        outcomes = run_ray(jobs, runs_dir, data_dir, display, fail_fast, address, cpus_per_task, gpus_per_task)
    results, table, plot = write_grid_report(sweep, runs_dir)
    display.grid(sweep, *grid_rows(sweep, results))
    display.print(f"Grid table: {table}" + (f"; plot: {plot}" if plot else ""))
    return outcomes
