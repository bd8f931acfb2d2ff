"""The model factory against network3's semantics: shapes, initialisation, dropout, costs, L2."""

import math

import pytest
import torch

from nnbook.config import load_config, validate
from nnbook.nn.net import build_model, cross_entropy, log_likelihood, quadratic
from nnbook.training.loop import l2_decay

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
    w = build_model(c, [0]).layers[0].weight
    assert w.std().item() == pytest.approx(std, rel=0.05)


def test_members_are_the_runs_of_their_seeds():
    c = load_config(CONFIGS / "ch6_dbl_conv_relu.yaml")
    stacked = build_model(c, [3, 4, 5])
    for m, seed in enumerate([3, 4, 5]):
        single = build_model(c, [seed])
        for name, p in single.named_parameters():
            assert torch.equal(p[0], stacked.member_state(m)[name])
    x = torch.rand(4, 784)
    z = stacked(x, training=False)
    single = build_model(c, [4])
    assert torch.allclose(z[1], single(x, training=False)[0], atol=1e-5)


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


def test_costs_against_hand_computation():
    z = torch.tensor([[[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]])  # (K=1, B=2, 3 classes)
    y = torch.tensor([1, 2])
    p = torch.softmax(z[0], dim=-1)
    expected_ll = -(math.log(p[0, 1]) + math.log(p[1, 2])) / 2
    assert log_likelihood(z, y).item() == pytest.approx(expected_ll, rel=1e-6)
    a = torch.sigmoid(z[0])
    t = torch.tensor([[0.0, 1, 0], [0, 0, 1]])
    expected_q = (0.5 * ((a - t) ** 2).sum(1)).mean().item()
    assert quadratic(z, y).item() == pytest.approx(expected_q, rel=1e-6)
    expected_ce = (-(t * a.log() + (1 - t) * (1 - a).log()).sum(1)).mean().item()
    assert cross_entropy(z, y).item() == pytest.approx(expected_ce, rel=1e-5)


def test_l2_term_against_hand_computation():
    """network3: cost + 0.5*lmbda*sum(w^2)/num_batches; the SGD step on that cost equals
    w*(1 - eta*lmbda/num_batches) - eta*dC0/dw, which is what training applies."""
    c = config([{"type": "fc", "units": 4}, {"type": "softmax"}], lmbda=0.1, mini_batch_size=10)
    assert l2_decay(c, 50_000) == pytest.approx(0.1 / 5000)  # 2e-5, the book's scale
    c2 = c.model_copy(update={"l2_scaling": "train_size"})
    assert l2_decay(c2, 50_000) == pytest.approx(0.1 / 50_000)  # network2: 1 - eta*lmbda/n

    w = torch.randn(7, 3, requires_grad=True)
    lmbda, num_batches, eta = 0.1, 5000, 0.5
    cost = (w.sum() ** 2) + 0.5 * lmbda * (w ** 2).sum() / num_batches
    (grad,) = torch.autograd.grad(cost, w)
    (grad0,) = torch.autograd.grad(w.sum() ** 2, w)
    by_hand = w.detach() - eta * grad
    as_decay = w.detach() * (1 - eta * lmbda / num_batches) - eta * grad0
    assert torch.allclose(by_hand, as_decay, atol=1e-6)
