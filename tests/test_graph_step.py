"""The step recorded as a CUDA graph (nn/graph.py), as far as a CPU can test it, and its switch.

No CPU records a CUDA graph. What the CPU can check is everything around the recording:
`GraphStep` with a recorder that 'replays' by calling (graph.call_record) copies each
mini-batch into its own buffers, adds its costs to the caller's sum, undoes its warm-up
step and records again only when a mini-batch changes shape, so a whole training through
it gives the static step's epochs; and the switch (`cuda_graph`) chooses between the
recorded and the eager step. The recording itself is tests/test_cuda.py's, on a GPU.
"""

from types import SimpleNamespace

import pytest
import torch

from nnbook.config.identity import identity_key
from nnbook.nn import step as steps
from nnbook.nn.costs import one_hot
from nnbook.nn.graph import GraphStep, call_record
from nnbook.nn.net import build_model
from nnbook.nn.step import FastStep, StepKind, captures, make_step
from nnbook.seeds import member_generators
from nnbook.training.batches import EpochData, mini_batches
from nnbook.training.devices import to_device
from nnbook.training.loop import StackSpec, train

from .test_step import CASES


@pytest.mark.parametrize("name", ["conv+dropout fc x2+dropout softmax", "conv+fc momentum L2"])
def test_training_through_the_recorded_step_gives_the_static_steps_epochs(name, mnist, monkeypatch):
    """Two epochs with a change of eta between them, dropout or momentum: the weights equal the
    eager static step's bit for bit (the warm-up step was undone, every mini-batch and mask
    reached the step, eta reached it through set_eta), the costs to rounding (added in two
    steps instead of one), and the step was recorded once for the whole training."""
    c = CASES[name].model_copy(update={"epochs": 2, "train_limit": 100,
                                       "schedule": {"type": "geometric", "eta_end": CASES[name].eta / 3}})
    data = to_device(mnist, torch.device("cpu"), c.train_limit)
    made = []

    class Recorded(GraphStep):  # the GPU's branch of make_step, 'replayed' by calling
        def __init__(self, step):
            super().__init__(step, call_record)
            made.append(self)

    results = []
    for record in (False, True):
        with monkeypatch.context() as patch:
            if record:
                patch.setattr(steps, "captures", lambda net, config: True)
                patch.setattr(steps, "GraphStep", Recorded)
            reports = []
            net = build_model(c, [0, 1])
            train(net, StackSpec(c, [0, 1]), data, reports.append, kind=StepKind(static=not record))
            results.append(([r.records for r in reports], [p.detach().clone() for p in net.parameters()]))
    (static_records, static_params), (graph_records, graph_params) = results
    assert len(made) == 1 and made[0].recordings == 1
    assert [len(r) for r in graph_records] == [2, 2]
    for got, want in zip(graph_records, static_records):
        for a, b in zip(got, want):
            assert a.eta == b.eta and a.train_cost == pytest.approx(b.train_cost, rel=1e-6)
            assert a.validation_accuracy == b.validation_accuracy
    for p, q in zip(graph_params, static_params):
        assert torch.equal(p, q)


def batches(net, mnist, n: int, per_member: bool = False):
    """n mini-batches of 10 real images on the net's device, as the loop feeds them."""
    device = net.layers[0].weight.device
    x = torch.from_numpy(mnist.training.x[:10 * n]).to(device)
    t = one_hot(torch.from_numpy(mnist.training.y[:10 * n])).to(device)
    order = torch.arange(10 * n, device=device).expand(net.k, -1) if per_member else None
    return list(mini_batches(net, EpochData(x, t, order), 10, n, member_generators(list(range(net.k)), device).mask))


def test_a_mini_batch_of_another_shape_is_recorded_again(mnist):
    """Shared images (B, 784) then per-member ones (K, B, 784): the recording is made again
    for the new shape, and each step still computes what the eager static step does."""
    c = CASES["conv+dropout fc x2+dropout softmax"]
    nets = [build_model(c, [0, 1]) for _ in range(2)]
    eager = make_step(nets[0], c, 2e-5, kind=StepKind(static=True))
    recorded = GraphStep(make_step(nets[1], c, 2e-5, kind=StepKind(static=True)), call_record)
    feed = batches(nets[0], mnist, 3) + batches(nets[0], mnist, 3, per_member=True)
    sums = [torch.zeros(2), torch.zeros(2)]
    for xb, tb, masks in feed:
        eager(xb, tb, masks, sums[0])
        recorded(xb, tb, masks, sums[1])
    assert recorded.recordings == 2
    torch.testing.assert_close(sums[1], sums[0], rtol=1e-6, atol=0)
    for p, q in zip(nets[1].parameters(), nets[0].parameters()):
        assert torch.equal(p, q)


def test_only_the_static_step_can_be_recorded():
    c = CASES["conv+fc momentum L2"]
    with pytest.raises(ValueError, match="static"):
        GraphStep(make_step(build_model(c, [0]), c, 2e-5))


def on(device_type: str):
    """A stand-in net on `device_type`: what `captures` reads of a net."""
    return SimpleNamespace(layers=[SimpleNamespace(weight=SimpleNamespace(device=torch.device(device_type)))])


def test_the_switch_records_on_a_gpu_unless_cuda_graph_is_false():
    c = CASES["conv+fc momentum L2"]
    assert c.cuda_graph is True  # the default
    assert captures(on("cuda"), c)
    assert not captures(on("cuda"), c.model_copy(update={"cuda_graph": False}))
    assert not captures(on("cpu"), c) and not captures(on("mps"), c)
    # on this CPU the default config makes the eager fast step
    assert type(make_step(build_model(c, [0]), c, 2e-5)) is FastStep
    # a recording changes where the step runs, not the experiment
    assert identity_key(c) == identity_key(c.model_copy(update={"cuda_graph": False}))


def test_cuda_graph_is_a_config_key_and_a_set_override(tmp_path):
    from nnbook.config import load_config
    from nnbook.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("name: c\nlayers: [{type: softmax}]\nepochs: 1\neta: 0.1\n")
    assert load_config(path, ["cuda_graph=false"]).cuda_graph is False
    with pytest.raises(ConfigError, match="cuda_graph"):
        load_config(path, ["cuda_graph=sometimes"])
