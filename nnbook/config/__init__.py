"""The experiment config: its schema (`schema.py`), how a YAML file becomes one (`loading.py`)
and the runs its repeats make (`repeats.py`).

One YAML file is one experiment; `load_config` turns it into a validated `Config`
or raises `ConfigError` with one line naming the file, the key, the value and what
would be valid. The names below are the package's public face.
"""

from nnbook.config.loading import (apply_override, dump_config, load_config, read_yaml, set_key,
                                   validate)
from nnbook.config.shipped import SHIPPED_DIR, find_config, shipped_names
from nnbook.config.repeats import PER_MEMBER, run_config, seeds_of, stack_key
from nnbook.config.schema import (IMAGE_SIDE, LAYER_TYPES, N_CLASSES, SCHEDULE_TYPES, Augment,
                                  Config, ConvPoolLayer, EarlyStopping, Elastic, FullyConnectedLayer,
                                  GeometricSchedule, HalvingSchedule, Layer, ListSchedule, Monitor, Schedule,
                                  SoftmaxLayer, StepSchedule, infer_shapes, n_features)

__all__ = ["apply_override", "dump_config", "load_config", "read_yaml", "set_key", "validate",
           "IMAGE_SIDE", "LAYER_TYPES", "N_CLASSES", "SCHEDULE_TYPES", "Augment", "Config", "ConvPoolLayer",
           "EarlyStopping", "Elastic", "FullyConnectedLayer", "GeometricSchedule", "HalvingSchedule", "Layer",
           "ListSchedule", "Monitor", "Schedule", "SoftmaxLayer", "StepSchedule", "infer_shapes", "n_features",
           "PER_MEMBER", "run_config", "seeds_of", "stack_key", "SHIPPED_DIR", "find_config", "shipped_names"]
