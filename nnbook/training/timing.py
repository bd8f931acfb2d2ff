"""A rough time per run, from a short measurement on the device at hand (`nnbook list`).

A run's time is its epochs times an epoch's: the SGD steps (n_train // mini_batch_size
of them), one evaluation pass over validation and test (20,000 images; the test set is
only evaluated at a new best, so this is an upper bound), and the distortions when the
config has an `augment` block. Each is timed on random inputs of the right shapes for a
few steps after a warm-up and scaled up, once per architecture, with one CPU thread
(a run's default of one thread per core is 1.2-1.4x faster on a quiet machine). Good to
a factor of about 1.5: a quick guide to what is a minute and what is a night, not a benchmark.
"""

from __future__ import annotations

import statistics
import time

import torch

from nnbook.config import Config
from nnbook.data import augment
from nnbook.nn.costs import one_hot
from nnbook.nn.net import build_model, torch_dtype
from nnbook.nn.sgd import l2_decay
from nnbook.nn.step import make_step
from nnbook.seeds import DISTORTIONS, MASKS, generator, generators
from nnbook.training.batches import mini_batches
from nnbook.training.devices import resolve_device
from nnbook.training.monitor import accuracy

TRAINING_IMAGES = {"mnist": 50_000, "mnist_expanded": 250_000}
EVALUATED_PER_EPOCH = 20_000  # validation every epoch, test at a new best
TIMED_STEPS, REPEATS = 20, 3  # steps per timing; timings, of which the median counts
EVAL_IMAGES = 2_000
AUGMENT_IMAGES = 2_000


def training_images(config: Config) -> int:
    n = TRAINING_IMAGES.get(config.data, 50_000)  # a file of the user's: counted as the book's size
    return min(config.train_limit or n, n)


def _timed(fn, repeats: int, sync=lambda: None) -> float:
    """The median of `repeats` timings of fn(): one busy moment on a shared machine does not count."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def seconds_per_epoch(config: Config, device: torch.device) -> float:
    """One run's epoch of `config` on `device`, measured briefly and scaled up."""
    gen = torch.Generator().manual_seed(0)  # the random images below: no member's, any seed will do
    net = build_model(config, [config.seed]).to(device)
    n_train, batch = training_images(config), config.mini_batch_size
    step = make_step(net, config, l2_decay(config, n_train))
    # eta 0: the same operations, but the weights stay put. Stepping on one batch over and over at the
    # config's eta drives sigmoid nets into saturation, where denormal floats slow a CPU 100-fold.
    step.set_eta([0.0])
    # Real mini-batches (slices, dropout masks drawn in blocks) of random images, the loop's own way.
    dtype = torch_dtype(config)
    x = torch.rand(TIMED_STEPS * batch, 784, generator=gen).to(device=device, dtype=dtype)
    t = one_hot(torch.randint(0, 10, (TIMED_STEPS * batch,), generator=gen), dtype).to(device)
    mask_gens = generators(MASKS, [config.seed], device)
    cost_sum = torch.zeros(1, device=device, dtype=dtype)

    def epoch_of_steps():
        for xb, tb, masks in mini_batches(net, x, t, batch, TIMED_STEPS, None, mask_gens):
            step(xb, tb, masks, cost_sum)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    _timed(epoch_of_steps, 1, sync)  # warm-up
    per_step = _timed(epoch_of_steps, REPEATS, sync) / TIMED_STEPS
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
