"""The floor plan holds: layers import only downward, stems are unique, workers import little."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).parents[1]
LAYERS = {  # folder -> (its import name, what it may import of EconoNexus)
    "src/econonexus/_core": ("econonexus._core", ("econonexus._core",)),
    "solvers": ("econonexus.solvers", ("econonexus._core", "econonexus.solvers")),
    "agents": (
        "econonexus.agents",
        ("econonexus._core", "econonexus.solvers", "econonexus.agents"),
    ),
    "pipelines": (
        "econonexus.pipelines",
        ("econonexus._core", "econonexus.solvers", "econonexus.agents", "econonexus.pipelines"),
    ),
}
NUMERIC = {
    "numpy",
    "scipy",
    "polars",
    "pyarrow",
    "pulp",
    "highspy",
    "pyscipopt",
    "__future__",
    "dataclasses",
}


def _imports(path: pathlib.Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def _modules(folder: str) -> list[pathlib.Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_each_layer_imports_only_the_layers_below_it(folder: str) -> None:
    _, allowed = LAYERS[folder]
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(folder)
        for name in _imports(path)
        if name.split(".")[0] == "econonexus" and not name.startswith(allowed)
    ]
    assert not wrong, wrong


def test_nothing_inside_imports_the_package_face() -> None:
    face = ("econonexus._api",)
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for folder in LAYERS
        for path in _modules(folder)
        for name in _imports(path)
        if name == "econonexus" or name.startswith(face)
    ]
    assert not wrong, wrong


def test_solvers_import_only_the_ground_floor_and_numeric_libraries() -> None:
    stdlib = set(sys.stdlib_module_names)
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("solvers")
        for name in _imports(path)
        if name.split(".")[0] not in stdlib | NUMERIC | {"econonexus"}
    ]
    assert not wrong, wrong


def test_no_two_modules_share_a_stem() -> None:
    stems: dict[str, list[str]] = {}
    for folder in ("src/econonexus", "solvers", "agents", "pipelines"):
        for path in _modules(folder):
            if path.name != "__init__.py":
                stems.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert {s: p for s, p in stems.items() if len(p) > 1} == {}


def test_a_worker_importing_a_solver_loads_no_scheduler_plots_or_metrics() -> None:
    code = (
        "import sys, econonexus.solvers.wdp, econonexus.solvers.vcg;"
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'distributed', 'bokeh', 'prometheus_client', 'tornado'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _settings() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "src/econonexus/econonexus.yaml").read_text())["econonexus"]
    leaves: dict[str, object] = {}

    def walk(node: dict[str, object], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                leaves[f"{prefix}{key}"] = value

    walk(loaded, "")
    return leaves


def _defaults(tree: ast.AST) -> list[tuple[str, ast.expr, int]]:
    """(name, default) of every function parameter, class field and module constant."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = args.posonlyargs + args.args
            tail = positional[len(positional) - len(args.defaults) :]
            found += [(a.arg, d, node.lineno) for a, d in zip(tail, args.defaults, strict=True)]
            kw = zip(args.kwonlyargs, args.kw_defaults, strict=True)
            found += [(a.arg, d, node.lineno) for a, d in kw if d is not None]
        elif isinstance(node, ast.AnnAssign) and node.value and isinstance(node.target, ast.Name):
            found.append((node.target.id, node.value, node.lineno))
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            found.append((node.targets[0].id, node.value, node.lineno))
    return found


def test_no_setting_has_a_second_default_in_code() -> None:
    """The YAML is the one source: a parameter, field or constant named like a setting
    (``enumerate_max`` for ``enumerate-max-bids``) must not repeat its value."""
    settings = {
        key.rsplit(".", 1)[-1].replace("-", "_"): (key, value)
        for key, value in _settings().items()
        if not key.startswith("simulate.markets.")  # a market table, not defaults of code
    }
    repeated = []
    for folder in LAYERS:
        for path in _modules(folder):
            for name, node, line in _defaults(ast.parse(path.read_text())):
                try:
                    value = ast.literal_eval(node)
                except ValueError:
                    continue
                if value is None:  # "not given: read the setting"
                    continue
                for short, (key, default) in settings.items():
                    alike = short in name.lower() or name.lower() in short
                    same = value == default or (isinstance(value, tuple) and list(value) == default)
                    if alike and same:
                        repeated.append(f"{path.relative_to(ROOT)}:{line} {name}={value!r} ({key})")
    assert not repeated, repeated


def test_only_the_format_registry_names_a_format() -> None:
    from econonexus._core.formats import FORMATS

    registry = ROOT / "src/econonexus/_core/formats.py"
    named = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}"
        for folder in LAYERS
        for path in _modules(folder)
        if path != registry
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and node.value in FORMATS
    ]
    assert not named, named
