"""The reference of every config key, made from the schema (schema.py) so that it cannot drift.

`reference()` walks the pydantic models: each key with its type and allowed values (from the
annotation and its constraints), its default or `required`, and its description; then the layer
types, the activations, the schedule kinds and the blocks (early_stopping, monitor, augment).
The one thing the models cannot say, how the book's three programs map onto the keys, is the
table `BOOK_PROGRAMS` here (tests check it against the shipped configs and the defaults).
`nnbook config-reference` prints it; the README holds a copy between two markers
(`README_START`, `README_END`), which a test compares with it and `replace_section` rewrites.

Markdown, wrapped at 80 columns: it reads in a terminal as well as rendered. Never imports torch.
"""

from __future__ import annotations

import textwrap
import types
import typing
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from nnbook.config.schema import (LAYER_TYPES, SCHEDULE_TYPES, Activation, Augment, Config, EarlyStopping, Elastic,
                                  Monitor)

WIDTH = 80
README_START = "<!-- config-reference: made by `nnbook config-reference`; edit nnbook/config/schema.py instead -->"
README_END = "<!-- config-reference: end -->"

# How the book's programs map onto the keys on which they differ. network3.py's values are the
# schema's defaults; network.py and network2.py computed in numpy's float64 and reshuffled every epoch.
BOOK_PROGRAMS = {
    "network.py (chapter 1)": {"cost": ["quadratic"], "init": ["large"], "l2_scaling": ["train_size"],
                               "shuffle": [True], "dtype": ["float64"]},
    "network2.py (chapters 3, 5)": {"cost": ["cross_entropy"], "init": ["default", "large"],
                                    "l2_scaling": ["train_size"], "shuffle": [True], "dtype": ["float64"]},
    "network3.py (chapter 6)": {"cost": ["log_likelihood"], "init": ["network3"], "l2_scaling": ["num_batches"],
                                "shuffle": [False], "dtype": ["float32"]},
}
PROGRAM_NOTES = {
    "network.py (chapter 1)": "a sigmoid fc output layer compared with one-hot targets; no L2 (lmbda 0)",
    "network2.py (chapters 3, 5)": "a sigmoid fc output layer; init default is network2.py's own, large the "
                                   "one chapter 3 first compares it with",
    "network3.py (chapter 6)": "a softmax output layer; conv_pool layers, dropout; nnbook's defaults",
}


def reference() -> str:
    """The whole reference, markdown."""
    parts = ["## Config reference",
             wrap("Every key of an experiment YAML, with its type and allowed values, its default (or "
                  "`required`) and what it does. Override any of them with `--set KEY=VALUE` (dotted paths reach "
                  "into lists: `--set layers.1.units=300`); `nnbook train CONFIG --dry-run` shows a config "
                  "resolved. A mistake is reported for every key at once, each on its own line."),
             "### Top-level keys", keys(Config),
             "### Layers",
             wrap("`layers` is a list, input side first; `type` chooses the layer, and each type has "
                  "its own keys. The last layer must have 10 units: a softmax layer for cost log_likelihood, "
                  "an fc layer (sigmoid for cross_entropy) for the other costs."),
             *[section for name, model in LAYER_TYPES.items() for section in (f"#### type: {name}", doc(model),
                                                                              keys(model))],
             "### Activations",
             wrap(f"`activation` of a conv_pool or fc layer: {choices(Activation)}."),
             "### Learning-rate schedules",
             wrap("`schedule` is null (eta throughout) or a mapping whose `type` is one of these; `eta` "
                  "is always the first epoch's."),
             *[section for name, model in SCHEDULE_TYPES.items() for section in (f"#### type: {name}", doc(model),
                                                                                 keys(model))],
             "### early_stopping", doc(EarlyStopping), keys(EarlyStopping),
             "### monitor", doc(Monitor), keys(Monitor),
             "### augment", doc(Augment), keys(Augment),
             "#### augment.elastic", doc(Elastic), keys(Elastic),
             "### The book's programs", wrap("The keys on which the book's three programs differ, as the "
                                            "shipped configs of each chapter set them:"),
             programs()]
    return "\n\n".join(parts) + "\n"


def keys(model: type[BaseModel]) -> str:
    """One bullet per key of `model` (a union's `type` tag is the heading instead)."""
    items = []
    for name, info in model.model_fields.items():
        if name == "type":
            continue
        default = "required" if info.is_required() else f"default {shown_default(info)}"
        head = f"`{name}` ({type_text(info.annotation)}{limits(info)}; {default})"
        items.append(bullet(f"{head}: {sentence(info.description)}" if info.description else f"{head}."))
    return "\n".join(items)


def type_text(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_text(args[0])
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        tagged = [a for a in rest if isinstance(a, type) and issubclass(a, BaseModel) and "type" in a.model_fields]
        inner = (f"a mapping whose type is {' | '.join(choices(a.model_fields['type'].annotation) for a in tagged)}"
                 if tagged and len(tagged) == len(rest) else " | ".join(type_text(a) for a in rest))
        return f"{inner} | null" if len(rest) < len(args) else inner
    if origin is Literal:
        return choices(annotation)
    if origin is list:
        element = args[0]
        return "list of layers" if typing.get_origin(element) is typing.Annotated and \
            typing.get_origin(typing.get_args(element)[0]) in (Union, types.UnionType) else \
            f"list of {type_text(element)}{limits_of(element).replace(',', '')}"
    if origin is dict:
        return f"mapping of {type_text(args[0])} to {type_text(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a mapping (see {annotation.__name__.lower()})" if annotation not in SECTIONS else \
            f"a mapping (see `{SECTIONS[annotation]}` below)"
    return {int: "integer", float: "number", str: "text", bool: "true | false"}.get(annotation, str(annotation))


SECTIONS = {EarlyStopping: "early_stopping", Monitor: "monitor", Augment: "augment", Elastic: "augment.elastic"}


def choices(literal: Any) -> str:
    return " | ".join(str(c) for c in typing.get_args(literal))


def limits(info: FieldInfo) -> str:
    return bounds(info.metadata)


def limits_of(annotation: Any) -> str:
    """The bounds an `Annotated[float, Field(gt=0)]` element carries."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return ""
    return bounds([m for extra in typing.get_args(annotation)[1:] for m in getattr(extra, "metadata", [extra])])


def bounds(metadata: list) -> str:
    words = []
    for m in metadata:  # pydantic's constraint objects (annotated_types.Gt, ...), each with its one bound
        for bound, sign in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(m, bound, None) is not None:
                words.append(f"{sign} {number(getattr(m, bound))}")
        if getattr(m, "min_length", None):
            words.append(f"at least {m.min_length} long" if m.min_length > 1 else "not empty")
    return f", {' and '.join(words)}" if words else ""


def shown_default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "all off" if info.default_factory is Monitor else str(info.default_factory())
    value = info.default
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return number(value) if isinstance(value, (int, float)) else str(value)


def number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) and value != 1 / 128 else ("1/128" if value == 1 / 128 else
                                                                                str(value))


def doc(model: type[BaseModel]) -> str:
    return wrap(" ".join((model.__doc__ or "").split()))


def programs() -> str:
    items = []
    for program, settings in BOOK_PROGRAMS.items():
        values = ", ".join(f"{key} {' or '.join(str(v).lower() for v in allowed)}" for key, allowed in settings.items())
        items.append(bullet(f"{program}: {values}; {PROGRAM_NOTES[program]}."))
    return "\n".join(items)


def sentence(text: str) -> str:
    """A description as the end of a bullet, after a colon (many begin with a key or a value)."""
    text = " ".join(text.split())
    return text + ("" if text.endswith(".") else ".")


def wrap(text: str) -> str:
    return textwrap.fill(text, WIDTH, break_on_hyphens=False, break_long_words=False)


def bullet(text: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False,
                         break_long_words=False)


def replace_section(readme: str, text: str) -> str:
    """`readme` with the reference between its markers replaced by `text`."""
    head, start, rest = readme.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        raise ValueError(f"the README has no section between {README_START!r} and {README_END!r}")
    return f"{head}{README_START}\n\n{text}\n{README_END}{tail}"


def readme_section(readme: str) -> str:
    """The reference as the README holds it (between its markers)."""
    return readme.partition(README_START)[2].partition(README_END)[0].strip("\n") + "\n"
