"""nnbook: the experiments of Nielsen's *Neural Networks and Deep Learning*, in PyTorch, from YAML configs."""

__version__ = "0.1.0"
