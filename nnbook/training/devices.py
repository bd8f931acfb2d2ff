"""Where training runs: the device a config names, and the data moved onto it once.

`resolve_device` turns the config's `device` (auto, cpu, cuda, cuda:N, mps) into
a torch.device, or a ConfigError saying what this machine has instead;
`to_device` copies the three splits of a loaded dataset there as tensors
(`DeviceData`), so that no mini-batch ever crosses from the host. Reading the
files is data/mnist.py's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from nnbook.data.book_format import Dataset
from nnbook.errors import ConfigError

# How to get a CUDA build of torch in place of a CPU-only one (README: "On a GPU machine").
CUDA_TORCH = ("`pip uninstall -y torch && pip install torch`: PyPI's torch for Linux is built for CUDA; "
              "other systems and CUDA versions: https://pytorch.org/get-started/locally")


@dataclass
class DeviceData:
    """The splits on the device: images (n, 784) in the run's dtype, labels int64 (n,)."""

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
        if torch.version.cuda is None:  # a CPU-only build: no driver or GPU can help, another torch can
            raise ConfigError(f"device: {name} asked for, but this torch ({torch.__version__}) is a CPU-only "
                              f"build, which sees no CUDA GPU; install a CUDA build ({CUDA_TORCH}), or use "
                              "device: auto or cpu")
        if not torch.cuda.is_available():
            raise ConfigError(f"device: {name} asked for, but this torch ({torch.__version__}, built for CUDA "
                              f"{torch.version.cuda}) sees no CUDA GPU (`nvidia-smi` shows whether the driver "
                              "sees one); use device: auto or cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device: {name} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("device: mps asked for, but MPS is not available; use device: auto or cpu")
    return torch.device(name)


def to_device(dataset: Dataset, device: torch.device, train_limit: Optional[int] = None,
              dtype: torch.dtype = torch.float32) -> DeviceData:
    """All three splits as tensors on the device, the images in `dtype` (the book's files
    hold float32, which float64 represents exactly), the training set cut to its first
    `train_limit` images."""
    tr = dataset.training
    n = min(train_limit or len(tr), len(tr))

    def images(a):
        return torch.from_numpy(a).to(device=device, dtype=dtype)

    def labels(a):
        return torch.from_numpy(a).to(device)

    return DeviceData(images(tr.x[:n]), labels(tr.y[:n]), images(dataset.validation.x),
                      labels(dataset.validation.y), images(dataset.test.x), labels(dataset.test.y))
