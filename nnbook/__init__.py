"""nnbook: the experiments of Nielsen's *Neural Networks and Deep Learning*, in PyTorch, from YAML configs.

From Python: `nnbook.train`, `nnbook.load_runs`, `nnbook.ensemble` (nnbook/api/). They are
imported on first use, so `import nnbook` (and the command line's start) loads no torch.
"""

__version__ = "0.1.0"

API = ("train", "load_runs", "ensemble", "Experiment", "RunRecord", "Ensemble")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    if name in API:
        import nnbook.api

        return getattr(nnbook.api, name)
    raise AttributeError(f"module 'nnbook' has no attribute {name!r}")
