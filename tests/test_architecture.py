"""The package's shape: layers that import only downwards, no import cycle, modules of
a readable size. Read from the source with `ast` (every import, including those inside
functions: an import deferred to dodge a cycle is still a cycle)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nnbook"
MAX_LINES = 400

# The package's own small modules (errors, choices, records, seeds, statistics, the book's figures)
# that every layer may use, beside config; they import none of the layers.
ROOT_MODULES = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
# What each layer may import from nnbook (besides itself, the root modules and `config`).
ALLOWED = {
    "config": set(),  # the schema, YAML, the catalogue of configs: no torch, nothing that trains
    "data": set(),
    "nn": set(),
    "training": {"nn", "data"},
    "runs": set(),  # the run directory stores what training made; it imports no code that trains
    "analysis": {"runs", "training", "data"},  # reads runs; the math only through its doors (below)
    "experiments": {"analysis", "runs", "training", "nn", "data"},  # one experiment trained; chapter 6 reports
    # a set of runs trained where asked (this process, worker processes, a Ray cluster): stacks, workers,
    # threads and the pool are chosen here and nowhere else; each stack trains through experiments/
    "execution": {"experiments", "runs", "training", "nn", "data"},
    "sweep": {"execution", "runs"},  # grids, plans and results; trains through execution/ alone
    "ui": {"nn"},  # the dry run describes a model; no display reads files (runs/) or trains
    # nnbook from Python: trains through execution/, reads through runs/ and analysis/, shows through ui/
    "api": {"execution", "experiments", "analysis", "runs", "ui"},
    "cli": {"api", "ui", "execution", "experiments", "sweep", "analysis", "runs", "training", "data"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_statements(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of every import in `path`: `import a.b` is ("a.b", []), `from a import b, c`
    is ("a", ["b", "c"])."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (nnbook imports absolutely)"
            found.append((node.module or "", [a.name for a in node.names]))
    return found


def imports_of(path: Path) -> set[str]:
    """The nnbook modules `path` imports, resolved to module names (a name imported from a
    package that is itself a module counts as that module)."""
    return {module for target, names in import_statements(path) if target.startswith("nnbook")
            for module in [target, *(f"{target}.{name}" for name in names)]}


def third_party_imports_of(path: Path) -> set[str]:
    """The top-level names of the packages outside nnbook that `path` imports (matplotlib, torch, ...)."""
    return {target.split(".")[0] for target, _ in import_statements(path)} - {"nnbook"}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name}
            for name, path in modules.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_import_graph_has_no_cycle():
    edges = graph()
    # A package's __init__ that re-exports its own submodules is a facade, not a cycle:
    # drop the edge from a submodule up to its own package.
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("layer_name", sorted(ALLOWED))
def test_each_layer_imports_only_what_lies_below_it(layer_name):
    shared = {"", "config", layer_name} | ROOT_MODULES
    wrong = []
    for module, targets in graph().items():
        if layer(module) != layer_name:
            continue
        for target in targets:
            if layer(target) not in shared | ALLOWED[layer_name]:
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong


def test_nothing_below_the_command_line_imports_it():
    wrong = [f"{m} imports {t}" for m, ts in graph().items() for t in ts
             if layer(t) == "cli" and layer(m) != "cli" and m != "nnbook.__main__"]
    assert not wrong, wrong


def test_no_module_is_too_long_to_read():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_only_the_runs_layer_names_the_files_of_a_run_directory():
    names = ("summary.json", "metrics.jsonl", "checkpoint.pt", "test_predictions.npy", "model.pt")
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        if layer(module_name(path)) == "runs":
            continue
        text = path.read_text()
        # Docstrings may describe a run directory; code must not open its files by name.
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(("#", '"', "'")))
        wrong += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if f'"{n}"' in code or f"'{n}'" in code]
    assert not wrong, wrong


# Pictures are drawn in one place (analysis/plots.py): the layers that compute hand over arrays and tables.
PLOTTING = {"matplotlib"}
DRAW_NOTHING = ("nn", "data", "training")


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    """`start` and every nnbook module it imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(edges.get(module, ()))
    return seen


@pytest.mark.parametrize("layer_name", DRAW_NOTHING)
def test_the_computing_layers_import_no_plotting_library_at_any_depth(layer_name):
    edges = graph()
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    wrong = []
    for module in sorted(m for m in edges if layer(m) == layer_name):
        for reached in sorted(reachable(edges, module)):
            if third_party_imports_of(paths[reached]) & PLOTTING:
                wrong.append(f"{module} reaches {reached}, which imports {PLOTTING}")
    assert not wrong, wrong


def test_the_root_modules_import_no_layer():
    """What every layer may read must not reach back into a layer (which would make it reach
    every layer that layer reaches)."""
    wrong = [f"{m} imports {t}" for m, ts in graph().items() if layer(m) in ROOT_MODULES | {""} and m != "nnbook"
             for t in ts if layer(t) not in ROOT_MODULES | {""}]
    assert not wrong, wrong


def test_the_package_gives_the_api_on_first_use_and_imports_nothing_itself():
    """nnbook/__init__.py names the Python API (nnbook.train, ...) and imports it only when one of
    those names is first used: `import nnbook`, which every module's import starts with, loads no
    other module of nnbook and no torch."""
    probe = ("import sys, nnbook; print(sorted(m for m in sys.modules if m.startswith('nnbook.') or m == 'torch')); "
             "nnbook.load_runs; print('nnbook.api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=PACKAGE.parent)
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stdout


# analysis/ reads run directories (runs/) and data sets (data/mnist.py). The numbers it reports
# are computed by the layer that owns the math, reached through one door each, so analysis
# never assembles a network or a tensor itself (and imports no torch). Module -> the names
# analysis may use from it (None: any).
ANALYSIS_DOORS = {
    "nnbook.data.mnist": None,  # loading a data set
    "nnbook.data.augment": {"preview_mosaic", "describe"},  # the distortions, as an array to draw
    "nnbook.training.inference": {"saved_network", "WeightsMismatch"},  # a run's network, its predictions
}
COMPUTING = ("nn", "training", "data")


def names_used_from_computing_layers(path: Path) -> list[tuple[str, set[str]]]:
    """(module, names) for every import of nn/, training/ or data/ in `path`: the names imported
    from a module, or the attributes read from a module imported by name (`from nnbook.data
    import augment` then `augment.describe`); None for `import nnbook.x.y` (anything)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    tree = ast.parse(path.read_text())
    read = {}  # local name -> attributes read from it
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            read.setdefault(node.value.id, set()).add(node.attr)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:  # a module imported by name
                    found.append((f"{node.module}.{a.name}", read.get(a.asname or a.name, set())))
                else:
                    found.append((node.module, {a.name}))
    return [(m, names) for m, names in found if m.startswith("nnbook.") and layer(m) in COMPUTING]


def test_analysis_reaches_the_math_only_through_its_doors():
    wrong = []
    for path in sorted(PACKAGE.glob("analysis/*.py")):
        name = module_name(path)
        if "torch" in third_party_imports_of(path):
            wrong.append(f"{name} imports torch")
        for module, names in names_used_from_computing_layers(path):
            if module not in ANALYSIS_DOORS:
                wrong.append(f"{name} imports {module}, which is no door of analysis/")
            elif ANALYSIS_DOORS[module] is not None and (names is None or not names <= ANALYSIS_DOORS[module]):
                wrong.append(f"{name} uses {sorted(names or ['*'])} of {module}; its door is "
                             f"{sorted(ANALYSIS_DOORS[module])}")
    assert not wrong, wrong
