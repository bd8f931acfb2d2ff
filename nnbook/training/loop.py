"""The training loop: mini-batch SGD with network3's bookkeeping.

`train(net, config, data, seeds, on_epoch)` trains the K members of a
`StackedNet` together. Each member keeps its own seed, dropout masks, data
order, best-validation bookkeeping and early stopping, so member k's epochs
are those a single run with seed `seeds[k]` would produce.

Per epoch: eta from the schedule, the mini-batches in order (network3: the
data's fixed order, the last partial mini-batch dropped; network2: reshuffled),
then validation accuracy; when it is >= the best so far it becomes the best and
the test accuracy is computed. The reported figure is the test accuracy at the
best validation epoch. Then the optional diagnostics (`config.monitor`), the
chapter 3 halving schedule and the early-stopping rule (`schedules.py`).

With an `augment` block, each epoch begins by distorting the training images
afresh, a copy per member from the member's own generator (augment.py), once
for the whole epoch rather than per mini-batch. Validation and test images are
never distorted.

No YAML, no Typer, no file I/O: results go to the `on_epoch` callback.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch

from nnbook.data import augment
from nnbook.config import Config, HalvingSchedule
from nnbook.data.mnist import Dataset
from nnbook.errors import ConfigError
from nnbook.nn.net import COSTS, StackedNet
from nnbook.training.schedules import eta_at, halve_on_plateau, stop_reason
from nnbook.nn.step import make_step, one_hot

MASK_BUDGET = 4_000_000  # dropout-mask elements drawn per member per draw (~4 MB as bool)


# ----------------------------------------------------------------------------- bookkeeping (pure)


@dataclass
class Best:
    """Best-validation bookkeeping of one member."""

    validation_accuracy: float = -1.0
    epoch: Optional[int] = None  # 1-based
    test_accuracy: Optional[float] = None
    stale: int = 0  # epochs since the last new best


def record_validation(best: Best, epoch: int, accuracy: float) -> tuple[Best, bool]:
    """network3's rule: a validation accuracy >= the best so far is the new best
    (ties move the best to the later epoch). Returns (new bookkeeping, is_best)."""
    if accuracy >= best.validation_accuracy:
        return Best(accuracy, epoch, None, 0), True
    return Best(best.validation_accuracy, best.epoch, best.test_accuracy, best.stale + 1), False


def l2_decay(config: Config, n_train: int) -> float:
    """The weight-decay coefficient c in w <- w - eta*(dC0/dw + c*w), i.e. the
    gradient of the L2 term. network3: 0.5*lmbda*sum(w^2)/num_training_batches,
    so c = lmbda/num_batches (0.1 -> 2e-5 at 5,000 batches); network2:
    lmbda/(2n)*sum(w^2), so c = lmbda/n (decay factor 1 - eta*lmbda/n)."""
    if config.l2_scaling == "num_batches":
        return config.lmbda / (n_train // config.mini_batch_size)
    return config.lmbda / n_train


# ----------------------------------------------------------------------------- data on the device


@dataclass
class DeviceData:
    train_x: torch.Tensor
    train_y: torch.Tensor
    validation_x: torch.Tensor
    validation_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name} asked for, but this torch ({torch.__version__}) sees no CUDA GPU; "
                              "use device: auto or cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device: {name} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: mps asked for, but MPS is not available; use device: auto or cpu")
    return torch.device(name)


def to_device(dataset: Dataset, device: torch.device, train_limit: Optional[int] = None) -> DeviceData:
    """All three splits as tensors on the device, loaded once."""
    tr = dataset.training
    n = min(train_limit or len(tr), len(tr))

    def put(a):
        return torch.from_numpy(a).to(device)

    return DeviceData(put(tr.x[:n]), put(tr.y[:n]), put(dataset.validation.x), put(dataset.validation.y),
                      put(dataset.test.x), put(dataset.test.y))


# ----------------------------------------------------------------------------- the loop


@dataclass
class EpochRecord:
    """One member's epoch: one line of metrics.jsonl."""

    epoch: int  # 1-based: epoch 1 is the first pass over the training data
    train_cost: float  # mean mini-batch cost over the epoch, L2 term excluded
    validation_accuracy: float
    test_accuracy: Optional[float]  # only at a new best validation accuracy
    eta: float
    seconds: float
    # Diagnostics, null unless `monitor` asks for them:
    train_accuracy: Optional[float] = None  # on the training data (or its first training_sample images)
    train_eval_cost: Optional[float] = None  # the same images, evaluation mode, L2 term included
    bias_gradient_norms: Optional[list[float]] = None  # ||dC/db|| per layer, output layer excluded


@dataclass
class EpochReport:
    """What `on_epoch` receives after every epoch."""

    epoch: int
    records: list[Optional[EpochRecord]]  # None for members that had already stopped
    best: list[Best]
    status: list[Optional[str]]  # None while training, else early_stopped | diverged
    reasons: list[Optional[str]]  # why a member stopped early this epoch, in words
    improved: list[bool]  # members whose validation accuracy is a new best this epoch
    net: StackedNet
    test_probabilities: Optional[torch.Tensor]  # (K, 10000, 10), when any member improved
    state: Callable[[int], dict]  # member m's resumable checkpoint, built on demand


@dataclass
class TrainState:
    """Everything needed to continue after `epoch` completed epochs."""

    epoch: int = 0  # epochs completed
    best: list[Best] = field(default_factory=list)
    status: list[Optional[str]] = field(default_factory=list)
    eta: list[float] = field(default_factory=list)
    history: list[list[float]] = field(default_factory=list)  # validation accuracy per epoch, per member
    plateau: list[int] = field(default_factory=list)  # halving schedule: epochs since a best or a halving
    velocity: Optional[list[torch.Tensor]] = None  # momentum, shaped as net.parameters() (K axis first)
    data_generators: list[torch.Tensor] = field(default_factory=list)  # CPU: data order
    mask_generators: list[torch.Tensor] = field(default_factory=list)  # device: dropout masks
    augment_generators: list[Optional[torch.Tensor]] = field(default_factory=list)  # device: distortions


def member_generators(seeds: list[int], device: torch.device) -> tuple[list, list]:
    """Per member: a CPU generator for the data order and a device generator for
    dropout masks, both derived from the member's seed (initialisation uses its own
    generator with the seed itself, in `build_model`)."""
    data_gens, mask_gens = [], []
    for seed in seeds:
        data_gens.append(torch.Generator().manual_seed(seed + 1_000_003))
        mask_gens.append(torch.Generator(device=device).manual_seed(seed + 2_000_003))
    return data_gens, mask_gens


def train(net: StackedNet, config: Config, data: DeviceData, seeds: list[int],
          on_epoch: Callable[[EpochReport], None],
          on_progress: Optional[Callable[[int, int], None]] = None,
          state: Optional[TrainState] = None, fast: bool = True) -> TrainState:
    """Train until `config.epochs`, early stopping or divergence of every member.
    `on_progress(steps_done, n_batches)` is called every ~1% of an epoch.
    fast=False takes the autograd reference step instead of the hand-written one."""
    k = len(seeds)
    device = data.train_x.device
    n_train = len(data.train_y)
    batch = config.mini_batch_size
    n_batches = n_train // batch  # the last partial mini-batch is dropped
    if n_batches == 0:
        raise ConfigError(f"mini_batch_size {batch} is larger than the {n_train} training images")

    data_gens, mask_gens = member_generators(seeds, device)
    distorting = config.augment is not None and config.augment.enabled()
    augment_gens = augment.generators(seeds, device) if distorting else []
    if state is None:
        state = TrainState(0, [Best() for _ in seeds], [None] * k, [config.eta] * k,
                           [[] for _ in seeds], [0] * k)
    else:
        for g, s in zip(data_gens, state.data_generators):
            g.set_state(s)
        for g, s in zip(mask_gens, state.mask_generators):
            g.set_state(s)
        for g, s in zip(augment_gens, state.augment_generators):
            if s is not None:
                g.set_state(s)

    cost_fn = COSTS[config.cost]
    decay = l2_decay(config, n_train)
    if config.mu > 0 and state.velocity is None:
        state.velocity = [torch.zeros_like(p) for p in net.parameters()]
    step_fn = make_step(net, config, decay, fast=fast, velocity=state.velocity if config.mu > 0 else None)
    targets = one_hot(data.train_y)  # (n, 10): the costs take one-hot rows, made once
    # Distorting, the K copies of the images are stacked (K*n, 784); their labels never change.
    member_targets = targets.repeat(k, 1) if distorting else None  # (K*n, 10)
    report_every = max(1, n_batches // 100)

    while state.epoch < config.epochs and any(s is None for s in state.status):
        epoch = state.epoch
        start = time.perf_counter()
        if config.schedule is not None and config.schedule.type != "halving":
            for m in range(k):
                if state.status[m] is None:  # a diverged member keeps eta 0
                    state.eta[m] = eta_at(config.schedule, config.eta, epoch + 1, config.epochs)
        step_fn.set_eta(state.eta)
        order = None
        if config.shuffle:  # network2: a fresh permutation per member per epoch
            order = torch.stack([torch.randperm(n_train, generator=g) for g in data_gens]).to(device)
        train_x, train_targets = data.train_x, targets
        if distorting:  # each member's own fresh distortions; the batches become per member
            train_x, order = distorted_epoch(data, config, augment_gens, order)
            train_targets = member_targets
        cost_sum = torch.zeros(k, device=device)
        steps = 0
        for xb, tb, masks in mini_batches(net, train_x, train_targets, batch, n_batches, order, mask_gens):
            step_fn(xb, tb, masks, cost_sum)
            steps += 1
            if steps % report_every == 0:
                if on_progress:
                    on_progress(steps, n_batches)
                finite = torch.isfinite(cost_sum).tolist()  # the one host sync, every ~1% of an epoch
                if not any(f for f, s in zip(finite, state.status) if s is None):
                    break  # every training member diverged: stop at once
        train_cost = (cost_sum / steps).tolist()

        # Evaluation: every member on the whole validation set, in large batches.
        val_acc = accuracy(net, data.validation_x, data.validation_y)
        records: list[Optional[EpochRecord]] = [None] * k
        improved = [False] * k
        for m in range(k):
            if state.status[m] is not None:
                continue
            if not math.isfinite(train_cost[m]):
                state.status[m] = "diverged"
                state.eta[m] = 0.0  # freeze it: members are independent, the others go on
                continue
            state.best[m], improved[m] = record_validation(state.best[m], epoch + 1, val_acc[m])
        test_probs = None
        if any(improved):
            test_probs = net.probabilities(data.test_x, eval_batch(k))
            correct = (test_probs.argmax(-1) == data.test_y).sum(dim=1).tolist()
            test_acc = [c / len(data.test_y) for c in correct]
        seconds = time.perf_counter() - start  # diagnostics below are not training time
        extra = monitor_epoch(net, config, data, cost_fn, decay)
        reasons: list[Optional[str]] = [None] * k
        for m in range(k):
            if state.status[m] is not None:  # stopped earlier, or diverged this epoch
                continue
            t = test_acc[m] if improved[m] else None
            if improved[m]:
                state.best[m].test_accuracy = t
            records[m] = EpochRecord(epoch + 1, train_cost[m], val_acc[m], t, state.eta[m], seconds,
                                     **{key: values[m] for key, values in extra.items()})
            state.history[m].append(val_acc[m])
            if isinstance(config.schedule, HalvingSchedule):
                state.eta[m], state.plateau[m], exhausted = halve_on_plateau(
                    config.schedule, state.eta[m], config.eta, state.plateau[m], improved[m])
                if exhausted:
                    reasons[m] = (f"eta fell to {state.eta[m]:.3g}, {config.schedule.stop_ratio:.3g} of its start "
                                  f"{config.eta:g}")
            reasons[m] = reasons[m] or stop_reason(config.early_stopping, state.best[m].stale, state.history[m])
            if reasons[m]:
                state.status[m] = "early_stopped"
        state.epoch = epoch + 1

        def snapshot(m: int) -> dict:
            return member_checkpoint(net, state, m, data_gens, mask_gens, augment_gens)

        on_epoch(EpochReport(epoch + 1, records, list(state.best), list(state.status), reasons, improved, net,
                             test_probs, snapshot))
    return state


def distorted_epoch(data: DeviceData, config: Config, gens: list, order: Optional[torch.Tensor]):
    """The training images of one epoch when distorting: member m gets its own fresh
    copy from its own generator (so its distortions do not depend on K). Returns the
    K copies stacked (K*n, 784) and the order (K, n) offset to index member m's copy,
    so the mini-batches are (K, B, 784) gathers, as with per-member shuffling; the
    labels of the stacked copies are the training labels repeated K times."""
    n = len(data.train_y)
    copies = torch.cat([augment.distort(data.train_x, config.augment, g) for g in gens])  # (K*n, 784)
    if order is None:  # network3's fixed order, for every member
        order = torch.arange(n, device=copies.device).expand(len(gens), n)
    offsets = torch.arange(len(gens), device=copies.device).unsqueeze(1) * n
    return copies, order + offsets


def monitor_epoch(net: StackedNet, config: Config, data: DeviceData, cost_fn, decay: float) -> dict:
    """The diagnostics `config.monitor` asks for, per member: {EpochRecord field: [K values]}."""
    from nnbook.nn.measure import bias_gradient_norms, evaluate, l2_penalty

    extra = {}
    monitor = config.monitor
    if monitor.training:
        n = monitor.training_sample or len(data.train_y)
        acc, cost = evaluate(net, data.train_x[:n], data.train_y[:n], cost_fn)
        penalty = l2_penalty(net, decay)
        extra["train_accuracy"] = acc
        extra["train_eval_cost"] = [c + p for c, p in zip(cost, penalty)]
    if monitor.bias_gradients:
        n = monitor.gradient_sample
        extra["bias_gradient_norms"] = bias_gradient_norms(net, data.train_x[:n], data.train_y[:n], cost_fn)
    return extra


def mini_batches(net: StackedNet, x: torch.Tensor, targets: torch.Tensor, batch: int, n_batches: int,
                 order: Optional[torch.Tensor], mask_gens: list):
    """One epoch's mini-batches in order: (images, one-hot targets, dropout masks).

    Images (B, 784) and targets (B, 10) are views of the data when every member
    takes the fixed order (network3), (K, B, ...) gathers through `order` (K, n)
    otherwise. Masks {layer: (K, B, n_in)} come out of blocks of many steps,
    drawn at once: one draw per member per block instead of one per step."""
    dropout = net.dropout_sizes()
    steps_per_draw = max(1, min(n_batches, MASK_BUDGET // max(1, batch * sum(n for _, n in dropout))))
    block: dict = {}
    for step in range(n_batches):
        if dropout and step % steps_per_draw == 0:
            block = draw_masks(net, dropout, mask_gens, min(steps_per_draw, n_batches - step), batch)
        lo = step * batch
        if order is None:
            xb, tb = x[lo:lo + batch], targets[lo:lo + batch]
        else:
            idx = order[:, lo:lo + batch]  # (K, B)
            xb, tb = x[idx], targets[idx]
        yield xb, tb, ({i: m[step % steps_per_draw] for i, m in block.items()} if dropout else None)


def draw_masks(net: StackedNet, dropout: list, gens: list, steps: int, batch: int) -> dict:
    """Bernoulli(1-p) keep-masks for `steps` mini-batches: {layer: (steps, K, B, n)}.
    Each member draws from its own generator, so its masks do not depend on K."""
    device = net.layers[0].weight.device
    masks = {}
    for i, n in dropout:
        keep = 1.0 - net.layers[i].p_dropout
        per_member = [torch.rand((steps, batch, n), generator=g, device=device) < keep for g in gens]
        masks[i] = torch.stack(per_member, dim=1)
    return masks


def eval_batch(k: int) -> int:
    return max(100, 2000 // k)


@torch.no_grad()
def accuracy(net: StackedNet, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Fraction correct per member, counted on the device, read once."""
    correct = torch.zeros(net.k, dtype=torch.long, device=x.device)
    step = eval_batch(net.k)
    for i in range(0, len(x), step):
        z = net(x[i:i + step], training=False)
        correct += (z.argmax(-1) == y[i:i + step]).sum(dim=1)
    return [c / len(x) for c in correct.tolist()]


def member_checkpoint(net: StackedNet, state: TrainState, m: int, data_gens: list, mask_gens: list,
                      augment_gens: list = ()) -> dict:
    """Member m's resumable snapshot, shaped as a single run's: parameters,
    bookkeeping and the state of each of its generators (the distortions' is
    None when the run does not distort)."""
    return {
        "net": net.member_state(m),
        "epoch": state.epoch,
        "best": asdict(state.best[m]),
        "status": state.status[m],
        "eta": state.eta[m],
        "history": list(state.history[m]),
        "plateau": state.plateau[m],
        "velocity": None if state.velocity is None else [v[m].detach().cpu().clone() for v in state.velocity],
        "data_generator": data_gens[m].get_state(),
        "mask_generator": mask_gens[m].get_state().cpu(),
        "augment_generator": augment_gens[m].get_state().cpu() if augment_gens else None,
    }


def restore(net: StackedNet, saved: list[dict]) -> TrainState:
    """The TrainState that continues from member checkpoints (all at the same epoch)."""
    epochs = {s["epoch"] for s in saved}
    if len(epochs) != 1:
        raise ValueError(f"members checkpointed at different epochs: {sorted(epochs)}")
    for m, s in enumerate(saved):
        net.load_member_state(m, s["net"])
    velocity = None
    if all(s.get("velocity") is not None for s in saved):  # momentum runs
        device = next(net.parameters()).device
        velocity = [torch.stack([s["velocity"][i] for s in saved]).to(device)
                    for i in range(len(saved[0]["velocity"]))]
    return TrainState(epochs.pop(), [Best(**s["best"]) for s in saved], [s["status"] for s in saved],
                      [s["eta"] for s in saved], [list(s.get("history", [])) for s in saved],
                      [s.get("plateau", 0) for s in saved], velocity,
                      [s["data_generator"] for s in saved], [s["mask_generator"] for s in saved],
                      [s.get("augment_generator") for s in saved])
