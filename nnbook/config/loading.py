"""Reading an experiment YAML: `--set` overrides, validation against the schema,
and errors naming the file, the key, the value and what would be valid: one line
for each problem, every problem of a config at once.

Never imports torch.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import BaseModel, ValidationError

from nnbook.config.schema import LAYER_TYPES, SCHEDULE_TYPES, Augment, Config, EarlyStopping, Elastic, Monitor
from nnbook.config.shipped import find_config
from nnbook.errors import ConfigError


def load_config(path: str | Path, overrides: list[str] = (), values: Optional[dict[str, Any]] = None) -> Config:
    """Read, override and validate one experiment file: a path, or a shipped config's name
    (`ch6_shallow`, shipped.py). `overrides`: `--set KEY=VALUE` text; `values`: {KEY: value}
    the same from Python (nnbook.train's keyword arguments), applied after them."""
    path = find_config(path)
    raw = read_yaml(path)
    if "sweep" in raw:
        raise ConfigError(f"{path}: is a sweep config (it has a `sweep:` block); run it with `nnbook sweep {path}`")
    raw.setdefault("name", path.stem)
    for assignment in overrides:
        apply_override(raw, assignment)
    for key, value in (values or {}).items():
        set_key(raw, key, value, origin=f"{key}={value!r}")
    return validate(raw, source=str(path))


class DuplicateKey(Exception):
    """A mapping names one key twice: YAML would keep the last value without a word."""


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a mapping with a repeated key, naming it and both lines."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if first is not None:
                raise DuplicateKey(f"key {key!r} appears twice in one mapping, on line {first + 1} and line "
                                   f"{key_node.start_mark.line + 1}; keep one")
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file (for a run, use {path}/config.yaml)")
    try:
        raw = yaml.load(path.read_text(), Loader=UniqueKeyLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        # The context is where the broken construct began, often the line to fix
        # (an unclosed `[` is only noticed on a later line).
        context, start = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and start and (not mark or start.line != mark.line):
            problem += f" ({context} on line {start.line + 1})"
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    except DuplicateKey as e:
        raise ConfigError(f"{path}: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys (name, layers, epochs, ...), "
                          f"got {type(raw).__name__}")
    return raw


def apply_override(raw: dict, assignment: str) -> None:
    """Apply one `--set KEY=VALUE`: dotted paths reach into lists (`layers.2.units=300`);
    the value is parsed as YAML."""
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set epochs=5 or --set layers.2.units=300")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"--set {assignment!r}: the value {text!r} is not valid YAML") from None
    set_key(raw, key, value, origin=f"--set {key}")


def set_key(raw: dict, key: str, value: Any, origin: str) -> None:
    """Set the dotted `key` of a raw config to `value`; `origin` starts the error message."""
    node: Any = raw
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) <= len(node):
                raise ConfigError(f"{origin}: {here!r} must be a list index 0..{len(node) - 1} "
                                  f"(or {len(node)} to append)")
            index = int(part)
            if index == len(node):
                node.append(None if last else {})
            if last:
                node[index] = value
            else:
                if node[index] is None:
                    node[index] = {}
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
        else:
            parent = ".".join(parts[:depth])
            raise ConfigError(f"{origin}: {parent!r} is a {type(node).__name__}, not a mapping or list")


def validate(raw: dict, source: str) -> Config:
    """The config `raw` describes, or a ConfigError naming every problem at once, one a line."""
    try:
        return Config.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("\n".join(describe_errors(e.errors(), raw, source))) from None


def describe_errors(errors: list[dict], raw: dict, source: str) -> list[str]:
    """One line for each pydantic error, misspelled keys first. A required key missing only because it
    is misspelled (`epoch: 5` for `epochs`) is named once, by the misspelling's "did you mean"."""
    errors = sorted(errors, key=lambda err: err["type"] != "extra_forbidden")
    suggested = {(*_key_path(err)[:-1], guess) for err in errors if err["type"] == "extra_forbidden"
                 for guess in [_close_key(_key_path(err), raw)] if guess}
    return [describe_error(err, raw, source) for err in errors
            if not (err["type"] == "missing" and tuple(_key_path(err)) in suggested)]


def _key_path(error: dict) -> list:
    """The error's location as config keys and list indices, without pydantic's union tags."""
    return [part for part in error["loc"] if not (isinstance(part, str) and _is_tag(error["loc"], part))]


def _close_key(loc: list, raw: dict) -> Optional[str]:
    """The valid key an unknown key at `loc` is most likely a misspelling of, or None."""
    close = difflib.get_close_matches(str(loc[-1]), _valid_keys(loc[:-1], raw), n=1)
    return close[0] if close else None


def describe_error(error: dict, raw: dict, source: str) -> str:
    """One line for one pydantic error: file, key, value, what is valid."""
    loc = _key_path(error)
    key = ".".join(str(p) for p in loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return f"{source}: missing required key {key!r}"
    if kind == "extra_forbidden":
        name = str(loc[-1])
        valid = _valid_keys(loc[:-1], raw)
        close = _close_key(loc, raw)
        hint = _layer_key_hint(name, loc[:-1], raw) or (f" — did you mean {close!r}?" if close else "")
        return f"{source}: unknown key {key!r}{hint} (valid keys here: {', '.join(valid)})"
    message = error["msg"].removeprefix("Value error, ")
    if not key:  # a whole-config rule (the layer stack)
        return f"{source}: {message}"
    return f"{source}: {key} = {_show(value)}: {message}"


def _layer_key_hint(name: str, parent: list, raw: dict) -> str:
    """For a layer's key (p_dropout, activation, ...) written at the top of a config: where it goes."""
    if parent:
        return ""
    layers = raw.get("layers") if isinstance(raw.get("layers"), list) else []
    for i, layer in enumerate(layers):
        model = tagged(LAYER_TYPES, layer)
        if model is not None and name in model.model_fields:
            return f" — {name!r} is a layer's key: set it on each layer it applies to, e.g. layers.{i}.{name}"
    if any(name in model.model_fields for model in LAYER_TYPES.values()):
        return f" — {name!r} is a layer's key: set it on a layer (layers.N.{name})"
    return ""


def _is_tag(loc: tuple, part: str) -> bool:
    """pydantic puts the union tag into the location: a layer's ('fc') after its list index,
    a schedule's ('halving') after 'schedule'."""
    i = loc.index(part)
    if part in LAYER_TYPES:
        return i > 0 and isinstance(loc[i - 1], int)
    return part in SCHEDULE_TYPES and i > 0 and loc[i - 1] == "schedule"


def _valid_keys(parent: list, raw: dict) -> list[str]:
    model: type[BaseModel] = Config
    node: Any = raw
    for part in parent:
        node = node[part] if isinstance(node, (dict, list)) else None
        if isinstance(part, int):
            model = tagged(LAYER_TYPES, node) or model
        elif part == "early_stopping":
            model = EarlyStopping
        elif part == "augment":
            model = Augment
        elif part == "elastic" and model is Augment:
            model = Elastic
        elif part == "monitor":
            model = Monitor
        elif part == "schedule":
            model = tagged(SCHEDULE_TYPES, node) or model
    return list(model.model_fields)


def tagged(types: dict, node: Any) -> Optional[type[BaseModel]]:
    """The model a mapping's `type:` names in `types`, or None (no mapping, no such type, or a type that is
    not a string: whatever a config file holds)."""
    tag = node.get("type") if isinstance(node, dict) else None
    return types.get(tag) if isinstance(tag, str) else None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def dump_config(config: Config) -> str:
    """The fully resolved config as YAML: `nnbook train <run>/config.yaml` reruns it."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, default_flow_style=None)
