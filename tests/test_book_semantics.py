"""network.py / network2.py semantics against hand computations on tiny nets:
the quadratic and cross-entropy gradients (the book's backpropagation equations in
numpy), initialisations, network2's weight decay factor 1 - eta*lmbda/n, momentum,
reshuffling and the training loop's use of schedules, early stopping and monitors."""

import math

import numpy as np
import pytest
import torch

from nnbook.config import Config
from nnbook.nn.costs import COSTS
from nnbook.nn.measure import bias_gradient_norms, evaluate, l2_penalty, mean_gradients
from nnbook.nn.net import build_model
from nnbook.nn.sgd import SGD, l2_decay
from nnbook.training.devices import DeviceData
from nnbook.training.loop import StackSpec, train


def tiny_config(**overrides) -> Config:
    """784-3-10 sigmoid net, network2 style unless overridden."""
    raw = {"name": "tiny", "layers": [{"type": "fc", "units": 3}, {"type": "fc", "units": 10}],
           "epochs": 1, "mini_batch_size": 4, "eta": 0.5, "cost": "cross_entropy", "init": "default",
           "l2_scaling": "train_size", "shuffle": False, "device": "cpu"}
    raw.update(overrides)
    return Config.model_validate(raw)


def tiny_data(n_train=8, n_eval=20, seed=0) -> DeviceData:
    g = torch.Generator().manual_seed(seed)

    def split(n):
        return torch.rand(n, 784, generator=g), torch.randint(0, 10, (n,), generator=g)

    (tx, ty), (vx, vy), (ex, ey) = split(n_train), split(n_eval), split(n_eval)
    return DeviceData(tx, ty, vx, vy, ex, ey)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def book_backprop(weights, biases, x, y, cost):
    """The book's equations BP1-BP4 for one image, column vectors, w as (n_in, n_out):
    returns (nabla_b, nabla_w) of that image's cost."""
    activation, activations, zs = x, [x], []
    for w, b in zip(weights, biases):
        z = w.T @ activation + b
        zs.append(z)
        activation = sigmoid(z)
        activations.append(activation)
    t = np.zeros((10, 1))
    t[y] = 1.0
    a = activations[-1]
    if cost == "quadratic":
        delta = (a - t) * a * (1 - a)  # BP1 with sigma'(z) = a(1-a)
    else:
        delta = a - t  # the cross-entropy cancels sigma'(z)
    nabla_b, nabla_w = [None] * len(weights), [None] * len(weights)
    nabla_b[-1], nabla_w[-1] = delta, activations[-2] @ delta.T
    for l in range(2, len(weights) + 1):
        s = sigmoid(zs[-l])
        delta = (weights[-l + 1] @ delta) * s * (1 - s)  # BP2
        nabla_b[-l], nabla_w[-l] = delta, activations[-l - 1] @ delta.T
    return nabla_b, nabla_w


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_gradients_match_the_books_backpropagation(cost):
    config = tiny_config(cost=cost, layers=[{"type": "fc", "units": 4}, {"type": "fc", "units": 3},
                                            {"type": "fc", "units": 10}], init="large")
    net = build_model(config, [3]).double()
    data = tiny_data(n_train=5)
    x, y = data.train_x.double(), data.train_y
    grads = mean_gradients(net, x, y, COSTS[cost])

    weights = [layer.weight[0].detach().numpy() for layer in net.layers]
    biases = [layer.bias[0].detach().numpy().reshape(-1, 1) for layer in net.layers]
    sum_b = [np.zeros_like(b) for b in biases]
    sum_w = [np.zeros_like(w) for w in weights]
    for xi, yi in zip(x.numpy(), y.numpy()):
        nb, nw = book_backprop(weights, biases, xi.reshape(-1, 1), int(yi), cost)
        sum_b = [s + d for s, d in zip(sum_b, nb)]
        sum_w = [s + d for s, d in zip(sum_w, nw)]
    by_name = dict(zip([n for n, _ in net.named_parameters()], grads))
    for i in range(len(weights)):
        np.testing.assert_allclose(by_name[f"layers.{i}.weight"][0].numpy(), sum_w[i] / len(x), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(by_name[f"layers.{i}.bias"][0].numpy(), sum_b[i].ravel() / len(x), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_cost_values_are_the_books_formulas(cost):
    z = torch.tensor([[[0.3, -1.2, 2.0] + [0.0] * 7, [-0.5, 0.1, 0.9] + [1.0] * 7]], dtype=torch.float64)
    y = torch.tensor([2, 0])
    a = sigmoid(z.numpy()[0])
    t = np.eye(10)[y.numpy()]
    if cost == "quadratic":
        expected = np.mean(0.5 * ((a - t) ** 2).sum(axis=1))
    else:
        expected = np.mean((-t * np.log(a) - (1 - t) * np.log(1 - a)).sum(axis=1))
    assert COSTS[cost](z, y).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("init, weight_std, zero_biases", [
    ("large", 1.0, False), ("default", 1 / math.sqrt(784), False), ("he", math.sqrt(2 / 784), True),
    ("network3", 1 / math.sqrt(200), False)])
def test_initialisations(init, weight_std, zero_biases):
    config = tiny_config(init=init, layers=[{"type": "fc", "units": 200}, {"type": "fc", "units": 10}])
    net = build_model(config, [0])
    w, b = net.layers[0].weight[0], net.layers[0].bias[0]
    assert w.std().item() == pytest.approx(weight_std, rel=0.02)  # 156,800 draws: ~0.2% noise
    if zero_biases:
        assert torch.count_nonzero(b) == 0
    else:
        assert b.std().item() == pytest.approx(1.0, rel=0.2)  # 200 draws


def test_l2_scaling_network2_divides_by_the_training_set_size():
    assert l2_decay(tiny_config(lmbda=5.0), 50_000) == 5.0 / 50_000
    # network3: by the number of mini-batches, 0.1 -> 2e-5 at 5,000 batches of 10
    assert l2_decay(tiny_config(lmbda=0.1, l2_scaling="num_batches", mini_batch_size=10), 50_000) == \
        pytest.approx(2e-5)


def test_one_epoch_applies_the_network2_weight_decay_factor():
    """One mini-batch of all n images: w1 = (1 - eta*lmbda/n) w0 - eta * dC0/dw, b1 = b0 - eta * dC0/db."""
    eta, lmbda, n = 0.5, 5.0, 8
    config = tiny_config(eta=eta, lmbda=lmbda, mini_batch_size=n)
    data = tiny_data(n_train=n)
    net = build_model(config, [1])
    before = {k: v.clone() for k, v in net.named_parameters()}
    grads = dict(zip(before, (g.clone() for g in mean_gradients_train_mode(net, data, config))))
    train(net, StackSpec(config, [1]), data, on_epoch=lambda report: None)
    for name, p in net.named_parameters():
        if name.endswith("weight"):
            expected = (1 - eta * lmbda / n) * before[name] - eta * grads[name]
        else:
            expected = before[name] - eta * grads[name]
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6)


def mean_gradients_train_mode(net, data, config):
    cost = COSTS[config.cost](net(data.train_x), data.train_y)
    return torch.autograd.grad(cost.sum(), list(net.parameters()))


def test_the_update_rule_plain_and_momentum_by_hand():
    """The update rule (sgd.SGD, the one both steps and chapter 5's descent use), two steps by hand:
    plain w <- (1 - eta*c) w - eta g, b <- b - eta g; momentum v <- mu v - eta (g + c w), w <- w + v."""
    eta, mu, c = 0.1, 0.9, 0.01
    w0 = torch.tensor([[[1.0, -2.0]]])  # (K=1, 1, 2)
    b0 = torch.tensor([[0.5, 0.5]])
    g1w, g1b = torch.tensor([[[0.2, 0.4]]]), torch.tensor([[1.0, -1.0]])
    g2w, g2b = torch.tensor([[[-0.1, 0.3]]]), torch.tensor([[0.5, 0.5]])

    w, b = w0.clone(), b0.clone()
    sgd = SGD([w, b], [w], c)
    sgd.set_eta([eta])
    sgd.update([g1w, g1b])
    torch.testing.assert_close(w, (1 - eta * c) * w0 - eta * g1w)
    torch.testing.assert_close(b, b0 - eta * g1b)
    assert sgd.velocity is None

    w, b = w0.clone(), b0.clone()
    sgd = SGD([w, b], [w], c, mu)  # makes its own zero velocity
    sgd.set_eta([eta])
    sgd.update([g1w, g1b])
    v1w, v1b = -eta * (g1w + c * w0), -eta * g1b
    w1, b1 = w0 + v1w, b0 + v1b
    torch.testing.assert_close(w, w1)
    torch.testing.assert_close(b, b1)
    sgd.update([g2w, g2b])
    v2w, v2b = mu * v1w - eta * (g2w + c * w1), mu * v1b - eta * g2b
    torch.testing.assert_close(sgd.velocity[0], v2w)
    torch.testing.assert_close(w, w1 + v2w)
    torch.testing.assert_close(b, b1 + v2b)


def test_training_with_momentum_takes_the_momentum_steps_by_hand():
    """The loop (its fused step) with mu: v <- mu*v - eta*g, w <- w + v for every parameter, the
    velocity carried from one mini-batch to the next and across the epoch boundary. By hand: 2 epochs
    of 4 mini-batches in order (shuffle off), g from torch.autograd on the hand-updated parameters."""
    eta, mu, batch = 0.5, 0.5, 4
    config = tiny_config(epochs=2, mu=mu, eta=eta, mini_batch_size=batch)
    data = tiny_data(n_train=16)
    net = build_model(config, [2])
    by_hand = build_model(config, [2])  # the same seed: the same initial weights
    train(net, StackSpec(config, [2]), data, on_epoch=lambda report: None)

    params = [p.detach().clone().requires_grad_() for p in by_hand.parameters()]
    plain = [p.detach().clone().requires_grad_() for p in by_hand.parameters()]  # mu = 0, for contrast
    velocity = [torch.zeros_like(p) for p in params]
    names = [name for name, _ in by_hand.named_parameters()]
    for _ in range(config.epochs):
        for start in range(0, 16, batch):
            x, y = data.train_x[start:start + batch], data.train_y[start:start + batch]
            for ps, momentum in ((params, True), (plain, False)):
                z = torch.func.functional_call(by_hand, dict(zip(names, ps)), (x,))
                grads = torch.autograd.grad(COSTS[config.cost](z, y).sum(), ps)
                with torch.no_grad():
                    for i, (p, g) in enumerate(zip(ps, grads)):
                        if momentum:
                            velocity[i] = mu * velocity[i] - eta * g
                            p += velocity[i]
                        else:
                            p -= eta * g
    for (name, trained), expected, without in zip(net.named_parameters(), params, plain):
        torch.testing.assert_close(trained.detach(), expected.detach(), rtol=1e-5, atol=1e-6, msg=name)
    # The tolerance tells momentum from plain SGD: the same 8 steps without it end elsewhere.
    assert not all(torch.allclose(t.detach(), w.detach(), rtol=1e-5, atol=1e-6)
                   for t, w in zip(net.parameters(), plain))


def test_reshuffled_members_trained_together_equal_single_runs():
    """shuffle: each member draws its own permutation every epoch, so member k of a stacked
    run is exactly the run of its seed alone (and the orders differ between members)."""
    config = tiny_config(epochs=2, shuffle=True, mini_batch_size=2, mu=0.5,
                         schedule={"type": "geometric", "eta_end": 0.05})
    data = tiny_data(n_train=12)
    together = build_model(config, [5, 6])
    train(together, StackSpec(config, [5, 6]), data, on_epoch=lambda report: None)
    for m, seed in enumerate([5, 6]):
        alone = build_model(config, [seed])
        train(alone, StackSpec(config, [seed]), data, on_epoch=lambda report: None)
        for (name, p), q in zip(together.named_parameters(), alone.parameters()):
            torch.testing.assert_close(p[m], q[0], rtol=1e-5, atol=1e-6, msg=name)
    fixed = build_model(config.model_copy(update={"shuffle": False}), [5])
    train(fixed, StackSpec(config.model_copy(update={"shuffle": False}), [5]), data, on_epoch=lambda report: None)
    assert not torch.allclose(fixed.layers[0].weight[0], together.layers[0].weight[0])


def collect(config, data, seeds=(0,)):
    reports = []
    net = build_model(config, list(seeds))
    train(net, StackSpec(config, list(seeds)), data, on_epoch=reports.append)
    return net, reports


def test_epoch_schedule_sets_the_eta_of_each_epoch():
    config = tiny_config(epochs=4, schedule={"type": "steps", "at": {3: 0.1}})
    _, reports = collect(config, tiny_data())
    assert [r.records[0].eta for r in reports] == [0.5, 0.5, 0.1, 0.1]


def test_min_improvement_rule_stops_a_flat_run():
    """eta tiny: validation accuracy never moves, every epoch ties the best (a new best in
    network3's >= rule, so no_improvement never fires), yet the gain is 0 < min_delta."""
    config = tiny_config(epochs=10, eta=1e-9, early_stopping={"rule": "min_improvement", "patience": 2,
                                                              "min_delta": 0.01})
    _, reports = collect(config, tiny_data())
    assert len(reports) == 3
    assert reports[-1].status == ["early_stopped"]
    assert "rose by 0.00 points in 2 epochs" in reports[-1].reasons[0]


def test_monitor_records_training_accuracy_cost_and_bias_gradients():
    config = tiny_config(epochs=2, lmbda=2.0, layers=[{"type": "fc", "units": 5}, {"type": "fc", "units": 4},
                                                      {"type": "fc", "units": 10}],
                         monitor={"training": True, "training_sample": 6, "bias_gradients": True,
                                  "gradient_sample": 7})
    data = tiny_data(n_train=8)
    net, reports = collect(config, data)
    last = reports[-1].records[0]
    acc, cost = evaluate(net, data.train_x[:6], data.train_y[:6], COSTS[config.cost])
    decay = l2_decay(config, 8)
    assert decay == 2.0 / 8
    assert last.train_accuracy == acc[0]
    squares = sum((w[0].double() ** 2).sum().item() for w in net.weights())
    assert last.train_eval_cost == pytest.approx(cost[0] + 0.5 * decay * squares, rel=1e-6)
    assert l2_penalty(net, decay)[0] == pytest.approx(0.5 * decay * squares, rel=1e-9)
    norms = bias_gradient_norms(net, data.train_x[:7], data.train_y[:7], COSTS[config.cost])[0]
    assert len(last.bias_gradient_norms) == 2  # hidden layers only
    assert last.bias_gradient_norms == pytest.approx(norms, rel=1e-6)
    grads = mean_gradients(net, data.train_x[:7], data.train_y[:7], COSTS[config.cost])
    assert norms[0] == pytest.approx(grads[1][0].norm().item(), rel=1e-6)  # layers.0.bias


def test_monitor_off_leaves_the_diagnostics_null():
    _, reports = collect(tiny_config(epochs=1), tiny_data())
    record = reports[0].records[0]
    assert record.train_accuracy is None and record.train_eval_cost is None and record.bias_gradient_norms is None
