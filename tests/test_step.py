"""The hand-written training step against autograd, and K stacked members against K single runs.

Both on real MNIST mini-batches. Comparisons run for a few steps only: a ReLU
net's trajectory is chaotic over many steps (a 1e-7 nudge of its initial
weights grows to 1e-2 in the cost within ~50 steps, under autograd alone), so
longer runs would compare rounding, not arithmetic.
"""

import pytest
import torch

from nnbook.config import validate
from nnbook.nn.costs import one_hot
from nnbook.nn.net import build_model
from nnbook.nn.sgd import SGD, l2_decay
from nnbook.nn.step import AutogradStep, FastStep, StepKind, make_step
from nnbook.training.batches import EpochData, mini_batches
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train
from nnbook.seeds import member_generators

STEPS = 12


def config(layers, **extra):
    return validate({"name": "t", "layers": layers, "epochs": 1, "eta": 0.1, **extra}, source="test")


def conv(activation, filters=6):
    return {"type": "conv_pool", "filters": filters, "kernel": 5, "pool": 2, "activation": activation}


def fc(units, activation, p=0.0):
    return {"type": "fc", "units": units, "activation": activation, "p_dropout": p}


SOFTMAX = {"type": "softmax"}
SIGMOID_OUT = fc(10, "sigmoid")

CASES = {
    # every layer type, every activation, dropout in fc and softmax, every cost, both L2 scalings,
    # momentum (chapter 3)
    "conv_relu+conv_relu+fc_relu+softmax L2": config(
        [conv("relu"), conv("relu", 8), fc(30, "relu"), SOFTMAX], eta=0.03, lmbda=0.1),
    "conv_sigmoid+fc_sigmoid+softmax": config([conv("sigmoid"), fc(20, "sigmoid"), SOFTMAX]),
    "conv_tanh+conv_linear+softmax": config([conv("tanh"), conv("linear", 4), SOFTMAX], eta=0.03),
    "conv+dropout fc x2+dropout softmax": config(
        [conv("relu"), fc(40, "relu", 0.5), fc(30, "tanh", 0.25), {"type": "softmax", "p_dropout": 0.5}],
        eta=0.03),
    "dropout on the input images": config([fc(30, "linear", 0.2), SOFTMAX]),
    "fc cross_entropy L2/n": config([fc(30, "sigmoid"), SIGMOID_OUT], cost="cross_entropy", init="large",
                                    eta=0.5, lmbda=5.0, l2_scaling="train_size"),
    "conv+fc momentum L2": config([conv("relu"), fc(30, "sigmoid"), SOFTMAX], eta=0.03, lmbda=0.1, mu=0.5),
    "fc momentum L2/n, cross_entropy": config([fc(30, "relu"), SIGMOID_OUT], cost="cross_entropy", mu=0.9,
                                              lmbda=5.0, l2_scaling="train_size"),
    "fc quadratic": config([fc(30, "tanh"), fc(20, "relu"), SIGMOID_OUT], cost="quadratic", init="large",
                           eta=0.3),  # the book's 3.0 makes 12 steps chaotic already
}


def trajectory(step_cls, c, seeds, etas, mnist, shuffle=False):
    """Per-step costs (steps, K) and final parameters of STEPS steps on real images."""
    net = build_model(c, seeds)
    step = make_step(net, c, l2_decay(c, 50_000), kind=StepKind(fast=step_cls is FastStep))
    step.set_eta(etas)
    x = torch.from_numpy(mnist.training.x[:STEPS * 10])
    t = one_hot(torch.from_numpy(mnist.training.y[:STEPS * 10]))
    gens = member_generators(seeds, torch.device("cpu"))
    order = torch.stack([torch.randperm(len(x), generator=g) for g in gens.order]) if shuffle else None
    costs, cost_sum = [], torch.zeros(len(seeds))
    for xb, tb, masks in mini_batches(net, EpochData(x, t, order), 10, STEPS, gens.mask):
        before = cost_sum.clone()
        step(xb, tb, masks, cost_sum)
        costs.append(cost_sum - before)
    return torch.stack(costs), [p.detach().clone() for p in net.parameters()]


def assert_close_params(a, b):
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_fast_step_follows_autograd(name, mnist):
    c = CASES[name]
    seeds, etas = [0, 1], [c.eta, 0.5 * c.eta]  # two members, each its own learning rate
    fast_costs, fast_params = trajectory(FastStep, c, seeds, etas, mnist)
    ref_costs, ref_params = trajectory(AutogradStep, c, seeds, etas, mnist)
    torch.testing.assert_close(fast_costs, ref_costs, rtol=1e-4, atol=1e-5)
    assert_close_params(fast_params, ref_params)
    # and training moved the weights: the comparison is not between two untouched nets
    initial = list(build_model(c, seeds).parameters())
    assert max((p - q).abs().max().item() for p, q in zip(fast_params, initial)) > 1e-3


@pytest.mark.parametrize("shuffle", [False, True], ids=["fixed order", "reshuffled"])
def test_stacked_members_are_their_single_runs(shuffle, mnist):
    """Members share the mini-batch (fixed order, one grouped convolution over shared
    images) or each take their own (reshuffled): either way member k is the run of seed k."""
    c = CASES["conv+dropout fc x2+dropout softmax"]
    seeds = [3, 4, 5]
    costs, params = trajectory(FastStep, c, seeds, [c.eta] * 3, mnist, shuffle)
    for m, seed in enumerate(seeds):
        single_costs, single_params = trajectory(FastStep, c, [seed], [c.eta], mnist, shuffle)
        torch.testing.assert_close(costs[:, m], single_costs[:, 0], rtol=1e-4, atol=1e-5)
        assert_close_params([p[m] for p in params], [p[0] for p in single_params])


@pytest.mark.parametrize("mu", [0.0, 0.5], ids=["plain", "momentum"])
@pytest.mark.parametrize("etas", [[0.1, 0.1], [0.1, 0.05]], ids=["one eta", "eta per member"])
def test_the_fused_update_is_the_update_rule(mu, etas):
    """The fast step hands SGD eta-scaled gradients, a weight's as the two factors of a
    matrix product; the reference hands it plain gradients: one rule either way."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(2, 5, 3, generator=g), torch.randn(2, 3, generator=g)
    h, delta = torch.randn(2, 5, 4, generator=g), torch.randn(2, 4, 3, generator=g)  # weight gradient h @ delta
    grad_b = torch.randn(2, 3, generator=g)
    eta = torch.tensor(etas)
    fused_w, fused_b, ref_w, ref_b = w.clone(), b.clone(), w.clone(), b.clone()
    fused = SGD([fused_w, fused_b], [fused_w], 0.3, mu)
    ref = SGD([ref_w, ref_b], [ref_w], 0.3, mu)
    for sgd in (fused, ref):
        sgd.set_eta(etas)
    for _ in range(3):  # momentum carries over steps
        fused.matmul(fused_w, h * eta.view(2, 1, 1), delta)  # gradient h @ delta, eta folded into h
        fused.bias(fused_b, grad_b * eta.view(2, 1))
        ref.update([h @ delta, grad_b])
    torch.testing.assert_close(fused_w, ref_w)
    torch.testing.assert_close(fused_b, ref_b)
    assert not torch.allclose(fused_w, w)


def test_training_with_either_step_gives_the_same_epoch(mnist):
    c = config([conv("relu"), fc(30, "relu", 0.5), SOFTMAX], eta=0.03, lmbda=0.1, train_limit=100)
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    results = []
    for fast in (True, False):
        reports = []
        net = build_model(c, [0])
        train(net, StackSpec(c, [0]), data, reports.append, kind=StepKind(fast=fast))
        results.append((reports[0].records[0], net.member_weights(0)))
    (fast_record, fast_state), (ref_record, ref_state) = results
    assert fast_record.train_cost == pytest.approx(ref_record.train_cost, rel=1e-5)
    assert fast_record.validation_accuracy == pytest.approx(ref_record.validation_accuracy, abs=2e-4)
    for name in ref_state:
        torch.testing.assert_close(fast_state[name], ref_state[name], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("momentum", [False, True], ids=["plain", "momentum"])
def test_packed_members_are_their_runs_alone(momentum, mnist):
    """Sweep points that differ in eta, lmbda, mu and seed train as one stack (each member its
    own config): every member's epochs are those of its run alone, the eta schedule included."""
    base = config([conv("relu"), fc(30, "relu", 0.5), SOFTMAX], eta=0.03, epochs=2, train_limit=200,
                  schedule={"type": "geometric", "eta_end": 0.01})
    mus = [0.5, 0.9, 0.5] if momentum else [0.0, 0.0, 0.0]
    members = [base.model_copy(update={"name": f"t@{i}", "seed": seed, "eta": eta, "lmbda": lmbda, "mu": mu})
               for i, (seed, eta, lmbda, mu) in enumerate(zip([3, 4, 3], [0.03, 0.1, 0.01], [0.0, 0.1, 5.0], mus))]
    data = to_device(mnist, torch.device("cpu"), base.train_limit)

    def run(group):
        reports = []
        net = build_model(base, [m.seed for m in group])
        train(net, StackSpec(group[0], [m.seed for m in group], group), data, reports.append)
        return [[r.records[m] for r in reports] for m in range(len(group))], net

    packed, packed_net = run(members)
    for m, member in enumerate(members):
        alone, alone_net = run([member])
        for got, want in zip(packed[m], alone[0]):
            assert got.eta == want.eta and got.train_cost == pytest.approx(want.train_cost, rel=1e-5)
            assert got.validation_accuracy == pytest.approx(want.validation_accuracy, abs=2e-3)
        assert_close_params([p[m] for p in packed_net.parameters()], [p[0] for p in alone_net.parameters()])
    # and the members did differ: their learning rates and their trained weights
    assert [packed[m][0].eta for m in range(3)] == [0.03, 0.1, 0.01]
    w = packed_net.layers[0].weight
    assert (w[0] - w[2]).abs().max() > 1e-3  # same seed, different eta and lmbda


@pytest.mark.parametrize("name", ["conv+dropout fc x2+dropout softmax", "conv+fc momentum L2",
                                  "fc momentum L2/n, cross_entropy"])
def test_the_capture_ready_step_computes_what_the_default_step_does(name, mnist):
    """static=True (eta, decay and mu in device tensors, inputs in fixed buffers) changes where
    the numbers are read from, not the arithmetic: two epochs with a change of eta between them
    give the default step's epochs, to rounding (a decay multiplied in before a matrix product
    instead of as its beta rounds differently in the last bit). On the CPU the loop keeps the
    default step, so CPU results are the same bit for bit."""
    c = CASES[name].model_copy(update={"epochs": 2, "train_limit": 120,
                                       "schedule": {"type": "geometric", "eta_end": CASES[name].eta / 3}})
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    results = []
    for static in (False, True):
        reports = []
        net = build_model(c, [0, 1])
        train(net, StackSpec(c, [0, 1]), data, reports.append, kind=StepKind(static=static))
        results.append(([r.records for r in reports], [p.detach().clone() for p in net.parameters()]))
    (default_records, default_params), (static_records, static_params) = results
    for got, want in zip(static_records, default_records):
        for a, b in zip(got, want):
            assert a.eta == b.eta and a.train_cost == pytest.approx(b.train_cost, rel=1e-6)
            assert a.validation_accuracy == b.validation_accuracy
    for p, q in zip(static_params, default_params):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_the_capture_ready_step_reads_fixed_memory(mnist):
    """What a captured graph replays must stay at one address: the eta/B scale, the decay and mu
    tensors across set_eta, and the input buffers across steps."""
    from nnbook.training.batches import StaticBatches

    c = CASES["conv+fc momentum L2"]
    net = build_model(c, [0, 1])
    step = make_step(net, c, [2e-5, 1e-4], mu=[0.5, 0.5], kind=StepKind(static=True))
    addresses = (step.scale.data_ptr(), step.sgd.decay_t.data_ptr(), step.sgd.mu.data_ptr())
    step.set_eta([0.1, 0.2])
    assert (step.scale.data_ptr(), step.sgd.decay_t.data_ptr(), step.sgd.mu.data_ptr()) == addresses
    assert step.scale.view(-1).tolist() == pytest.approx([0.01, 0.02])
    assert step.sgd.decay_t.tolist() == pytest.approx([1 - 0.1 * 2e-5, 1 - 0.2 * 1e-4])
    x = torch.from_numpy(mnist.training.x[:50])
    t = one_hot(torch.from_numpy(mnist.training.y[:50]))
    feed = StaticBatches()
    seen = set()
    for xb, tb, _ in feed(mini_batches(net, EpochData(x, t), 10, 5, member_generators([0, 1], x.device).mask)):
        seen.add((xb.data_ptr(), tb.data_ptr()))
        step(xb, tb, None, torch.zeros(2))
    assert len(seen) == 1 and torch.equal(xb, x[40:50])
