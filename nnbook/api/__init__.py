"""nnbook from Python: `train` a config, `load_runs` that were trained, `ensemble` them.

    import nnbook
    experiment = nnbook.train("ch6_shallow", epochs=2, train_limit=1000)
    experiment.best.test_accuracy, experiment.runs[0].metrics
    nnbook.load_runs("runs/")                 # every experiment under runs/, grouped
    nnbook.ensemble(experiment, weights="last")

The same functions `nnbook train` and `nnbook ensemble` go through; plain dataclasses and
lists back (results.py), `to_frame()` where pandas is installed. `nnbook/__init__.py` gives
these names lazily, so `import nnbook` loads no torch.
"""

from nnbook.api.ensembles import Ensemble, ensemble
from nnbook.api.results import Experiment, RunRecord, load_runs
from nnbook.api.training import train

__all__ = ["train", "load_runs", "ensemble", "Experiment", "RunRecord", "Ensemble"]
