"""The golden runs: short trainings on a slice of the real MNIST whose per-epoch
metrics were recorded (record.py) and must stay the same (test_golden.py).

Each case is a shipped config plus `--set` overrides, chosen so that every path of
the training step runs: a conv net, dropout (p = 0.2 and 0.5, with a training
size the mini-batch does not divide), network2's shuffle with the halving
schedule and the training monitor, momentum with stacked repeats, and
distortions.

Every case trains in float64. In float32 a few epochs of SGD amplify a kernel's
last-bit rounding (another processor's oneDNN/MKL, another thread count, another
ISA) into points of accuracy, so no tolerance both holds on every machine and
catches anything; in float64 the same amplification stays many orders of
magnitude below what the test compares (test_golden.py says how close)."""

# The real MNIST's first images of each split (run.write_slice): training, validation, test.
SLICE = (1_000, 500, 500)  # 500 validation and test images: each is 0.2 points, compared exactly

CASES = {
    "conv": ("ch6_dbl_conv_relu.yaml", ["train_limit=500", "epochs=2"]),
    "dropout": ("ch6_relu_dropout.yaml", ["train_limit=255", "epochs=2", "init=he", "layers.0.filters=8",
                                          "layers.1.filters=16", "layers.2.units=300", "layers.3.units=300",
                                          "layers.2.p_dropout=0.2", "repeats=2"]),
    "network2_halving": ("ch3_784_30_10_halving.yaml", ["epochs=8", "schedule.patience=1",
                                                        "monitor={training: true, training_sample: 500}"]),
    "momentum": ("ch3_784_30_10_l2.yaml", ["epochs=3", "mu=0.5", "repeats=2"]),
    "augment": ("beyond_ensemble.yaml", ["train_limit=200", "epochs=2", "repeats=2", "layers.0.filters=8",
                                         "layers.1.filters=16", "layers.2.units=100", "layers.3.units=100"]),
}

# Every case: float64 (see above), on the CPU, on the slice.
COMMON = ["dtype=float64"]

# The metrics compared: everything an epoch records except its wall-clock seconds.
IGNORED = {"seconds"}
