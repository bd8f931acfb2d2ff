"""The book's figures, by config name: what `nnbook report` and `nnbook gradients`
print beside nnbook's own results.

FIGURES[config name] = {"figure": percent or None, "note": what the book measured}
(None where the book gives no number); an ensemble of runs of config X is
listed as `X_ensemble`. The
book's programs disagree on what they quote: network3 (chapter 6) reports the
test accuracy at the best validation epoch, as nnbook does; in chapters 1 and 3
the book evaluated the *test* data every epoch and quoted its best epoch (or a
peak read off a plot), and in chapter 5 and parts of chapter 3 the validation
data. The note says which, so a reader compares like with like.

Facts from the book (see shared/book/EXPERIMENTS.md); no torch, no I/O.
"""

from __future__ import annotations

_TEST_EACH_EPOCH = "test accuracy, evaluated every epoch, best epoch quoted"
_VALIDATION_EACH_EPOCH = "validation accuracy, evaluated every epoch, best epoch quoted"

FIGURES: dict[str, dict] = {
    # Chapter 1, network.py: quadratic cost, N(0, 1) init, eta 3.0, 30 epochs.
    "ch1_784_30_10": {"figure": 95.42, "note": f"chapter 1; {_TEST_EACH_EPOCH} (epoch 28 of 30)"},
    "ch1_784_100_10": {"figure": 96.59, "note": f"chapter 1; {_TEST_EACH_EPOCH}"},
    # Chapter 3, network2.py.
    "ch3_784_30_10_xent": {"figure": 95.49, "note": f"chapter 3, cross-entropy; {_TEST_EACH_EPOCH}"},
    "ch3_784_100_10_xent": {"figure": 96.82, "note": f"chapter 3, cross-entropy; {_TEST_EACH_EPOCH}"},
    "ch3_overfit_1000": {"figure": 82.27, "note": "chapter 3, 1,000 training images; peak test accuracy "
                         "over 400 epochs (evaluated every epoch)"},
    "ch3_overfit_1000_l2": {"figure": 87.1, "note": "chapter 3, 1,000 training images, lmbda 0.1; peak test "
                            "accuracy over 400 epochs (evaluated every epoch)"},
    "ch3_784_30_10_l2": {"figure": 96.49, "note": f"chapter 3, lmbda 5.0; {_TEST_EACH_EPOCH}"},
    "ch3_784_100_10_l2": {"figure": 97.92, "note": f"chapter 3, lmbda 5.0; {_VALIDATION_EACH_EPOCH}"},
    "ch3_784_100_10_l2_60ep": {"figure": 98.04, "note": f"chapter 3, 60 epochs at eta 0.1; "
                               f"{_VALIDATION_EACH_EPOCH}"},
    "ch3_init_large": {"figure": 96.0, "note": "chapter 3, N(0, 1) weights; 'somewhat over 96 percent', "
                       "read off a plot of validation accuracy (under 87% after epoch 1)"},
    "ch3_init_default": {"figure": 96.0, "note": "chapter 3, N(0, 1/n_in) weights; 'somewhat over 96 percent', "
                         "read off a plot of validation accuracy (almost 93% after epoch 1)"},
    # Chapter 5, network2.py: deeper sigmoid nets.
    "ch5_784_30_10": {"figure": 96.48, "note": f"chapter 5; {_VALIDATION_EACH_EPOCH}"},
    "ch5_784_30_30_10": {"figure": 96.90, "note": f"chapter 5; {_VALIDATION_EACH_EPOCH}"},
    "ch5_784_30_30_30_10": {"figure": 96.57, "note": f"chapter 5; {_VALIDATION_EACH_EPOCH}"},
    "ch5_784_30_30_30_30_10": {"figure": 96.53, "note": f"chapter 5; {_VALIDATION_EACH_EPOCH}"},
    # Chapter 6, network3.py: test accuracy at the best validation epoch, best of the author's 3 runs.
    "ch6_shallow": {"figure": 97.80, "note": "chapter 6; FC 100 sigmoid, 60 epochs"},
    "ch6_conv": {"figure": 98.78, "note": "chapter 6; conv-pool 20 + FC 100, sigmoid"},
    "ch6_conv_only": {"figure": None, "note": "chapter 6 exercise, no figure: the FC layer helps"},
    "ch6_dbl_conv": {"figure": 99.06, "note": "chapter 6; two conv-pool layers, sigmoid"},
    "ch6_dbl_conv_tanh": {"figure": None, "note": 'chapter 6 problem: "similar" to sigmoid (99.06)'},
    "ch6_dbl_conv_relu": {"figure": 99.23, "note": "chapter 6; ReLU, lmbda 0.1"},
    "ch6_expanded": {"figure": 99.37, "note": "chapter 6; ReLU net on the expanded data"},
    "ch6_expanded_fc300": {"figure": 99.46, "note": "chapter 6; expanded, FC 300"},
    "ch6_expanded_fc1000": {"figure": 99.43, "note": "chapter 6; expanded, FC 1000"},
    "ch6_expanded_2fc100": {"figure": 99.43, "note": "chapter 6; expanded, two FC 100"},
    "ch6_expanded_2fc300": {"figure": 99.48, "note": "chapter 6; expanded, two FC 300"},
    "ch6_expanded_2fc1000": {"figure": 99.47, "note": "chapter 6; expanded, two FC 1000"},
    "ch6_relu_dropout": {"figure": 99.60, "note": "chapter 6; two FC 1000 with dropout 0.5, 40 epochs"},
    "ch6_relu_dropout_ensemble": {"figure": 99.67, "note": "chapter 6; plurality vote of 5 relu_dropout "
                                  "nets: 33 errors"},
}

# Chapter 5's speed of learning: ||dC/db|| of each hidden layer at initialisation, the mean
# gradient over the first 1,000 training images, one random network each (only the
# pattern, earlier layers slower, is reproducible).
GRADIENT_NORMS: dict[str, list[float]] = {
    "ch5_784_30_30_10": [0.07, 0.31],
    "ch5_784_30_30_30_10": [0.012, 0.060, 0.283],
    "ch5_784_30_30_30_30_10": [0.003, 0.017, 0.070, 0.285],
}
