"""The same training in float64 instead of float32, to see whether precision explains the L2 rows.

Not part of nnbook: it runs nnbook's own CLI with float64 parameters, data and targets.

    .venv/bin/python reports/chapters1-3-5/float64_check.py train configs/ch3_784_30_10_l2.yaml \
        --repeats 3 --runs-dir reports/chapters1-3-5/float64/runs --device cpu --quiet
"""
import sys
import torch
torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
import nnbook.training.devices as D
orig = D.to_device
def to64(dataset, device, train_limit=None):
    d = orig(dataset, device, train_limit)
    for f in ("train_x", "validation_x", "test_x"):
        setattr(d, f, getattr(d, f).double())
    return d
D.to_device = to64
import nnbook.runs.experiment as E
if hasattr(E, "to_device"):
    E.to_device = to64
import nnbook.nn.costs as C
_oh = C.one_hot
C.one_hot = lambda y, n=10: _oh(y, n).double()
import nnbook.training.batches as B
if hasattr(B, "one_hot"):
    B.one_hot = C.one_hot
from nnbook.cli import run
sys.exit(run([sys.argv[1], *sys.argv[2:]]))
