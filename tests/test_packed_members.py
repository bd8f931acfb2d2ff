"""Sweep points packed into one stack: each member trains with its own hyperparameters.

The members of one stack may differ in what config.PER_MEMBER lists besides the run's name
and repeats: eta, lmbda, mu and the seed (config.stack_key). A member handed another member's
value still trains to plausible numbers, so only its run alone tells. Here each packed
member's epochs are compared with its run alone: for two members that differ in each of
those hyperparameters in turn, under every kind of learning-rate schedule (none; the
epoch-driven steps, list and geometric; chapter 3's halving), with momentum off and on;
then through the command line, a packed sweep against the same sweep trained run by run,
and a packed group stopped by Ctrl-C in the middle of an epoch and resumed.

What "equal" means. Everything trains in float64 on one torch thread. The epochs, their
eta, validation and test accuracies, statuses and stop reasons are compared exactly; the
costs and the weights to RELATIVE: a member beside others does its run's arithmetic alone,
but an operation over the whole stack (the costs are summed by one matrix-vector product
over the K members) may round its last bit differently (stack_key says so; measured: a few 1e-16 of a
cost near 2, and 1e-7 in float32). Two members that differ in one hyperparameter differ by
more than 1e-4 in their first epoch's cost (checked below), so the tolerance hides nothing.
A resumed group is the stack it was before the stop: it equals its uninterrupted run bit
for bit.
"""

import signal

import pytest
import torch

from nnbook.config import PER_MEMBER, Config, HalvingSchedule, validate
from nnbook.experiments.interrupts import Interrupt
from nnbook.nn.net import build_model
from nnbook.training import loop
from nnbook.training.devices import DeviceData

from .cli import CONFIGS, read_json, run_captured, run_dirs, torch_threads
from .pause import before_step
from .test_sweep import results_by_run

RELATIVE = 1e-10
# The metrics whose last bits may round differently beside other members (the rest count images,
# or are set by the schedule).
ROUNDED = ("train_cost", "train_eval_cost")


def assert_same_rows(got: list[dict], want: list[dict], what: str) -> None:
    """One member's metrics (metrics.jsonl rows without timings) against its run alone's."""
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        for key in ROUNDED:
            expected = w[key] if w[key] is None else pytest.approx(w[key], rel=RELATIVE, abs=0)
            assert g[key] == expected, f"{what}, epoch {w['epoch']}: {key}"
        exact = [key for key in w if key not in ROUNDED]
        assert g.keys() == w.keys() and [g[key] for key in exact] == [w[key] for key in exact], what


# ----------------------------------------------------------------------------- members and their runs alone (the loop)

# Member 0 of each stack trains with base()'s values, member 1 with one of them changed to this.
OTHER = {"eta": 0.1, "lmbda": 1.0, "mu": 0.8, "seed": 1}
MOMENTUM = {"off": 0.0, "on": 0.5}
SCHEDULES = {
    "none": None,
    "steps": {"type": "steps", "at": {3: 0.05}},
    "list": {"type": "list", "etas": [0.5, 0.25, 0.05]},
    "geometric": {"type": "geometric", "eta_end": 0.05},
    # made to act within three epochs: eta halves after an epoch without a new best (the second,
    # `plateau_on_even_epochs`), and a member stops once its eta is 0.3 of its own start or less
    "halving": {"type": "halving", "patience": 1, "factor": 0.5, "stop_ratio": 0.3},
}
CASES = [pytest.param(key, schedule, momentum, id=f"{key}-{schedule}-momentum {momentum}")
         for key in OTHER for schedule in SCHEDULES for momentum in MOMENTUM
         if not (key == "mu" and momentum == "off")  # momentum on or off is the stack's (stack_key)
         and not (key == "eta" and schedule == "list")]  # a list is every epoch's eta, the first one included


def base(schedule: str, momentum: str) -> Config:
    """A small sigmoid net with dropout (each member's masks its seed's), its training cost with the
    L2 term measured too (monitor.training: each member's own lmbda), on 200 images, 3 epochs."""
    return validate({
        "name": "packed", "layers": [{"type": "fc", "units": 30, "activation": "sigmoid", "p_dropout": 0.2},
                                     {"type": "softmax"}],
        "epochs": 3, "mini_batch_size": 10, "eta": 0.5, "mu": MOMENTUM[momentum], "schedule": SCHEDULES[schedule],
        "train_limit": 200, "dtype": "float64", "device": "cpu", "monitor": {"training": True, "training_sample": 100},
    }, source="test")


@pytest.fixture(scope="module")
def data(mnist) -> DeviceData:
    """The first 200 training, 500 validation and 500 test images of the real MNIST, in float64."""
    def take(split, n):
        return torch.from_numpy(split.x[:n]).double(), torch.from_numpy(split.y[:n])

    return DeviceData(*take(mnist.training, 200), *take(mnist.validation, 500), *take(mnist.test, 500))


def plateau_on_even_epochs(measure):
    """The loop's validation accuracy, lowered by 1 in every even epoch of a training: never a new
    best there, so under the halving schedule every member halves its eta after epoch 2, whatever
    its trajectory (a few epochs on 200 images do not reliably stall on their own)."""
    calls = [0]

    def accuracy(net, x, y) -> list[float]:
        calls[0] += 1  # once per epoch
        lowered = 1.0 if calls[0] % 2 == 0 else 0.0
        return [a - lowered for a in measure(net, x, y)]

    return accuracy


def train_stack(members: list[Config], data: DeviceData, monkeypatch) -> tuple[list[list], list[list]]:
    """Train `members` as one stack, the first member's config the stack's (as a sweep packs
    them), on one thread. Returns per member its epochs (metrics row without timings, status,
    why it stopped) and its trained parameters."""
    config, seeds, reports = members[0], [m.seed for m in members], []
    with monkeypatch.context() as patch, torch_threads(1):
        if isinstance(config.schedule, HalvingSchedule):
            patch.setattr(loop, "accuracy", plateau_on_even_epochs(loop.accuracy))
        net = build_model(config, seeds)
        loop.train(net, loop.StackSpec(config, seeds, members), data, reports.append)
    epochs = [[({k: v for k, v in r.records[m].to_json().items() if k != "seconds"}, r.status[m], r.reasons[m])
               for r in reports if r.records[m] is not None] for m in range(len(members))]
    return epochs, [[p[m].detach().clone() for p in net.parameters()] for m in range(len(members))]


def test_the_cases_cover_every_hyperparameter_a_stack_takes_per_member():
    assert set(OTHER) == set(PER_MEMBER) - {"name", "repeats"}


@pytest.mark.parametrize("key, schedule, momentum", CASES)
def test_each_packed_member_trains_as_its_run_alone(key, schedule, momentum, data, monkeypatch):
    first = base(schedule, momentum)
    members = [first, first.model_copy(update={key: OTHER[key], "name": f"packed@{key}={OTHER[key]}"})]
    packed, packed_weights = train_stack(members, data, monkeypatch)
    for m, member in enumerate(members):
        (alone,), (alone_weights,) = train_stack([member], data, monkeypatch)
        what = f"member {m} ({key} {getattr(member, key)})"
        assert_same_rows([row for row, _, _ in packed[m]], [row for row, _, _ in alone], what)
        assert [epoch[1:] for epoch in packed[m]] == [epoch[1:] for epoch in alone], what  # statuses, reasons
        for p, q in zip(packed_weights[m], alone_weights):
            torch.testing.assert_close(p, q, rtol=RELATIVE, atol=1e-12, msg=what)
        if schedule == "halving":  # the schedule acted: every member at half its own eta after epoch 2
            assert [row["eta"] for row, _, _ in packed[m]] == [member.eta, member.eta, member.eta / 2]
    # and the value mattered: the two members' costs differ from the first epoch on
    assert packed[0][0][0]["train_cost"] != pytest.approx(packed[1][0][0]["train_cost"], rel=1e-4)


# ----------------------------------------------------------------------------- the command line

# A sweep whose points differ in every hyperparameter a stack takes per member, with momentum on
# for all (it is the stack's) and two seeds each: 16 runs of a small net on 300 images of the
# session's slice (conftest.SLICE), reshuffled and with dropout, so that each member's data order
# and masks are its seed's; float64, and one thread, as above.
SWEEP = ["sweep", CONFIGS / "ch6_shallow.yaml", "--grid", "eta=0.1,0.5", "--grid", "lmbda=0,1", "--grid",
         "mu=0.3,0.6", "--repeats", "2", "--set", "train_limit=300", "--set", "epochs=2", "--set",
         "layers.0.units=30", "--set", "layers.0.p_dropout=0.2", "--set", "shuffle=true", "--set", "dtype=float64",
         "--set", "device=cpu"]
STEPS_PER_EPOCH = 30  # 300 images in mini-batches of 10


@pytest.fixture(scope="module")
def sweep_args(mnist_slice) -> list:
    return [*SWEEP, "--set", f"data={mnist_slice}"]


def sweep(sweep_args, runs, how: str):
    """The sweep into `runs`, `--stack how`, in this process on one thread."""
    with torch_threads(1):
        result = run_captured(*sweep_args, "--stack", how, "--runs-dir", runs)
    assert result.returncode == 0, result.stderr
    return runs, result


@pytest.fixture(scope="module")
def run_by_run(tmp_path_factory, sweep_args):
    """The sweep trained run by run (--stack 1): the per-point sweep, but with a point's two seeds
    apart too, which `--stack point` would train as one stack, so that a seed handed to the wrong
    member shows there as well."""
    return sweep(sweep_args, tmp_path_factory.mktemp("run_by_run"), "1")


@pytest.fixture(scope="module")
def packed(tmp_path_factory, sweep_args):
    """The sweep's 16 runs as one stack."""
    return sweep(sweep_args, tmp_path_factory.mktemp("packed"), "16")


def test_a_packed_sweep_trains_every_run_as_the_sweep_run_by_run(run_by_run, packed):
    (packed_runs, result), (alone_runs, alone) = packed, run_by_run
    assert "16 to train in 1 stack " in result.stdout and "16 to train in 16 stacks " in alone.stdout
    got, want = results_by_run(packed_runs), results_by_run(alone_runs)
    assert len(got) == 16 and got.keys() == want.keys()
    for run, (status, rows) in got.items():
        assert status == want[run][0] == "completed", run
        assert_same_rows(rows, want[run][1], str(run))
    # every hyperparameter mattered: no two runs' first epochs alike, beyond rounding
    costs = sorted(rows[0]["train_cost"] for _, rows in got.values())
    assert all(b - a > 1e-6 * b for a, b in zip(costs, costs[1:])), costs


def test_a_packed_group_stopped_mid_epoch_resumes_each_member_with_its_own_hyperparameters(
        packed, sweep_args, tmp_path, cli, monkeypatch):
    runs = tmp_path / "runs"

    def ctrl_c():  # what the handler of a first SIGINT raises where the training is (experiments/interrupts.py)
        raise Interrupt(signal.SIGINT)

    with monkeypatch.context() as patch, torch_threads(1):
        patch.setattr(loop, "make_step", before_step(STEPS_PER_EPOCH + STEPS_PER_EPOCH // 2, ctrl_c))
        stopped = cli(*sweep_args, "--stack", "16", "--runs-dir", runs)
    assert stopped.returncode == 130, stopped.stderr
    assert len(run_dirs(runs)) == 16
    for run in run_dirs(runs):  # halfway through epoch 2: epoch 1 kept
        summary = read_json(run / "summary.json")
        assert (summary["status"], summary["epochs_completed"], len(summary["group"])) == ("interrupted", 1, 16)

    with torch_threads(1):
        resumed = cli("train", "--resume", run_dirs(runs)[-1])
    assert resumed.returncode == 0, resumed.stderr
    assert "Resuming after epoch 1 of 2" in resumed.stdout
    assert results_by_run(runs) == results_by_run(packed[0])
