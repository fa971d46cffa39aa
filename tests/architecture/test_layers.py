"""The package's layer order: no module imports from a layer above its own.

cli/api → leaderboard, report, training → pipeline → benchmark → tasks → adapters,
perturbations → data → metrics → the foundation (errors, cache, specs). Every import counts,
including those inside functions (a lazy import is how a cycle hides), except those under
``if TYPE_CHECKING:``, which only name types for annotations.
"""

from __future__ import annotations

import ast
from pathlib import Path

import curvebench

PACKAGE = Path(curvebench.__file__).parent
LAYERS: dict[str, int] = {
    "errors": 0,
    "cache": 0,
    "specs": 0,
    "yaml_mapping": 0,
    "stopping": 0,
    "threads": 0,
    "trace": 0,
    "metrics": 1,
    "data": 2,
    "adapters": 3,
    "perturbations": 3,
    "tasks": 4,
    "benchmark": 5,
    "pipeline": 6,
    "leaderboard": 7,
    "report": 7,
    "training": 7,
    "api": 8,
    "cli": 8,
    "run_arguments": 8,
    "callback": 8,
    "__init__": 9,
}
"""Top-level module or subpackage of curvebench → its layer (higher may import lower)."""


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported curvebench module, line) of every import in a file."""
    tree = ast.parse(path.read_text())
    typing_only = {  # `if TYPE_CHECKING:` imports name types for annotations, never run
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        out += [(n, node.lineno) for n in names if n.startswith("curvebench.")]
    return out


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """Every import of a module from a layer above its own, as readable lines."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(("curvebench", *path.relative_to(package).with_suffix("").parts))
        area = _area(module)
        if area not in LAYERS:
            bad.append(f"{module}: area {area!r} has no layer; add it to LAYERS")
            continue
        for target, line in _imports(path):
            if LAYERS.get(_area(target), 99) > LAYERS[area]:
                bad.append(f"{module}:{line} imports {target} (layer above)")
    return bad


def test_no_module_imports_from_a_layer_above_it() -> None:
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path) -> None:
    fake = tmp_path / "curvebench"
    (fake / "metrics").mkdir(parents=True)
    (fake / "metrics" / "bad.py").write_text(
        "def f():\n    from curvebench.benchmark.results import Results\n"
    )
    assert upward_imports(fake) == [
        "curvebench.metrics.bad:2 imports curvebench.benchmark.results (layer above)"
    ]


REGISTRIES = {"curvebench.adapters.registry"}
"""Modules whose import of the modules they register is the one allowed cycle."""


def _module_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {
        ".".join(("curvebench", *p.relative_to(package).with_suffix("").parts)).removesuffix(
            ".__init__"
        ): p
        for p in package.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for target, _ in _imports(path):
            while target and target not in modules:  # `from pkg.mod import name` → pkg.mod
                target = target.rpartition(".")[0]
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def import_cycles() -> list[list[str]]:
    """Cycles of imports between curvebench modules that do not pass through a registry."""
    graph = _module_graph()
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt in REGISTRIES or node in REGISTRIES:
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycles_but_registration() -> None:
    assert [
        c for c in import_cycles() if not (len(c) == 3 and c[0] == c[2] and _package_init(c))
    ] == []


def _package_init(cycle: list[str]) -> bool:
    """A package's __init__ re-exporting its own submodule (pkg → pkg.mod → pkg) is no cycle
    of layers."""
    a, b = cycle[0], cycle[1]
    return b.startswith(a + ".") or a.startswith(b + ".")
