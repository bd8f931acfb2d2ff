"""The model's own tables and layers against network3's and network2's semantics, by hand:
shapes, the initialisation rule, the activations, dropout, the costs (values, output deltas,
probabilities) and the L2 convention of the update."""

import math

import pytest
import torch

from nnbook.config import load_config, validate
from nnbook.nn.activations import ACTIVATIONS
from nnbook.nn.costs import COSTS, one_hot
from nnbook.nn.init import conv_fans, weight_std
from nnbook.nn.net import build_model
from nnbook.nn.sgd import SGD, l2_decay

from .conftest import CONFIGS


def config(layers, **extra):
    return validate({"name": "t", "layers": layers, "epochs": 1, "eta": 0.1, **extra}, source="test")


@pytest.mark.parametrize("path", sorted(p for p in CONFIGS.glob("ch6_*.yaml") if "_sweep_" not in p.stem),
                         ids=lambda p: p.stem)
def test_every_chapter6_net_builds_and_runs(path):
    c = load_config(path)
    net = build_model(c, [0, 1])
    x = torch.rand(3, 784)
    z = net(x)
    assert z.shape == (2, 3, 10) and torch.isfinite(z).all()
    probs = net.probabilities(x)
    assert probs.shape == (2, 3, 10)
    assert torch.allclose(probs.sum(-1), torch.ones(2, 3))


# ----------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize("init, expected", [
    ("network3", math.sqrt(1 / 100)),  # n_out, the book's numbers (its author meant n_in)
    ("default", math.sqrt(1 / 784)),  # network2: n_in
    ("large", 1.0),  # chapter 1
    ("he", math.sqrt(2 / 784)),
])
def test_the_init_rule_gives_each_init_its_std(init, expected):
    assert weight_std(init, fan_in=784, n_out=100) == pytest.approx(expected, rel=1e-12)


def test_network3_counts_a_conv_layers_n_out_per_pooled_output():
    # 20 filters of 5x5 after 2x2 pooling: n_out = 20*25/4 = 125; fan_in = 1*25
    assert conv_fans(filters=20, in_channels=1, kernel=5, pool=2) == (25, 125.0)
    assert conv_fans(filters=40, in_channels=20, kernel=5, pool=2) == (500, 250.0)


def test_network3_initialisation_statistics():
    c = config([{"type": "conv_pool", "filters": 20, "kernel": 5, "pool": 2},
                {"type": "fc", "units": 100}, {"type": "softmax"}])
    net = build_model(c, [0])
    conv, fc, soft = net.layers
    # conv: std sqrt(1/n_out), n_out = filters*5*5/(2*2) = 125
    assert conv.weight.std().item() == pytest.approx(math.sqrt(1 / 125), rel=0.1)
    # fc: std sqrt(1/n_out) with n_out = 100 (the book's n_out, not n_in = 2880)
    assert fc.weight.std().item() == pytest.approx(math.sqrt(1 / 100), rel=0.05)
    assert fc.bias.std().item() == pytest.approx(1.0, rel=0.3)
    assert abs(fc.weight.mean().item()) < 0.005
    assert torch.count_nonzero(soft.weight) == 0 and torch.count_nonzero(soft.bias) == 0


@pytest.mark.parametrize("init, std", [("default", 1 / math.sqrt(784)), ("large", 1.0), ("he", math.sqrt(2 / 784))])
def test_other_initialisations(init, std):
    c = config([{"type": "fc", "units": 300}, {"type": "fc", "units": 10}], init=init, cost="cross_entropy")
    layer = build_model(c, [0]).layers[0]
    assert layer.weight.std().item() == pytest.approx(std, rel=0.05)
    if init == "he":  # nnbook's ReLU answer starts its biases at zero
        assert torch.count_nonzero(layer.bias) == 0
    else:
        assert layer.bias.std().item() == pytest.approx(1.0, rel=0.2)


def test_a_softmax_layer_starts_at_zero_only_under_network3():
    layers = [{"type": "fc", "units": 30}, {"type": "softmax"}]
    soft = build_model(config(layers, init="default"), [0]).layers[1]
    assert torch.count_nonzero(soft.weight) == soft.weight.numel()
    assert soft.weight.std().item() == pytest.approx(1 / math.sqrt(30), rel=0.1)


def test_members_are_the_runs_of_their_seeds():
    c = load_config(CONFIGS / "ch6_dbl_conv_relu.yaml")
    stacked = build_model(c, [3, 4, 5])
    for m, seed in enumerate([3, 4, 5]):
        single = build_model(c, [seed])
        for name, p in single.named_parameters():
            assert torch.equal(p[0], stacked.member_weights(m)[name])
    x = torch.rand(4, 784)
    z = stacked(x, training=False)
    single = build_model(c, [4])
    assert torch.allclose(z[1], single(x, training=False)[0], atol=1e-5)


# ----------------------------------------------------------------------------- activations and layers


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activations_backward_from_its_output_is_its_derivative(name):
    act = ACTIVATIONS[name]
    z = torch.linspace(-3, 3, 13, dtype=torch.float64).requires_grad_()  # z = 0 included: ReLU's kink
    a = act.fn(z)
    grad = torch.rand(13, dtype=torch.float64)
    (expected,) = torch.autograd.grad(a, z, grad)
    assert torch.allclose(act.backward(grad, a.detach()), expected, atol=1e-12)
    assert torch.equal(act.fn_(z.detach().clone()), a.detach())  # the in-place form is the same function


def test_dropout_masks_the_input_unscaled_and_scales_by_1_minus_p_at_evaluation():
    c = config([{"type": "fc", "units": 6, "activation": "linear", "p_dropout": 0.25}, {"type": "softmax"}])
    net = build_model(c, [0])
    layer = net.layers[0]
    x = torch.rand(1, 5, 784)
    mask = (torch.rand(1, 5, 784) < 0.75).float()
    w, b = layer.weight[0], layer.bias[0]
    train_out = layer(x, mask, training=True)
    assert torch.allclose(train_out[0], (x[0] * mask[0]) @ w + b, atol=1e-5)  # no 1/(1-p) rescaling
    eval_out = layer(x, None, training=False)
    assert torch.allclose(eval_out[0], 0.75 * (x[0] @ w) + b, atol=1e-5)


def test_the_training_step_runs_the_same_forward_as_evaluation_and_autograd():
    """The hand-written step's forward (keeping what its backward needs) is the layers'
    one forward: the same z as the plain call, for conv, shared and per-member inputs."""
    c = config([{"type": "conv_pool", "filters": 4, "kernel": 5, "pool": 2, "activation": "relu"},
                {"type": "fc", "units": 8, "activation": "tanh", "p_dropout": 0.5}, {"type": "softmax"}])
    net = build_model(c, [0, 1])
    masks = {1: torch.rand(2, 3, 4 * 12 * 12) < 0.5}
    for x in (torch.rand(3, 784), torch.rand(2, 3, 784)):
        kept: list = []
        with torch.no_grad():
            z = net.forward(x, masks, True, kept)
            plain = net(x, masks)
        assert len(kept) == 3 and torch.equal(z, plain)


# ----------------------------------------------------------------------------- costs


Z = torch.tensor([[[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]], dtype=torch.float64)  # (K=1, B=2, 3 classes)
Y = torch.tensor([1, 2])
T = torch.tensor([[0.0, 1, 0], [0, 0, 1]], dtype=torch.float64)  # Y one-hot


def by_hand(name):
    """(mean cost, dC/dz of the mean, probabilities) of Z, Y from the book's formulas."""
    if name == "log_likelihood":
        p = torch.softmax(Z[0], dim=-1)
        cost = -(math.log(p[0, 1]) + math.log(p[1, 2])) / 2
        return cost, (p - T) / 2, p
    a = torch.sigmoid(Z[0])
    probs = a / a.sum(-1, keepdim=True)
    if name == "quadratic":
        return (0.5 * ((a - T) ** 2).sum(1)).mean().item(), (a - T) * a * (1 - a) / 2, probs
    cost = (-(T * a.log() + (1 - T) * (1 - a).log()).sum(1)).mean().item()
    return cost, (a - T) / 2, probs


@pytest.mark.parametrize("name", sorted(COSTS))
def test_costs_values_deltas_and_probabilities_against_hand_computation(name):
    cost, delta, probs = by_hand(name)
    c = COSTS[name]
    assert c(Z, Y).item() == pytest.approx(cost, rel=1e-12)
    assert c(Z, Y.expand(1, 2)).item() == pytest.approx(cost, rel=1e-12)  # per-member labels (K, B)
    # The fused delta at scale eta/B (eta = 0.3, B = 2) is eta * dC/dz of the mean cost;
    # the mean cost is added to cost_sum.
    cost_sum = torch.full((1,), 10.0, dtype=torch.float64)
    got = c.delta(Z.clone(), T, cost_sum, 0.3 / 2)
    assert torch.allclose(got[0], 0.3 * delta, atol=1e-12)
    assert cost_sum.item() == pytest.approx(10.0 + cost, rel=1e-12)
    assert torch.allclose(c.probabilities(Z)[0], probs, atol=1e-12)


def test_one_hot_targets_are_float_rows_of_ten():
    t = one_hot(torch.tensor([3, 0]))
    assert t.dtype == torch.float32 and t.shape == (2, 10)
    assert t[0, 3] == 1 and t[1, 0] == 1 and t.sum() == 2


# ----------------------------------------------------------------------------- L2


def test_l2_term_against_hand_computation():
    """network3: cost + 0.5*lmbda*sum(w^2)/num_batches. nnbook's update with c = l2_decay
    (weight decay on the weights, from the gradient of the cost alone) must equal plain
    gradient descent on the cost with that L2 term, which leaves biases unregularised."""
    c = config([{"type": "fc", "units": 4}, {"type": "softmax"}], lmbda=0.1, mini_batch_size=10)
    assert l2_decay(c, 50_000) == pytest.approx(0.1 / 5000)  # 2e-5, the book's scale
    c2 = c.model_copy(update={"l2_scaling": "train_size"})
    assert l2_decay(c2, 50_000) == pytest.approx(0.1 / 50_000)  # network2: 1 - eta*lmbda/n

    lmbda, n_train, eta = 5.0, 100, 0.5  # c = 0.5: a decay far above rounding
    c3 = c.model_copy(update={"lmbda": lmbda, "init": "default"})
    net = build_model(c3, [0]).double()
    x, y = torch.rand(10, 784, dtype=torch.float64), torch.randint(0, 10, (10,))
    params = list(net.parameters())
    cost = COSTS["log_likelihood"](net(x), y).sum()
    with_l2 = cost + 0.5 * lmbda * sum((w ** 2).sum() for w in net.weights()) / (n_train // 10)
    expected = [p.detach() - eta * g for p, g in zip(params, torch.autograd.grad(with_l2, params, retain_graph=True))]
    grads = torch.autograd.grad(cost, params)
    sgd = SGD(params, net.weights(), l2_decay(c3, n_train), mu=0.0)
    sgd.set_eta([eta])
    with torch.no_grad():
        sgd.update(grads)
    for p, q in zip(params, expected):
        torch.testing.assert_close(p.detach(), q, rtol=1e-6, atol=1e-6)
