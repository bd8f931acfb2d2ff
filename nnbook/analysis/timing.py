"""A rough time per run, from a short measurement on the device at hand (`nnbook list`).

A run's time is its epochs times an epoch's: the SGD steps (n_train // mini_batch_size
of them), one evaluation pass over validation and test (20,000 images; the test set is
only evaluated at a new best, so this is an upper bound), and the distortions when the
config has an `augment` block. Each is timed on random inputs of the right shapes for a
few steps after a warm-up and scaled up, once per architecture. Good to a factor of
about 1.5: a quick guide to what is a minute and what is a night, not a benchmark.
"""

from __future__ import annotations

import statistics
import time

import torch

from nnbook.config import Config
from nnbook.data import augment
from nnbook.nn.costs import one_hot
from nnbook.nn.net import build_model
from nnbook.nn.sgd import l2_decay
from nnbook.nn.step import make_step
from nnbook.training.batches import draw_masks
from nnbook.training.devices import resolve_device
from nnbook.training.monitor import accuracy

TRAINING_IMAGES = {"mnist": 50_000, "mnist_expanded": 250_000}
EVALUATED_PER_EPOCH = 20_000  # validation every epoch, test at a new best
WARM_STEPS, TIMED_STEPS = 3, 20
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
    gen = torch.Generator().manual_seed(0)
    net = build_model(config, [config.seed]).to(device)
    n_train, batch = training_images(config), config.mini_batch_size
    step = make_step(net, config, l2_decay(config, n_train))
    x = torch.rand(batch, 784, generator=gen).to(device)
    t = one_hot(torch.randint(0, 10, (batch,), generator=gen)).to(device)
    mask_gens = [torch.Generator(device=device).manual_seed(0)]
    dropout = net.dropout_sizes()
    masks = draw_masks(net, dropout, mask_gens, 1, batch) if dropout else {}
    masks = {i: m[0] for i, m in masks.items()} or None
    cost_sum = torch.zeros(1, device=device)

    def one_step():
        step(x, t, masks, cost_sum)

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    _timed(one_step, WARM_STEPS, sync)
    per_step = _timed(one_step, TIMED_STEPS, sync)
    images = torch.rand(EVAL_IMAGES, 784, generator=gen).to(device)
    labels = torch.randint(0, 10, (EVAL_IMAGES,), generator=gen).to(device)
    per_image = _timed(lambda: accuracy(net, images, labels), 3, sync) / EVAL_IMAGES
    seconds = per_step * (n_train // batch) + per_image * EVALUATED_PER_EPOCH
    if config.augment is not None and config.augment.enabled():
        aug_gen = augment.generators([config.seed], device)[0]
        seconds += _timed(lambda: augment.distort(images, config.augment, aug_gen), 2, sync) / AUGMENT_IMAGES * n_train
    return seconds


def architecture_key(config: Config) -> str:
    """Configs that time alike: the same layers, batch, cost, data size and distortions."""
    return repr((config.layers, config.mini_batch_size, config.cost, training_images(config), config.augment,
                 config.mu > 0))


def seconds_per_run(configs: list[Config], device_name: str = "auto") -> tuple[list[float], str]:
    """Each config's rough seconds for one run of all its epochs, and the device measured on."""
    device = resolve_device(device_name)
    measured: dict[str, float] = {}
    out = []
    with torch.no_grad():
        for config in configs:
            key = architecture_key(config)
            if key not in measured:
                measured[key] = seconds_per_epoch(config, device)
            out.append(measured[key] * config.epochs)
    return out, str(device)
