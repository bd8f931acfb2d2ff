"""The golden runs: short trainings on slices of the real MNIST whose per-epoch
metrics were recorded before nnbook's restructuring (record.py) and must stay
the same (test_golden.py). Each case is a shipped config plus `--set` overrides,
chosen so that every path of the training step runs: a conv net, dropout
(p = 0.2 and 0.5, with a training size the mini-batch does not divide),
network2's shuffle with the halving schedule and the training monitor,
momentum with stacked repeats, and distortions."""

CASES = {
    "conv": ("ch6_dbl_conv_relu.yaml", ["train_limit=1000", "epochs=2"]),
    "dropout": ("ch6_relu_dropout.yaml", ["data=mnist", "train_limit=1005", "epochs=2", "init=he",
                                          "layers.2.p_dropout=0.2", "repeats=2"]),
    "network2_halving": ("ch3_784_30_10_halving.yaml", ["train_limit=1000", "epochs=8", "schedule.patience=1",
                                                        "monitor={training: true, training_sample: 500}"]),
    "momentum": ("ch3_784_30_10_l2.yaml", ["train_limit=1000", "epochs=3", "mu=0.5", "repeats=2"]),
    "augment": ("beyond_ensemble.yaml", ["train_limit=300", "epochs=2", "repeats=2"]),
}

# The metrics compared: everything an epoch records except its wall-clock seconds.
IGNORED = {"seconds"}
