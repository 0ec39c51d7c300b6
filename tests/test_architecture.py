"""The package's shape, checked: public API, imports, module size, no deep class chains.

The layers themselves (what may import what) are import-linter's contract in ``.importlinter``,
run by ``make test``; these are the rules it does not express.
"""

from __future__ import annotations

import ast
import types
from collections.abc import Iterator
from pathlib import Path

import prostop_plugin

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "prostop_plugin"
ADAPTERS = ROOT / "adapters"
#: the example adapters' packages (docs/vendors.md): held to the adapters' rules
EXAMPLES = sorted(p for p in ROOT.glob("examples/*/prostop_*") if p.is_dir())
MAX_MODULE_LINES = 500


def python_files(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        yield from sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module) -> Iterator[ast.ImportFrom | ast.Import]:
    """Imports run when the module loads: not in functions, not under ``if TYPE_CHECKING``."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            yield node
        elif isinstance(node, ast.Try) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test)
        ):
            yield from (n for n in node.body if isinstance(n, ast.ImportFrom | ast.Import))


def test_every_public_member_of_the_root_is_in_all_and_every_name_in_all_exists() -> None:
    public = {
        name for name, value in vars(prostop_plugin).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(prostop_plugin.__all__) - {"__version__"} == public
    assert len(prostop_plugin.__all__) == len(set(prostop_plugin.__all__))


def test_no_private_name_is_imported_from_another_module() -> None:
    found = []
    for path in python_files(PACKAGE, ADAPTERS, ROOT / "tests", ROOT / "bench", ROOT / "examples"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("prostop"):
                found += [
                    f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert found == []


def test_the_package_has_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for path in python_files(PACKAGE):
        name = module_name(path)
        graph[name] = set()
        for node in top_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            targets = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
            )
            graph[name] |= {t for t in targets if t.startswith("prostop_plugin")}
    for name in graph:
        graph[name] = {t for t in graph[name] if t in graph and t != name}
    # a package's __init__ importing its own modules is how packages are built, not a cycle
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), list(graph[start])
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(graph[current])
        return False

    assert [m for m in graph if reaches(m, m)] == []


def test_no_module_is_over_the_size_a_reader_holds_at_once() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in python_files(PACKAGE, ADAPTERS, *EXAMPLES)
    }
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_no_chain_of_three_project_classes_outside_the_error_tree() -> None:
    bases: dict[str, list[str]] = {}
    for path in python_files(PACKAGE, ADAPTERS, *EXAMPLES):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases[node.name] = [ast.unparse(b).split(".")[-1] for b in node.bases]

    def depth(name: str) -> int:
        return 1 + max((depth(b) for b in bases.get(name, []) if b in bases), default=0)

    assert {name: depth(name) for name in bases if depth(name) >= 3} == {}


def test_only_the_command_line_imports_argparse() -> None:
    users = [
        module_name(path) for path in python_files(PACKAGE)
        if any(
            isinstance(node, ast.Import) and any(a.name == "argparse" for a in node.names)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert [m for m in users if not m.startswith("prostop_plugin.cli")] == []


def test_adapters_use_the_public_api_and_the_toolkits_only() -> None:
    """The root, the HL7 toolkit, and the simulator (the demo EHR drives its settings)."""
    assert EXAMPLES, "the example adapter (examples/medicab) is missing"
    reached = set()
    for path in python_files(ADAPTERS, *EXAMPLES):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                reached.add(node.module)
    internal = {m for m in reached if m.startswith("prostop_plugin.")}
    toolkits = ("prostop_plugin.hl7", "prostop_plugin.simulator")
    assert {m for m in internal if not m.startswith(toolkits)} == set()
