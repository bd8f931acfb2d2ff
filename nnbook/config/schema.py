"""The schema of an experiment config: every key, its type, range, default and why.

pydantic models: `Config` and its parts (layers, schedules, early stopping,
monitor, augment). Also shape inference, because an impossible layer stack is a
config mistake, found before any training. Reading YAML, `--set` overrides and
the one-line error messages are `loading.py`'s.

Never imports torch: `nnbook --help` and `--dry-run` validation stay fast.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

IMAGE_SIDE = 28  # MNIST images are 28x28, one channel
N_CLASSES = 10

Activation = Literal["sigmoid", "tanh", "relu", "linear"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConvPoolLayer(_Strict):
    """network3's ConvPoolLayer: valid conv (stride 1) -> max-pool -> + bias -> activation."""

    type: Literal["conv_pool"]
    filters: int = Field(gt=0, description="feature maps (the book: 20, then 40)")
    kernel: int = Field(gt=0, description="square kernel side, pixels")
    pool: int = Field(2, gt=0, description="square, non-overlapping max-pool side; border ignored")
    activation: Activation = Field("sigmoid", description="applied after pooling and the bias")


class FullyConnectedLayer(_Strict):
    """network3's FullyConnectedLayer (and, as the last layer, network2's sigmoid output)."""

    type: Literal["fc"]
    units: int = Field(gt=0, description="neurons (10 for an output layer)")
    activation: Activation = Field("sigmoid", description="of each neuron")
    p_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="the fraction of this layer's inputs dropped "
                             "while training (network3's dropout; 0: none)")


class SoftmaxLayer(_Strict):
    """network3's SoftmaxLayer: the output layer for the log-likelihood cost."""

    type: Literal["softmax"]
    units: int = Field(N_CLASSES, gt=0, description="one per digit: it must be 10")
    p_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="the fraction of this layer's inputs dropped "
                             "while training (0: none)")


Layer = Annotated[Union[ConvPoolLayer, FullyConnectedLayer, SoftmaxLayer], Field(discriminator="type")]
LAYER_TYPES = {"conv_pool": ConvPoolLayer, "fc": FullyConnectedLayer, "softmax": SoftmaxLayer}


class EarlyStopping(_Strict):
    """When a member stops before `epochs`; both rules look at validation accuracy only.

    no_improvement (chapter 3): no new best validation accuracy in the last `patience` epochs.
    min_improvement (nnbook's second rule): the best validation accuracy of the last `patience`
    epochs beats the best before them by less than `min_delta` (a fraction: 0.001 = 0.1 points).
    It compromises between accuracy and time: a plateau that still creeps up by a few noisy
    hundredths of a percent stops, where no_improvement would keep going."""

    rule: Literal["no_improvement", "min_improvement"] = Field("no_improvement", description="which of the two rules")
    patience: int = Field(gt=0, description="epochs looked back over")
    min_delta: Optional[float] = Field(None, gt=0, lt=1, description="min_improvement only (default 0.001): "
                                       "the least gain in best validation accuracy (fraction) over `patience` epochs")

    @model_validator(mode="after")
    def _min_delta_needs_rule(self) -> "EarlyStopping":
        if self.rule == "min_improvement" and self.min_delta is None:
            self.min_delta = 0.001  # written out, so the resolved config states it
        if self.rule == "no_improvement" and self.min_delta is not None:
            raise ValueError("min_delta applies to rule: min_improvement only (rule is no_improvement)")
        return self


# Learning-rate schedules: eta of every epoch. `eta` is the first epoch's in each.


class HalvingSchedule(_Strict):
    """Chapter 3: halve eta whenever no-improvement-in-`patience` holds (counting from the last
    new best or the last halving); stop training once eta has fallen to `stop_ratio` of its start."""

    type: Literal["halving"]
    patience: int = Field(10, gt=0, description="epochs without a new best validation accuracy before eta halves")
    factor: float = Field(0.5, gt=0, lt=1, description="eta is multiplied by this at each plateau")
    stop_ratio: float = Field(1 / 128, gt=0, lt=1, description="stop when eta <= stop_ratio * its start")


class StepSchedule(_Strict):
    """eta as a step function of the epoch: `at: {11: 0.05, 21: 0.01}` means eta from epoch 11 on
    is 0.05, from epoch 21 on 0.01 (epochs count from 1); before the first step, `eta`."""

    type: Literal["steps"]
    at: dict[int, float] = Field(min_length=1, description="epoch: eta from that epoch on (epochs 2 or later, "
                                 "etas > 0)")

    @field_validator("at")
    @classmethod
    def _steps(cls, at: dict[int, float]) -> dict[int, float]:
        for epoch, eta in at.items():
            if epoch < 2:
                raise ValueError(f"step epoch {epoch}: steps start at epoch 2 or later (epoch 1 uses eta)")
            if not eta > 0:
                raise ValueError(f"step at epoch {epoch}: eta {eta} must be > 0")
        return dict(sorted(at.items()))


class ListSchedule(_Strict):
    """eta of each epoch in a list, epoch 1 first (it must equal `eta`); the last value holds after."""

    type: Literal["list"]
    etas: list[Annotated[float, Field(gt=0)]] = Field(min_length=1, description="eta of epochs 1, 2, ... "
                                                      "(each > 0; the first equals eta)")


class GeometricSchedule(_Strict):
    """Ciresan et al. (2010): eta decays geometrically from `eta` at epoch 1 to `eta_end` at the
    last epoch (they used 1e-3 to 1e-6), i.e. by the same factor every epoch."""

    type: Literal["geometric"]
    eta_end: float = Field(gt=0, description="eta of the last epoch")


Schedule = Annotated[Union[HalvingSchedule, StepSchedule, ListSchedule, GeometricSchedule],
                     Field(discriminator="type")]
SCHEDULE_TYPES = {"halving": HalvingSchedule, "steps": StepSchedule, "list": ListSchedule,
                  "geometric": GeometricSchedule}


class Monitor(_Strict):
    """Optional per-epoch diagnostics, written to metrics.jsonl beside validation accuracy."""

    training: bool = Field(False, description="accuracy and cost (L2 term included, as network2's "
                           "monitor_training_*) on the training data after every epoch: overfitting shows")
    training_sample: Optional[int] = Field(None, gt=0, description="measure on the first N training "
                                           "images only (null: all of them)")
    test: bool = Field(False, description="the test accuracy after every epoch, as network.py and network2.py "
                       "evaluated it (chapters 1 and 3 quote its peak); off by default: network3 (chapter 6) "
                       "looks at the test data only at a new best validation accuracy")
    bias_gradients: bool = Field(False, description="||dC/db|| of every layer but the output after "
                                 "every epoch (chapter 5's speed of learning)")
    gradient_sample: int = Field(1000, gt=0, description="the bias gradients are the mean over the "
                                 "first N training images (chapter 5: 1,000)")


class Elastic(_Strict):
    """Simard et al. (2003): a displacement field drawn from U(-1, 1) per pixel and axis,
    smoothed by a Gaussian of std `sigma`, scaled by `alpha`."""

    alpha: float = Field(ge=0, description="scale of the smoothed field, pixels (Simard: 34; 0: no displacement)")
    sigma: float = Field(gt=0, description="std of the Gaussian smoothing, pixels (Simard: 4)")


class Augment(_Strict):
    """Random distortions of the training images, drawn afresh every epoch (the chapter 6
    problem; Simard et al. 2003). Each transform is off when null. Validation and test
    images are never distorted."""

    translate: Optional[float] = Field(None, ge=0, lt=IMAGE_SIDE,
                                       description="max shift, pixels: U(-t, t) right and down, independently")
    rotate: Optional[float] = Field(None, ge=0, le=180, description="max rotation about the centre, degrees")
    scale: Optional[float] = Field(None, ge=0, lt=1, description="max relative size change: horizontal and "
                                   "vertical factors from U(1 - s, 1 + s), independently")
    shear: Optional[float] = Field(None, ge=0, lt=90, description="max skew, degrees: x += tan(angle) * y")
    elastic: Optional[Elastic] = None

    def enabled(self) -> bool:
        """At least one transform is on (an all-null block trains on the clean images)."""
        return any(getattr(self, name) is not None for name in type(self).model_fields)


class Config(_Strict):
    """One experiment. Defaults are network3.py's (chapter 6)."""

    name: str = Field(min_length=1, description="starts every run directory's name (default: the file's stem)")
    data: str = Field("mnist", description="mnist | mnist_expanded | a path to a file in the book's format")
    train_limit: Optional[int] = Field(None, gt=0, description="use only the first N training images")
    layers: list[Layer] = Field(min_length=1, description="the network, input side first; each a mapping "
                                "whose `type` is a layer type below")
    epochs: int = Field(gt=0, description="passes over the training data")
    mini_batch_size: int = Field(10, gt=0, description="images per SGD step (the book: 10)")
    eta: float = Field(gt=0, description="learning rate (of epoch 1, where a schedule changes it)")
    lmbda: float = Field(0.0, ge=0, description="L2 regularisation strength (see l2_scaling); 0: none")
    early_stopping: Optional[EarlyStopping] = Field(None, description="stop a run before `epochs` "
                                                    "(null: never)")
    schedule: Optional[Schedule] = Field(None, description="learning-rate schedule (null: eta throughout)")
    mu: float = Field(0.0, ge=0, lt=1, description="momentum coefficient (chapter 3): v <- mu*v - eta*grad, "
                      "w <- w + v; 0 is plain SGD")
    monitor: Monitor = Field(default_factory=Monitor)
    device: str = Field("auto", description="auto (a CUDA GPU if torch sees one, else the CPU), cpu, cuda, "
                        "cuda:N or mps")
    cuda_graph: bool = Field(
        True,
        description="on a CUDA device, record the training step once as a CUDA graph and replay it for "
        "every mini-batch (one launch instead of dozens); false runs the same step op by op (eager). "
        "The same arithmetic either way; the CPU and MPS always run it eagerly",
    )
    dtype: Literal["float32", "float64"] = Field(
        "float32",
        description="the precision of everything a run computes: parameters, data, targets, the step, "
        "evaluation, saved predictions and checkpoints. float32 is network3's (Theano floatX, chapter 6); "
        "network.py and network2.py (chapters 1-5) computed in numpy's float64",
    )
    seed: int = Field(0, description="of the initial weights, the data order, dropout and distortions")
    repeats: int = Field(1, gt=0, description="runs with seeds seed, seed+1, ...")
    # The conventions on which network2.py (chapters 3, 5) and network3.py
    # (chapter 6) disagree. Each is decided here, once; defaults are network3's.
    cost: Literal["log_likelihood", "cross_entropy", "quadratic"] = Field(
        "log_likelihood",
        description="log_likelihood needs a softmax output layer (network3); cross_entropy and "
        "quadratic compare a sigmoid fc output with one-hot targets (network2)",
    )
    init: Literal["network3", "default", "large", "he"] = Field(
        "network3",
        description="network3: w ~ N(0, 1/n_out), softmax zero; default: w ~ N(0, 1/n_in) (network2); "
        "large: w ~ N(0, 1) (network.py); he: w ~ N(0, 2/n_in) for ReLU. Biases N(0, 1) (he: 0); "
        "the softmax layer starts at zero under network3",
    )
    l2_scaling: Literal["num_batches", "train_size"] = Field(
        "num_batches",
        description="the L2 term 0.5*lmbda*sum(w^2) is divided by the number of training mini-batches "
        "(network3) or by the training-set size n (network2)",
    )
    shuffle: bool = Field(False, description="reshuffle the training data every epoch (network2) "
                          "or keep the fixed order (network3)")
    augment: Optional[Augment] = Field(None, description="distort the training images afresh every epoch")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # The name starts every run directory's name: it must be one path component.
        if "/" in value or "\\" in value or value in (".", "..") or value.startswith("-"):
            raise ValueError("must be a plain name for a directory (no '/', '\\', leading '-', '.' or '..')")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", value):
            raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
        return value

    @model_validator(mode="after")
    def _dtype_on_device(self) -> "Config":
        if self.device == "mps" and self.dtype == "float64":
            raise ValueError("dtype float64 cannot run on device mps (it has no float64); use device: cpu")
        return self

    @model_validator(mode="after")
    def _layer_stack(self) -> "Config":
        infer_shapes(self.layers)  # raises ValueError for stacks that cannot fit 28x28
        last = self.layers[-1]
        for i, layer in enumerate(self.layers[:-1]):
            if isinstance(layer, SoftmaxLayer):
                raise ValueError(f"layers.{i}: a softmax layer must be the last layer")
        if self.cost == "log_likelihood" and not isinstance(last, SoftmaxLayer):
            raise ValueError("the last layer must be {type: softmax} for cost log_likelihood "
                             "(or set cost: cross_entropy | quadratic for a sigmoid fc output)")
        if self.cost != "log_likelihood" and not isinstance(last, FullyConnectedLayer):
            raise ValueError(f"cost {self.cost} needs an fc output layer (network2 style); "
                             "use cost: log_likelihood with a softmax output")
        if self.cost == "cross_entropy" and last.activation != "sigmoid":
            raise ValueError("cost cross_entropy needs a sigmoid output layer (its activations must lie in (0, 1))")
        if isinstance(last, ConvPoolLayer) or last.units != N_CLASSES:
            raise ValueError(f"the output layer must have {N_CLASSES} units, one per digit")
        if isinstance(self.schedule, ListSchedule) and self.schedule.etas[0] != self.eta:
            raise ValueError(f"schedule.etas[0] = {self.schedule.etas[0]} must equal eta = {self.eta} "
                             "(the list gives the eta of every epoch, epoch 1 first)")
        return self


def infer_shapes(layers: list) -> list[tuple]:
    """Output shape of every layer for one 28x28 image: (C, H, W) or (n,).

    Raises ValueError naming the layer when a stack cannot fit.
    """
    shape: tuple = (1, IMAGE_SIDE, IMAGE_SIDE)
    shapes = []
    for i, layer in enumerate(layers):
        where = f"layers.{i} ({layer.type})"
        if isinstance(layer, ConvPoolLayer):
            if len(shape) != 3:
                raise ValueError(f"{where}: a conv_pool layer cannot follow a fully connected layer")
            c, h, w = shape
            if layer.kernel > h:
                raise ValueError(f"{where}: a {layer.kernel}x{layer.kernel} kernel does not fit its "
                                 f"{h}x{w} input; use kernel <= {h}")
            side = h - layer.kernel + 1
            if layer.pool > side:
                raise ValueError(f"{where}: pool {layer.pool} is larger than the {side}x{side} "
                                 f"convolution output; use pool <= {side}")
            shape = (layer.filters, side // layer.pool, side // layer.pool)
        else:
            shape = (layer.units,)
        shapes.append(shape)
    return shapes


def n_features(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n
