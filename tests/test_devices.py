"""The device a config names: what a machine without it is told."""

import pytest
import torch

from nnbook.errors import ConfigError
from nnbook.training.devices import CUDA_TORCH, resolve_device


def test_cuda_on_a_cpu_only_torch_says_how_to_install_a_cuda_build(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)  # as the CPU wheel is built (the one make setup installs)
    with pytest.raises(ConfigError) as error:
        resolve_device("cuda")
    message = str(error.value)
    assert message.startswith(f"device: cuda asked for, but this torch ({torch.__version__}) is a CPU-only build")
    assert CUDA_TORCH in message and "pip install torch" in message and "\n" not in message


def test_cuda_on_a_cuda_torch_without_a_gpu_points_at_the_driver(monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=r"^device: cuda:1 asked for, but this torch \(.*, built for CUDA 12\.8\) "
                       r"sees no CUDA GPU \(`nvidia-smi` .*\); use device: auto or cpu$"):
        resolve_device("cuda:1")
