"""nnbook on a CUDA GPU: `pytest -m cuda` (benchmarks/device_check.sh runs them on a lent GPU).

Every test here is marked `cuda` and skips, saying why, where torch sees no CUDA GPU: on
the CPU machines that run `make test` they are reported as skipped and cost nothing. They
cover what only a GPU runs: the device a config names, K stacked members on the device,
dropout masks drawn by the device's generators, a CUDA run used on the CPU (its files, its
model) and resumed on the GPU (a resume on another device type is refused, both ways),
and the step recorded as a CUDA graph (nn/graph.py) against the same step run eagerly.
"""

import re
import signal
import subprocess

import pytest
import torch

from nnbook.config import load_config
from nnbook.errors import ConfigError
from nnbook.nn.graph import GraphStep
from nnbook.nn.net import build_model
from nnbook.nn.step import FastStep, StepKind, make_step
from nnbook.seeds import member_generators
from nnbook.training.batches import draw_masks
from nnbook.training.devices import resolve_device, to_device
from nnbook.training.loop import StackSpec, train

from .cli import CONFIGS, read_json, run_dirs
from .test_graph_step import batches
from .test_resume import halfway_through, metrics, metrics_lines, start, stopped, the_run
from .test_step import CASES

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason=f"needs a CUDA GPU; this torch ({torch.__version__}) sees none")]
GPU = torch.device("cuda")
# ch6_shallow with dropout, momentum and reshuffling: every random stream and the velocity
# in the checkpoint (tests/test_resume.py's settings: 1,000 images in mini-batches of 20).
SETTINGS = ["--set", "train_limit=1000", "--set", "epochs=4", "--set", "mini_batch_size=20",
            "--set", "shuffle=true", "--set", "layers.0.p_dropout=0.2", "--set", "mu=0.5"]


def test_device_selection():
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda") == GPU and resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=f"only {torch.cuda.device_count()} CUDA GPU"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_a_run_on_the_gpu_records_its_device(tmp_path, mnist_slice, cli):
    result = cli("train", CONFIGS / "ch6_dbl_conv_relu.yaml", "--set", f"data={mnist_slice}", "--set", "epochs=1",
                 "--set", "train_limit=500", "--device", "cuda", "--runs-dir", tmp_path, "--quiet")
    assert result.returncode == 0, result.stderr
    summary = read_json(run_dirs(tmp_path)[0] / "summary.json")
    assert summary["device"].startswith("cuda") and summary["hardware"] == torch.cuda.get_device_name(0)
    assert summary["status"] == "completed" and summary["test_accuracy"] > 0.5


def trained(config, seeds, mnist, device=GPU):
    data = to_device(mnist, device, config.train_limit)
    net = build_model(config, seeds).to(device)
    reports = []
    train(net, StackSpec(config, seeds), data, reports.append)
    return net, reports


@pytest.mark.parametrize("name", ["conv_relu+conv_relu+fc_relu+softmax L2", "conv+dropout fc x2+dropout softmax"])
def test_stacked_members_train_as_they_would_alone(name, mnist):
    """Three members packed on the GPU: member m's epoch as the run with its seed alone there
    (the same masks from its own generator; to float32 rounding, for the ops run batched)."""
    c = CASES[name].model_copy(update={"epochs": 1, "train_limit": 200})
    packed, packed_reports = trained(c, [0, 1, 2], mnist)
    for m in range(3):
        alone, alone_reports = trained(c, [m], mnist)
        a, b = packed_reports[0].records[m], alone_reports[0].records[0]
        assert a.train_cost == pytest.approx(b.train_cost, rel=1e-4)
        assert a.validation_accuracy == pytest.approx(b.validation_accuracy, abs=2e-3)
        for p, q in zip(packed.parameters(), alone.parameters()):
            torch.testing.assert_close(p[m], q[0], rtol=1e-3, atol=1e-4)


def test_dropout_masks_come_from_each_members_device_generator():
    """On the GPU, from the GPU's generators: the same seed gives the same masks, member m's
    masks do not depend on the members beside it, and about 1 - p of the inputs are kept."""
    net3 = build_model(CASES["conv+dropout fc x2+dropout softmax"], [0, 1, 2]).to(GPU)
    net1 = build_model(CASES["conv+dropout fc x2+dropout softmax"], [1]).to(GPU)
    gens3, gens1, again = (member_generators(s, GPU).mask for s in ([0, 1, 2], [1], [0, 1, 2]))
    assert all(g.device.type == "cuda" for g in gens3)
    masks3 = draw_masks(net3, net3.dropout_sizes(), gens3, 4, 10)
    masks1 = draw_masks(net1, net1.dropout_sizes(), gens1, 4, 10)
    repeat = draw_masks(net3, net3.dropout_sizes(), again, 4, 10)
    for i, m in masks3.items():
        assert m.device.type == "cuda" and m.shape[:3] == (4, 3, 10)
        assert torch.equal(m, repeat[i])
        assert torch.equal(m[:, 1], masks1[i][:, 0])
        assert not torch.equal(m[:, 0], m[:, 1])
        keep = 1 - net3.layers[i].p_dropout
        assert abs(m.float().mean().item() - keep) < 0.05


def test_the_recorded_step_computes_what_the_eager_step_does(mnist):
    """The default step on a GPU is recorded (GraphStep); 40 steps with dropout and momentum
    give the eager static step's weights (the same kernels on the same numbers)."""
    c = CASES["conv+dropout fc x2+dropout softmax"].model_copy(update={"mu": 0.5})
    nets = [build_model(c, [0, 1]).to(GPU) for _ in range(2)]
    recorded = make_step(nets[0], c, 2e-5)
    eager = make_step(nets[1], c.model_copy(update={"cuda_graph": False}), 2e-5, kind=StepKind(static=True))
    assert isinstance(recorded, GraphStep) and type(eager) is FastStep
    sums = [torch.zeros(2, device=GPU), torch.zeros(2, device=GPU)]
    for xb, tb, masks in batches(nets[1], mnist, 40):
        recorded(xb, tb, masks, sums[0])
        eager(xb, tb, masks, sums[1])
    torch.cuda.synchronize()
    assert recorded.recordings == 1
    torch.testing.assert_close(sums[0], sums[1], rtol=1e-5, atol=0)
    for p, q in zip(*(n.parameters() for n in nets)):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_a_whole_training_is_recorded_once_and_agrees_with_eager(mnist):
    c = CASES["conv+fc momentum L2"].model_copy(update={"epochs": 2, "train_limit": 300})
    recorded, graph_reports = trained(c, [0, 1], mnist)
    eager, eager_reports = trained(c.model_copy(update={"cuda_graph": False}), [0, 1], mnist)
    for a, b in zip(graph_reports[-1].records, eager_reports[-1].records):
        assert a.train_cost == pytest.approx(b.train_cost, rel=1e-4)
    for p, q in zip(recorded.parameters(), eager.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def interrupted(args: list[str], runs_dir) -> subprocess.CompletedProcess:
    """A training stopped by Ctrl-C halfway through its second epoch (1,000 images / 20)."""
    proc = start(args, runs_dir, pause_at=halfway_through(2))
    with stopped(proc):
        assert metrics_lines(the_run(runs_dir)) == 1
        proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_cuda_run_is_read_on_the_cpu_and_resumed_on_the_gpu(tmp_path, mnist_slice, cli):
    """Interrupted on the GPU: its checkpoint and model hold CPU tensors, `evaluate --device cpu`
    gives its recorded test accuracy (to float32 rounding across devices), a resume on the CPU is refused in one line (its random
    streams are the GPU's) and leaves the run as it was; resumed on the GPU it ends as the
    uninterrupted GPU run does. A CPU run resumed on the GPU is refused the same way."""
    args = ["train", CONFIGS / "ch6_shallow.yaml", "--set", f"data={mnist_slice}", *SETTINGS]
    reference = tmp_path / "reference"
    assert cli(*args, "--device", "cuda", "--runs-dir", reference, "--quiet").returncode == 0
    gpu_runs = tmp_path / "gpu"
    assert interrupted([*map(str, args), "--device", "cuda"], gpu_runs).returncode != 0
    run = the_run(gpu_runs)
    for name in ("model.pt", "checkpoint.pt"):
        saved = torch.load(run / name, weights_only=True)
        tensors = [v for v in flatten(saved) if isinstance(v, torch.Tensor)]
        assert tensors and all(t.device.type == "cpu" for t in tensors), name
    summary = read_json(run / "summary.json")
    result = cli("evaluate", run, "--device", "cpu")
    assert result.returncode == 0, result.stderr
    on_cpu = float(re.search(r"accuracy ([\d.]+)%", result.stdout).group(1)) / 100
    assert on_cpu == pytest.approx(summary["test_accuracy"], abs=2e-3)  # 2 of 1,000 images may round apart

    refused = cli("train", "--resume", run, "--device", "cpu")
    assert refused.returncode == 2 and "trained on cuda" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and metrics_lines(run) == 1
    assert cli("train", "--resume", run, "--quiet").returncode == 0
    assert metrics(run) == metrics(run_dirs(reference)[0])

    cpu_runs = tmp_path / "cpu"
    interrupted([*map(str, args), "--device", "cpu"], cpu_runs)
    refused = cli("train", "--resume", the_run(cpu_runs), "--device", "cuda")
    assert refused.returncode == 2 and "trained on cpu" in refused.stderr


def flatten(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from flatten(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from flatten(v)
    else:
        yield value


def test_a_config_may_ask_for_the_eager_step(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nlayers: [{type: softmax}]\nepochs: 1\neta: 0.1\ndevice: cuda\n")
    config = load_config(path, ["cuda_graph=false"])
    step = make_step(build_model(config, [0]).to(GPU), config, 0.0)
    assert type(step) is FastStep and not step.static
