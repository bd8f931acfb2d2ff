"""The config reference is made from the schema: every key is in it, the README holds it as printed,
and what it says of the book's programs is what the shipped configs and the defaults do."""

import re

import pytest

from nnbook.config import LAYER_TYPES, SCHEDULE_TYPES, Augment, Config, EarlyStopping, Elastic, Monitor, load_config
from nnbook.config.catalogue import chapter_of
from nnbook.config.reference import BOOK_PROGRAMS, WIDTH, readme_section, reference, replace_section

from .cli import CONFIGS, ROOT


def test_the_readme_holds_the_reference_as_the_command_prints_it(cli):
    printed = cli("config-reference")
    assert printed.returncode == 0 and printed.stderr == ""
    assert printed.stdout == reference()
    readme = (ROOT / "README.md").read_text()
    assert readme_section(readme) == reference(), \
        "README.md's config reference is stale: rewrite it with python -c \"from pathlib import Path; " \
        "from nnbook.config.reference import reference, replace_section as r; p = Path('README.md'); " \
        "p.write_text(r(p.read_text(), reference()))\""
    assert replace_section(readme, reference()) == readme


def bullets(text: str, heading: str) -> list[str]:
    """The keys listed under `heading` (up to the next heading)."""
    section = text.split(f"{heading}\n", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^- `(\w+)` \(", section, flags=re.M)


@pytest.mark.parametrize("heading, model", [
    ("### Top-level keys", Config), ("### early_stopping", EarlyStopping), ("### monitor", Monitor),
    ("### augment", Augment), ("#### augment.elastic", Elastic),
    *[(f"#### type: {name}", model) for name, model in {**LAYER_TYPES, **SCHEDULE_TYPES}.items()],
])
def test_every_key_of_the_schema_is_listed_with_its_default(heading, model):
    text = reference()
    assert bullets(text, heading) == [name for name in model.model_fields if name != "type"]
    for name, info in model.model_fields.items():
        if name != "type":
            line = text.split(f"{heading}\n", 1)[1].split(f"- `{name}` (", 1)[1]
            bullet = " ".join(line.split("\n- ")[0].split())
            assert ("; required)" if info.is_required() else "; default ") in bullet, name


def test_the_reference_names_the_choices_and_fits_80_columns():
    text = reference()
    assert max(len(line) for line in text.splitlines()) <= WIDTH
    for words in ["sigmoid | tanh | relu | linear", "log_likelihood | cross_entropy | quadratic",
                  "network3 | default | large | he", "a mapping whose type is halving | steps | list | geometric",
                  "`epochs` (integer, > 0; required): passes over", "`mu` (number, >= 0 and < 1; default 0):",
                  "`stop_ratio` (number, > 0 and < 1; default 1/128):"]:
        assert words in " ".join(text.split()), words


def test_the_book_programs_are_what_the_shipped_configs_and_the_defaults_do():
    chapters = {"network.py (chapter 1)": {"1"}, "network2.py (chapters 3, 5)": {"3", "5"},
                "network3.py (chapter 6)": {"6"}}
    defaults = Config.model_fields
    for program, settings in BOOK_PROGRAMS.items():
        configs = [load_config(p) for p in CONFIGS.glob("ch*.yaml")
                   if "_sweep_" not in p.stem and chapter_of(p.stem) in chapters[program]]
        assert configs, program
        for config in configs:
            for key, allowed in settings.items():
                assert getattr(config, key) in allowed, (config.name, key)
    network3 = BOOK_PROGRAMS["network3.py (chapter 6)"]
    assert {key: [defaults[key].default] for key in network3} == network3  # nnbook's defaults are network3's
