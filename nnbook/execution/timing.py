"""What a step, an epoch and a run cost, from a short measurement on the device at hand: a
rough time per run for `nnbook list` and chapter 6's order, a step of each stack size for a placement.

A run's time is its epochs times an epoch's: the SGD steps (n_train // mini_batch_size
of them), one evaluation pass over validation and test (20,000 images; the test set is
only evaluated at a new best, so this is an upper bound), and the distortions when the
config has an `augment` block. Each is timed on random inputs of the right shapes for a
few steps after a warm-up and scaled up, once per architecture, with one CPU thread
(nnbook's default for a run; two threads on a quiet 2-core machine are faster: make bench-threads). Good to
a factor of about 1.5: a quick guide to what is a minute and what is a night, not a benchmark.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from nnbook.config import Config
from nnbook.data import augment
from nnbook.execution.placement import training_images
from nnbook.nn.costs import one_hot
from nnbook.nn.net import build_model, torch_dtype
from nnbook.nn.sgd import l2_decay
from nnbook.nn.step import make_step
from nnbook.seeds import DISTORTIONS, MASKS, generator, generators
from nnbook.training.batches import EpochData, mini_batches
from nnbook.training.devices import resolve_device
from nnbook.training.monitor import accuracy

EVALUATED_PER_EPOCH = 20_000  # validation every epoch, test at a new best
TIMED_STEPS, REPEATS = 20, 3  # steps per timing; timings, of which the median counts
PROBE_STEPS = 8  # steps per timing when choosing a placement for many runs (5 timings, the median counts)
EVAL_IMAGES = 2_000
AUGMENT_IMAGES = 2_000


def _timed(fn, repeats: int, sync=lambda: None) -> float:
    """The median of `repeats` timings of fn(): one busy moment on a shared machine does not count."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def step_seconds(config: Config, k: int, device: torch.device, steps: int = TIMED_STEPS,
                 repeats: int = REPEATS) -> float:
    """One SGD step of a stack of k members of `config` on `device`, at the current thread
    count: the median of `repeats` timings of `steps` steps, after a warm-up."""
    gen = torch.Generator().manual_seed(0)  # the random images below: no member's, any seed will do
    net = build_model(config, [config.seed + m for m in range(k)]).to(device)
    n_train, batch = training_images(config), config.mini_batch_size
    step = make_step(net, config, l2_decay(config, n_train))
    # eta 0: the same operations, but the weights stay put. Stepping on one batch over and over at the
    # config's eta drives sigmoid nets into saturation, where denormal floats slow a CPU 100-fold.
    step.set_eta([0.0] * k)
    # Real mini-batches (slices, dropout masks drawn in blocks) of random images, the loop's own way.
    dtype = torch_dtype(config)
    x = torch.rand(steps * batch, 784, generator=gen).to(device=device, dtype=dtype)
    t = one_hot(torch.randint(0, 10, (steps * batch,), generator=gen), dtype).to(device)
    mask_gens = generators(MASKS, [config.seed + m for m in range(k)], device)
    cost_sum = torch.zeros(k, device=device, dtype=dtype)

    def epoch_of_steps():
        for xb, tb, masks in mini_batches(net, EpochData(x, t), batch, steps, mask_gens):
            step(xb, tb, masks, cost_sum)

    with torch.no_grad():
        _timed(epoch_of_steps, 1, _sync(device))  # warm-up
        return _timed(epoch_of_steps, repeats, _sync(device)) / steps


def _sync(device: torch.device):
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def seconds_per_epoch(config: Config, device: torch.device) -> float:
    """One run's epoch of `config` on `device`, measured briefly and scaled up."""
    gen = torch.Generator().manual_seed(1)
    net = build_model(config, [config.seed]).to(device)
    n_train, batch = training_images(config), config.mini_batch_size
    dtype, sync = torch_dtype(config), _sync(device)
    per_step = step_seconds(config, 1, device)
    images = torch.rand(EVAL_IMAGES, 784, generator=gen).to(device=device, dtype=dtype)
    labels = torch.randint(0, 10, (EVAL_IMAGES,), generator=gen).to(device)
    per_image = _timed(lambda: accuracy(net, images, labels), 3, sync) / EVAL_IMAGES
    seconds = per_step * (n_train // batch) + per_image * EVALUATED_PER_EPOCH
    if config.augment is not None and config.augment.enabled():
        aug_gen = generator(DISTORTIONS, config.seed, device)
        seconds += _timed(lambda: augment.distort(images, config.augment, aug_gen), 2, sync) / AUGMENT_IMAGES * n_train
    return seconds


def architecture_key(config: Config) -> str:
    """Configs that time alike: the same layers, batch, cost, data size, distortions and dtype."""
    return repr((config.layers, config.mini_batch_size, config.cost, training_images(config), config.augment,
                 config.mu > 0, config.dtype))


def seconds_per_run(configs: list[Config], device_name: str = "auto") -> tuple[list[float], str]:
    """Each config's rough seconds for one run of all its epochs, and the device measured on."""
    device = resolve_device(device_name)
    measured: dict[str, float] = {}
    out = []
    threads = torch.get_num_threads()
    # One CPU thread: tiny steps on two threads slow down many times over whenever anything else
    # keeps a core busy, which would make the estimate a measure of the neighbours.
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for config in configs:
                key = architecture_key(config)
                if key not in measured:
                    measured[key] = seconds_per_epoch(config, device)
                out.append(measured[key] * config.epochs)
    finally:
        torch.set_num_threads(threads)
    return out, str(device)


def stack_step_seconds(config: Config, device: torch.device) -> Callable[[int, int], float]:
    """per_step(k, threads): one step of a stack of k members at `threads` torch threads,
    measured on first use and remembered (execution/placement.choose asks for each candidate)."""
    measured: dict[tuple[int, int], float] = {}

    def per_step(k: int, threads: int) -> float:
        if (k, threads) not in measured:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                measured[(k, threads)] = step_seconds(config, k, device, steps=PROBE_STEPS, repeats=5)
            finally:
                torch.set_num_threads(before)
        return measured[(k, threads)]

    per_step.measured = measured  # what was timed, for the placement's line
    return per_step
