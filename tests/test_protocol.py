"""The book's protocol, one rule at a time, each tested where breaking it changes a number:
p_dropout 0.2 and 0.8 (at 0.5 keep = p and keep = 1 - p agree), training sizes the
mini-batch does not divide, validation accuracy that peaks before the last epoch, ties, a
report whose best-validation run is not its best-test run, and the expanded file's order.

benchmarks/mutations.py breaks each rule in a copy of the repository and runs the tests
that should notice; each test's name says the rule it guards.

The scripted validation accuracies (`script_validation`) replace only what the loop
measures on the validation set after each epoch: the training, the test set, the
bookkeeping and the run's files stay real, so an epoch's test accuracy (monitor.test)
shows which epoch's network the summary, model.pt and test_predictions.npy hold.
"""

import csv
import io
import json
import re
import shutil

import numpy as np
import pytest
import torch

from nnbook.config import validate
from nnbook.data import expand
from nnbook.data import mnist as data
from nnbook.nn.costs import COSTS, one_hot
from nnbook.nn.measure import evaluate
from nnbook.nn.net import build_model
from nnbook.nn.sgd import l2_decay
from nnbook.seeds import member_generators
from nnbook.training import loop
from nnbook.training.batches import EpochData, epoch_data, mini_batches
from nnbook.training.devices import DeviceData
from nnbook.training.loop import StackSpec, train

from .cli import CONFIGS, read_json, run_dirs

CPU = torch.device("cpu")
N_TRAIN, BATCH = 10, 4  # two full mini-batches; images 8 and 9 are the partial one, dropped


def config(layers, **extra):
    raw = {"name": "t", "layers": layers, "epochs": 1, "eta": 0.5, "mini_batch_size": BATCH, "device": "cpu"}
    return validate({**raw, **extra}, source="test")


def fc(units, activation="sigmoid", p=0.0):
    return {"type": "fc", "units": units, "activation": activation, "p_dropout": p}


def softmax(p=0.0):
    return {"type": "softmax", "p_dropout": p}


@pytest.fixture(scope="module")
def small(mnist) -> DeviceData:
    """Real images: N_TRAIN training, 50 validation, 50 test."""
    def take(split, n):
        return torch.from_numpy(split.x[:n]), torch.from_numpy(split.y[:n])

    return DeviceData(*take(mnist.training, N_TRAIN), *take(mnist.validation, 50), *take(mnist.test, 50))


def script_validation(monkeypatch, *sequences):
    """The loop's validation accuracy after epoch e is sequences[m][e - 1] for member m."""
    epochs = iter(zip(*sequences))
    monkeypatch.setattr(loop, "accuracy", lambda net, x, y: list(next(epochs)))


def train_recording(net, c, d, seeds):
    """Train; returns (reports, steps taken per epoch). on_progress comes after every step
    while an epoch has fewer than 100 mini-batches."""
    reports, steps = [], []

    def progress(done, total):
        if done == 1:
            steps.append(0)
        steps[-1] = done

    train(net, StackSpec(c, seeds), d, reports.append, on_progress=progress)
    return reports, steps


# ----------------------------------------------------------------------------- mini-batches


@pytest.mark.parametrize("shuffle, l2_scaling, c_by_hand", [
    # lmbda / num_training_batches, 10 // 4 = 2 of them
    pytest.param(False, "num_batches", 0.3 / 2, id="network3-fixed-order"),
    pytest.param(True, "train_size", 0.3 / 10, id="network2-reshuffled"),  # lmbda / n
])
def test_one_epoch_is_sgd_on_the_full_mini_batches_in_the_epochs_order(small, shuffle, l2_scaling, c_by_hand):
    """Partial batch dropped, batch order (fixed / this epoch's permutation), L2 scaling (the
    network3 count of batches is floor(n / B)): the loop's epoch against SGD written out."""
    c = config([fc(5), softmax()], init="default", lmbda=0.3, shuffle=shuffle, l2_scaling=l2_scaling)
    assert l2_decay(c, N_TRAIN) == pytest.approx(c_by_hand, rel=1e-12)
    if shuffle:  # the permutation the loop's first epoch draws for member seed 7
        order = epoch_data(small, c, member_generators([7], CPU))[1][0]
    else:
        order = torch.arange(N_TRAIN)
    expected = build_model(c, [7])
    params = dict(expected.named_parameters())
    costs = []
    for lo in (0, BATCH):  # the full mini-batches only
        idx = order[lo:lo + BATCH]
        cost = COSTS[c.cost](expected(small.train_x[idx]), small.train_y[idx])
        grads = torch.autograd.grad(cost.sum(), list(params.values()))
        costs.append(cost.item())
        with torch.no_grad():
            for (name, p), g in zip(params.items(), grads):
                decay = 1 - c.eta * c_by_hand if name.endswith("weight") else 1.0  # biases: no L2
                p.mul_(decay).sub_(c.eta * g)

    net = build_model(c, [7])
    reports, steps = train_recording(net, c, small, [7])
    assert steps == [2]
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), params[name].detach(), rtol=1e-5, atol=1e-6, msg=name)
    assert reports[0].records[0].train_cost == pytest.approx(sum(costs) / 2, rel=1e-5)


def test_network3s_l2_counts_whole_mini_batches():
    c = config([fc(5), softmax()], lmbda=0.1, mini_batch_size=10)
    assert l2_decay(c, 25) == pytest.approx(0.1 / 2)  # not 0.1 / 2.5
    assert l2_decay(c, 50_000) == pytest.approx(2e-5)


def test_a_dropout_net_trains_on_a_size_the_mini_batch_does_not_divide(small):
    """The masks are drawn for full mini-batches: keeping the partial one would not even run."""
    c = config([fc(20, "relu", 0.2), softmax(0.2)], epochs=2)
    _, steps = train_recording(build_model(c, [0, 1]), c, small, [0, 1])
    assert steps == [2, 2]


def test_a_dropout_config_runs_from_the_command_line_on_an_odd_size(cli, mnist_slice, tmp_path):
    result = cli("train", CONFIGS / "ch6_relu_dropout.yaml", "--set", f"data={mnist_slice}", "--set",
                 "train_limit=25", "--set", "epochs=1", "--set", "layers.2.p_dropout=0.2",
                 "--runs-dir", tmp_path, "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path)
    assert read_json(run / "summary.json")["status"] == "completed"


# ----------------------------------------------------------------------------- batch order


def test_network2_reshuffles_every_epoch_and_network3_keeps_the_order(small):
    c = config([fc(5), softmax()], shuffle=True)
    gens = member_generators([0, 1], CPU)
    _, first = epoch_data(small, c, gens)
    _, second = epoch_data(small, c, gens)
    for order in (first, second):
        assert order.shape == (2, N_TRAIN)
        assert all(sorted(row.tolist()) == list(range(N_TRAIN)) for row in order)  # permutations
    assert not torch.equal(first[0], second[0])  # a new order each epoch
    assert not torch.equal(first[0], first[1])  # and each member its own
    fixed = config([fc(5), softmax()])
    x, order = epoch_data(small, fixed, member_generators([0], CPU))
    assert order is None and x is small.train_x


# ----------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.2, 0.8])
def test_dropout_keeps_each_input_with_probability_1_minus_p(p):
    """The masks the loop's mini-batches carry: Bernoulli(1 - p), fresh each mini-batch and
    each member's own."""
    c = config([fc(50, "relu", p), softmax(p)])
    net = build_model(c, [0, 1])
    x, t = torch.zeros(400, 784), one_hot(torch.zeros(400, dtype=torch.long))
    masks = [m for _, _, m in mini_batches(net, EpochData(x, t), 100, 4, member_generators([0, 1], CPU).mask)]
    for layer, n_in in ((0, 784), (1, 50)):
        drawn = torch.stack([m[layer] for m in masks])  # (steps, K, B, n_in)
        assert drawn.shape == (4, 2, 100, n_in)
        # 40,000 draws at least: the standard error of the fraction is below 0.0025
        assert drawn.float().mean().item() == pytest.approx(1 - p, abs=0.015)
        assert not torch.equal(drawn[0], drawn[1]) and not torch.equal(drawn[:, 0], drawn[:, 1])


@pytest.mark.parametrize("p", [0.2, 0.8])
@pytest.mark.parametrize("seeds", [[0], [0, 1]], ids=["K=1", "K=2"])
def test_evaluation_scales_each_dropout_layers_product_by_1_minus_p(p, seeds, mnist):
    """What the validation accuracy, the test predictions and model.pt's evaluation see:
    a = act((1 - p) * (x @ w) + b) in every dropout layer, no mask."""
    c = config([fc(30, "sigmoid", p), softmax(p)], init="default")  # softmax biases not zero
    net = build_model(c, seeds)
    x, y = torch.from_numpy(mnist.validation.x[:200]), torch.from_numpy(mnist.validation.y[:200])
    probs, (accuracy, cost) = net.probabilities(x), evaluate(net, x, y, COSTS[c.cost])
    for m in range(len(seeds)):
        w0, w1 = (layer.weight[m].double() for layer in net.layers)
        b0, b1 = (layer.bias[m].double() for layer in net.layers)
        hidden = torch.sigmoid((1 - p) * (x.double() @ w0) + b0)
        expected = torch.softmax((1 - p) * (hidden @ w1) + b1, dim=-1)
        torch.testing.assert_close(probs[m].double(), expected, rtol=1e-4, atol=1e-6)
        assert cost[m] == pytest.approx(-expected[torch.arange(200), y].log().mean().item(), rel=1e-4)
        assert accuracy[m] == pytest.approx((expected.argmax(-1) == y).double().mean().item(), abs=0.011)


# ----------------------------------------------------------------------------- the reported figure


def assert_reports_the_best_epoch(cli, run, test_labels, best_epoch):
    """summary.json, model.pt (through `nnbook evaluate`) and test_predictions.npy all hold
    the network of `best_epoch`, whose test accuracy monitor.test recorded."""
    summary = read_json(run / "summary.json")
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    at_best = epochs[best_epoch - 1]["test_accuracy_each_epoch"]
    assert summary["best_epoch"] == best_epoch
    assert summary["best_validation_accuracy"] == epochs[best_epoch - 1]["validation_accuracy"]
    assert summary["test_accuracy"] == at_best == epochs[best_epoch - 1]["test_accuracy"]
    predictions = np.load(run / "test_predictions.npy")
    assert (predictions.argmax(-1) == test_labels).mean() == pytest.approx(at_best, abs=1e-9)
    evaluated = cli("evaluate", run, "--split", "test", "--device", "cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    correct = int(re.search(r"\((\d+) of [\d,]+ correct", evaluated.stdout).group(1))
    # model.pt evaluated afresh, in batches of another size: a near-tie may round the other way
    assert abs(correct - round(at_best * len(test_labels))) <= 1
    return epochs


def test_a_run_reports_and_keeps_its_best_validation_epoch_not_its_last(cli, mnist_slice, tmp_path):
    """A good start, then an eta far too large: validation accuracy peaks at epoch 2 of 3 and
    falls by points, not by noise."""
    result = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=1005",
                 "--set", "epochs=3", "--set", "eta=0.5", "--set", "schedule={type: list, etas: [0.5, 0.5, 5.0]}",
                 "--set", "monitor.test=true", "--runs-dir", tmp_path, "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(tmp_path)
    epochs = assert_reports_the_best_epoch(cli, run, data.load_file(mnist_slice).test.y, best_epoch=2)
    validation = [e["validation_accuracy"] for e in epochs]
    assert validation[1] > validation[0] and validation[1] > validation[2] + 0.05
    assert epochs[2]["test_accuracy"] is None  # measured only at a new best
    assert epochs[2]["test_accuracy_each_epoch"] < epochs[1]["test_accuracy_each_epoch"] - 0.05


def test_each_member_keeps_its_own_best_epoch_and_a_tie_is_a_new_best(cli, mnist_slice, tmp_path, monkeypatch):
    """Two runs trained together: seed 0's validation peaks at epoch 1, seed 1's ties at every
    epoch (network3's >=: its best is the last of the tied epochs)."""
    script_validation(monkeypatch, [0.30, 0.20, 0.10], [0.20, 0.20, 0.20])
    result = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=1000",
                 "--set", "epochs=3", "--set", "eta=0.5", "--set", "repeats=2", "--set", "monitor.test=true",
                 "--runs-dir", tmp_path, "--device", "cpu", "--quiet")
    assert result.returncode == 0, result.stderr
    test_labels = data.load_file(mnist_slice).test.y
    first, second = sorted(run_dirs(tmp_path), key=lambda r: read_json(r / "summary.json")["seed"])
    epochs = assert_reports_the_best_epoch(cli, first, test_labels, best_epoch=1)
    assert [e["test_accuracy"] is None for e in epochs] == [False, True, True]
    # the check can fail: the network of epoch 3 is far from epoch 1's
    assert abs(epochs[0]["test_accuracy_each_epoch"] - epochs[2]["test_accuracy_each_epoch"]) > 0.01
    epochs = assert_reports_the_best_epoch(cli, second, test_labels, best_epoch=3)
    assert all(e["test_accuracy"] is not None for e in epochs)


def test_the_reported_figure_is_the_best_validation_runs_test_accuracy(cli, mnist_slice, tmp_path):
    """network3's author ran 3 runs and reported the test accuracy of the best by validation:
    three copies of a real run, whose best by validation is not their best by test."""
    trained = cli("train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", "--set", "train_limit=100",
                  "--set", "epochs=1", "--runs-dir", tmp_path / "trained", "--device", "cpu", "--quiet")
    assert trained.returncode == 0, trained.stderr
    (run,) = run_dirs(tmp_path / "trained")
    for i, (validation, test) in enumerate(((0.9790, 0.9770), (0.9801, 0.9760), (0.9785, 0.9795))):
        copy = tmp_path / "runs" / f"{run.name}-{i}"
        shutil.copytree(run, copy)
        summary = read_json(copy / "summary.json")
        summary.update(best_validation_accuracy=validation, test_accuracy=test)
        (copy / "summary.json").write_text(json.dumps(summary))
    result = cli("report", tmp_path / "runs", "--format", "csv")
    assert result.returncode == 0, result.stderr
    (row,) = [r for r in csv.DictReader(io.StringIO(result.stdout)) if r["config"] == "ch6_shallow"]
    assert float(row["best_validation_pct"]) == 98.01 and float(row["test_at_best_validation_pct"]) == 97.60
    assert float(row["test_mean_pct"]) == round(100 * (0.9770 + 0.9760 + 0.9795) / 3, 2)


# ----------------------------------------------------------------------------- schedules and stopping in the loop


def etas_and_status(monkeypatch, small, validation, **extra):
    script_validation(monkeypatch, validation)
    c = config([fc(5), softmax()], epochs=len(validation), eta=0.4, **extra)
    reports, _ = train_recording(build_model(c, [0]), c, small, [0])
    return [r.records[0].eta for r in reports], reports[-1].status[0], reports[-1].reasons[0]


def test_the_loop_halves_eta_after_patience_stale_epochs_counting_from_the_last_halving(monkeypatch, small):
    # a best at epoch 1, then nothing: halve after epochs 3 and 5 (the count restarts at a halving),
    # and stop at 1/4 of the start, after the second halving
    etas, status, reason = etas_and_status(monkeypatch, small, [0.5] + [0.4] * 7,
                                           schedule={"type": "halving", "patience": 2, "stop_ratio": 0.25})
    assert etas == [0.4, 0.4, 0.4, 0.2, 0.2]
    assert status == "early_stopped" and reason.startswith("eta fell to 0.1")


def test_a_new_best_restarts_the_halving_count_in_the_loop(monkeypatch, small):
    etas, status, _ = etas_and_status(monkeypatch, small, [0.5, 0.4, 0.6, 0.4, 0.4, 0.4],
                                      schedule={"type": "halving", "patience": 2})
    assert etas == [0.4, 0.4, 0.4, 0.4, 0.4, 0.2] and status is None


def test_the_loop_stops_after_patience_epochs_without_a_new_best(monkeypatch, small):
    # epoch 5 ties the best, a new best under >=: three epochs without one never pass
    etas, status, _ = etas_and_status(monkeypatch, small, [0.5, 0.6, 0.55, 0.58, 0.6, 0.59, 0.7, 0.8],
                                      early_stopping={"patience": 3})
    assert len(etas) == 8 and status is None
    etas, status, reason = etas_and_status(monkeypatch, small, [0.5, 0.6, 0.55, 0.58, 0.59, 0.7],
                                           early_stopping={"patience": 3})
    assert len(etas) == 5 and status == "early_stopped" and reason == "no new best validation accuracy for 3 epochs"


# ----------------------------------------------------------------------------- the expanded training set


def book_copies(image: np.ndarray) -> list[np.ndarray]:
    """expand_mnist.py's five pairs of one image, in its order: the original, then np.roll by
    +1 / -1 along rows (down, up), then along columns (right, left), the rolled-in line zeroed."""
    img = image.reshape(28, 28)
    copies = [img]
    for d, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
        moved = np.roll(img, d, axis)
        edge = 0 if d == 1 else 27
        if axis == 0:
            moved[edge, :] = 0
        else:
            moved[:, edge] = 0
        copies.append(moved)
    return [c.reshape(784) for c in copies]


def test_the_expanded_file_holds_pair_p_as_image_p_div_5_in_the_books_copy_order(mnist_slice, tmp_path):
    source = data.load_file(mnist_slice)
    n = 40
    expand.expand(source, tmp_path / "e.pkl.gz", expand.Expansion(seed=3, train_limit=n))
    got = data.load_file(tmp_path / "e.pkl.gz").training
    order = expand.expansion_order(n, 3)
    for i, pair in enumerate(order):
        image, copy = divmod(int(pair), 5)
        assert np.array_equal(got.x[i], book_copies(source.training.x[image])[copy]), (i, image, copy)
        assert got.y[i] == source.training.y[image]
    assert not np.array_equal(order, np.arange(5 * n))  # shuffled
