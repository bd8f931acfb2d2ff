"""How `--help` names the values of options and arguments: as a person would write them.

Typer shows a value's Python type (`<int>`, `<bool>`, `<list[Path]>`); `HelpCommand` and
`HelpGroup` give every parameter that has no metavar of its own a placeholder instead:
`--threads N`, `--out PATH`, `RUN_DIR...`, nothing for a flag. An option that names one kind
of thing says which where it is declared (`--runs-dir DIR`, options.py). Relies on Typer's
`display_type` (Typer >= 0.17); tests/test_cli_conventions.py checks every command's help.
"""

from __future__ import annotations

from typer.core import TyperArgument, TyperCommand, TyperGroup

# Typer's type labels, and what a person would write instead. A list option repeats (--only A --only B):
# its placeholder is its element's.
PLACEHOLDERS = {"bool": "", "int": "N", "int range": "N", "float": "NUMBER", "float range": "NUMBER",
                "path": "PATH", "Path": "PATH", "str": "TEXT"}


def placeholder(type_label: str, many: bool) -> str:
    """The placeholder for a value Typer labels `<type_label>`; `many`: an argument that takes several."""
    label = type_label.strip("<>")
    if label.startswith("list[") and label.endswith("]"):
        label = label[len("list["):-1]
    word = PLACEHOLDERS.get(label, label)  # a choice (vote|mean) reads as it is
    return f"{word}..." if many and word else word


class _NamedArgument(TyperArgument):
    """An argument shown by its name (CONFIG, RUN_DIR...), in the usage line as in the table: no type beside it."""

    def display_type_rich(self, ctx) -> None:
        return None

    def get_usage_pieces(self, ctx) -> list[str]:
        return [self.metavar if self.required else f"[{self.metavar}]"]


def name_values(params: list) -> list:
    """`params`, each without a metavar given one a person would read (see PLACEHOLDERS)."""
    for param in params:
        display_type = getattr(param, "display_type", None)  # Typer's `<int>` labels (Typer >= 0.17)
        if display_type is None or isinstance(param, _NamedArgument):
            continue
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                word = param.name.upper()
                param.metavar = f"{word}..." if param.nargs != 1 else word
            param.__class__ = _NamedArgument
        elif param.metavar is None:
            param.metavar = placeholder(display_type(None), many=False)
    return params


class HelpCommand(TyperCommand):
    """A command whose options and arguments (--help too) read with placeholders, not types."""

    def get_params(self, ctx) -> list:
        return name_values(super().get_params(ctx))


class HelpGroup(TyperGroup):
    """The app's group, read as HelpCommand reads."""

    def get_params(self, ctx) -> list:
        return name_values(super().get_params(ctx))
