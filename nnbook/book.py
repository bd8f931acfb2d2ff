"""The book's figures, by config name: what `nnbook report`, `nnbook list` and
`nnbook gradients` print beside nnbook's own results.

FIGURES[config name] = {"figure": percent or None, "statistic": which number it is,
"note": what the book measured}. An ensemble of runs of config X is `X_ensemble`.
The book's programs quote different statistics, and a fair comparison computes
the same one from nnbook's runs (analysis/book_statistics.py):
  - chapters 1 and 3: network.py and network2.py evaluated the *test* data after
    every epoch, and the book quotes the peak ("95.42 percent at its peak");
  - "97.92 percent on the validation data" is "the final result": the last epoch's
    validation accuracy; 98.04 (60 epochs), the weight-initialisation comparison
    and chapter 5's four figures are validation accuracies too, and the text does
    not say which epoch's: they are read as the final epoch's, like 97.92;
  - chapter 6 (network3.py): the test accuracy at the best validation epoch, of the
    best of the author's 3 runs (the run with the best validation accuracy).

Facts from the book (see shared/book/EXPERIMENTS.md), which any layer may read; no torch, no I/O.
"""

from __future__ import annotations

PEAK_TEST = "peak_test"
FINAL_VALIDATION = "final_validation"
BEST_RUN_TEST_AT_BEST_VALIDATION = "best_run_test_at_best_validation"
ENSEMBLE_VOTE = "ensemble_vote"
BOOK_RUNS = 3  # the author's runs per chapter 6 architecture, of which the best by validation is quoted

# How each statistic is named beside its figure.
STATISTICS = {
    PEAK_TEST: "peak test accuracy, the test set evaluated every epoch",
    FINAL_VALIDATION: "validation accuracy after the last epoch",
    BEST_RUN_TEST_AT_BEST_VALIDATION: f"test accuracy at the best validation epoch, best of {BOOK_RUNS} runs",
    ENSEMBLE_VOTE: "test accuracy of the plurality vote",
}


def _figure(figure, statistic: str, note: str) -> dict:
    return {"figure": figure, "statistic": statistic, "note": note}


FIGURES: dict[str, dict] = {
    # Chapter 1, network.py: quadratic cost, N(0, 1) init, eta 3.0, 30 epochs.
    "ch1_784_30_10": _figure(95.42, PEAK_TEST, "chapter 1; 'at its peak' (epoch 28 of 30)"),
    "ch1_784_100_10": _figure(96.59, PEAK_TEST, "chapter 1; the book warns that runs of this net vary a lot"),
    # Chapter 3, network2.py.
    "ch3_784_30_10_xent": _figure(95.49, PEAK_TEST, "chapter 3, cross-entropy"),
    "ch3_784_100_10_xent": _figure(96.82, PEAK_TEST, "chapter 3, cross-entropy"),
    "ch3_overfit_1000": _figure(82.27, PEAK_TEST, "chapter 3, 1,000 training images: 'tops out at just 82.27' "
                                "over 400 epochs"),
    "ch3_overfit_1000_l2": _figure(87.1, PEAK_TEST, "chapter 3, 1,000 training images, lmbda 0.1: 'a peak "
                                   "classification accuracy of 87.1'"),
    "ch3_784_30_10_l2": _figure(96.49, PEAK_TEST, "chapter 3, lmbda 5.0"),
    "ch3_784_100_10_l2": _figure(97.92, FINAL_VALIDATION, "chapter 3, lmbda 5.0: 'the final result'"),
    "ch3_784_100_10_l2_60ep": _figure(98.04, FINAL_VALIDATION, "chapter 3, 60 epochs at eta 0.1"),
    "ch3_init_large": _figure(96.0, FINAL_VALIDATION, "chapter 3, N(0, 1) weights: 'somewhat over 96 percent', "
                              "read off a plot (under 87% after epoch 1)"),
    "ch3_init_default": _figure(96.0, FINAL_VALIDATION, "chapter 3, N(0, 1/n_in) weights: 'somewhat over 96 "
                                "percent', read off a plot (almost 93% after epoch 1)"),
    # Chapter 5, network2.py: deeper sigmoid nets; 'it'll vary a bit from run to run'.
    "ch5_784_30_10": _figure(96.48, FINAL_VALIDATION, "chapter 5"),
    "ch5_784_30_30_10": _figure(96.90, FINAL_VALIDATION, "chapter 5"),
    "ch5_784_30_30_30_10": _figure(96.57, FINAL_VALIDATION, "chapter 5"),
    "ch5_784_30_30_30_30_10": _figure(96.53, FINAL_VALIDATION, "chapter 5"),
    # Chapter 6, network3.py.
    "ch6_shallow": _figure(97.80, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; FC 100 sigmoid, 60 epochs"),
    "ch6_conv": _figure(98.78, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; conv-pool 20 + FC 100, sigmoid"),
    "ch6_conv_only": _figure(None, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6 exercise, no figure: the FC "
                             "layer helps"),
    "ch6_dbl_conv": _figure(99.06, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; two conv-pool layers, sigmoid"),
    "ch6_dbl_conv_tanh": _figure(None, BEST_RUN_TEST_AT_BEST_VALIDATION, 'chapter 6 problem: "similar" to '
                                 "sigmoid (99.06)"),
    "ch6_dbl_conv_relu": _figure(99.23, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; ReLU, lmbda 0.1"),
    "ch6_expanded": _figure(99.37, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; ReLU net on the expanded data"),
    "ch6_expanded_fc300": _figure(99.46, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; expanded, FC 300"),
    "ch6_expanded_fc1000": _figure(99.43, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; expanded, FC 1000"),
    "ch6_expanded_2fc100": _figure(99.43, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; expanded, two FC 100"),
    "ch6_expanded_2fc300": _figure(99.48, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; expanded, two FC 300"),
    "ch6_expanded_2fc1000": _figure(99.47, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; expanded, two FC 1000"),
    "ch6_relu_dropout": _figure(99.60, BEST_RUN_TEST_AT_BEST_VALIDATION, "chapter 6; two FC 1000 with dropout "
                                "0.5, 40 epochs"),
    "ch6_relu_dropout_ensemble": _figure(99.67, ENSEMBLE_VOTE, "chapter 6; plurality vote of 5 relu_dropout "
                                         "nets: 33 errors"),
}

# Chapter 5's speed of learning: ||dC/db|| of each hidden layer at initialisation, the mean
# gradient over the first 1,000 training images, one random network each (only the
# pattern, earlier layers slower, is reproducible).
GRADIENT_NORMS: dict[str, list[float]] = {
    "ch5_784_30_30_10": [0.07, 0.31],
    "ch5_784_30_30_30_10": [0.012, 0.060, 0.283],
    "ch5_784_30_30_30_30_10": [0.003, 0.017, 0.070, 0.285],
}
