"""Architecture rules read from the source (AST), not from a running import: they hold for every module,
including the ones a test run never imports."""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "src" / "ml_connector"


def _module_name(path: Path) -> tuple[str, bool]:
    """Dotted name of a source file, and whether it is a package's __init__."""
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _imported_modules(path: Path) -> Iterator[tuple[str, int]]:
    """Every module an import statement in the file names (top-level, in functions, under TYPE_CHECKING),
    resolved to an absolute dotted name, with its line number. ``from a import b`` yields ``a.b`` too, since
    b may be a module."""
    name, is_package = _module_name(path)
    here = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:
                yield f"{module}.{alias.name}", node.lineno


def _top_unit(module: str) -> str | None:
    """The first-level subpackage (or top-level module) of ml_connector a dotted name belongs to."""
    parts = module.split(".")
    if parts[0] != "ml_connector" or len(parts) < 2:
        return None
    return parts[1]


def _source_files() -> list[Path]:
    return sorted(PACKAGE_ROOT.rglob("*.py"))


def package_import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> imported unit -> where ("module:line"), between the first-level units of ml_connector."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in _source_files():
        name, _ = _module_name(path)
        source = _top_unit(name)
        if source is None or "." not in name:
            continue
        for module, line in _imported_modules(path):
            target = _top_unit(module)
            if target is None or target == source:
                continue
            if (PACKAGE_ROOT / target).is_dir() or (PACKAGE_ROOT / f"{target}.py").is_file():
                where = graph.setdefault(source, {}).setdefault(target, [])
                if f"{name}:{line}" not in where:
                    where.append(f"{name}:{line}")
    return graph


def _cycles(graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    """Strongly connected components with more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(unit: str) -> None:
        index[unit] = low[unit] = len(index)
        stack.append(unit)
        on_stack.add(unit)
        for other in graph.get(unit, {}):
            if other not in index:
                visit(other)
                low[unit] = min(low[unit], low[other])
            elif other in on_stack:
                low[unit] = min(low[unit], index[other])
        if low[unit] == index[unit]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == unit:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for unit in sorted(set(graph) | {t for targets in graph.values() for t in targets}):
        if unit not in index:
            visit(unit)
    return found


def test_no_package_cycle() -> None:
    graph = package_import_graph()
    assert graph, "the import graph came out empty: the walk is broken"
    problems = []
    for component in _cycles(graph):
        edges = [
            f"  {a} -> {b}: {', '.join(graph[a][b])}"
            for a in component
            for b in sorted(graph.get(a, {}))
            if b in component
        ]
        problems.append(f"cycle between {' / '.join(component)}:\n" + "\n".join(edges))
    assert not problems, "\n".join(problems)


def test_cycle_detection_sees_a_cycle() -> None:
    # The checker itself must notice a cycle, or the test above passes vacuously.
    graph = {"a": {"b": ["x:1"]}, "b": {"c": ["y:1"]}, "c": {"a": ["z:1"]}, "d": {"a": ["w:1"]}}
    assert _cycles(graph) == [["a", "b", "c"]]


# The entry points (src/ml_connector/entrypoints/) talk to ``service/`` for everything the connector does.
# Besides it they may use: the configuration loading and its errors and exit codes; logging set-up and
# redaction (logs, redaction); output formatting (csv_cells); the trapping decimal context (domain.money,
# entered for the whole command like logging is set up). And the other process hosts, which are built on
# ``service/`` themselves and so cannot be reached through it without a cycle: the dashboard's server
# (web.server), the scaled-out worker (scale.worker), the embedded demo (demo) and the simulators (sim).
ENTRYPOINT_ALLOWED = (
    "ml_connector.entrypoints",
    "ml_connector.service",
    "ml_connector.config",
    "ml_connector.errors",
    "ml_connector.exitcodes",
    "ml_connector.logs",
    "ml_connector.redaction",
    "ml_connector.csv_cells",
    "ml_connector.domain.money",
    "ml_connector.web.server",
    "ml_connector.scale.worker",
    "ml_connector.demo",
    "ml_connector.sim",
)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    """``module`` is one of ``prefixes`` or inside one of them (dotted names)."""
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def _allowed_for_entrypoints(module: str) -> bool:
    return _within(module, ENTRYPOINT_ALLOWED)


def _disallowed(modules: list[str]) -> list[str]:
    """The names one import statement brings in that entry points may not use. ``from a import b`` names
    ``a`` and ``a.b``: ``a.b`` is fine when ``a`` is allowed, ``a`` when one of its named modules is."""
    return [
        m
        for m in modules
        if m != "ml_connector"
        and not _allowed_for_entrypoints(m)
        and not _allowed_for_entrypoints(m.rsplit(".", 1)[0])
        and not any(o.startswith(m + ".") and _allowed_for_entrypoints(o) for o in modules)
    ]


def test_entrypoint_rule_reads_from_imports() -> None:
    assert _disallowed(["ml_connector", "ml_connector.service"]) == []
    assert _disallowed(["ml_connector.web", "ml_connector.web.server"]) == []
    assert _disallowed(["ml_connector.web", "ml_connector.web.accounts"]) == [
        "ml_connector.web",
        "ml_connector.web.accounts",
    ]
    assert _disallowed(["ml_connector.scale", "ml_connector.scale.worker", "ml_connector.scale.tasks"]) == [
        "ml_connector.scale.tasks"
    ]
    assert _disallowed(["ml_connector", "ml_connector.pipeline"]) == ["ml_connector.pipeline"]


def test_entrypoints_import_only_allowed_packages() -> None:
    entrypoints = sorted((PACKAGE_ROOT / "entrypoints").rglob("*.py"))
    assert entrypoints, "no entry point modules found"
    found = []
    for path in entrypoints:
        name, _ = _module_name(path)
        imports: dict[int, list[str]] = {}
        for module, line in _imported_modules(path):
            if module == "ml_connector" or module.startswith("ml_connector."):
                imports.setdefault(line, []).append(module)
        found += [
            f"{name}:{line}: {', '.join(_disallowed(ms))}"
            for line, ms in sorted(imports.items())
            if _disallowed(ms)
        ]
    assert not found, "entry points reaching around service/:\n" + "\n".join(found)


# The pipeline reaches Stampli and Visma only through its ports (pipeline/ports.py); the adapters are
# built by ml_connector.wiring and handed in through Runtime.connectors.
ADAPTERS = "ml_connector.adapters"


def _is_adapter(module: str) -> bool:
    return _within(module, (ADAPTERS,))


def _pipeline_imports(banned: Callable[[str], bool]) -> list[str]:
    """Every import of a ``banned`` module under pipeline/, as "module:line: imported"."""
    modules = sorted((PACKAGE_ROOT / "pipeline").rglob("*.py"))
    assert len(modules) > 10  # the walk found the pipeline
    return [
        f"{_module_name(path)[0]}:{line}: {module}"
        for path in modules
        for module, line in _imported_modules(path)
        if banned(module)
    ]


def test_pipeline_imports_no_adapter() -> None:
    offending = _pipeline_imports(_is_adapter)
    why = "the pipeline imports an adapter (use pipeline/ports.py):\n"
    assert offending == [], why + "\n".join(offending)


def test_pipeline_imports_no_sqlalchemy() -> None:
    """The pipeline reads the ledger through pipeline/ports.py::LedgerPort, in domain types
    (StoredDocument), never database rows."""
    offending = _pipeline_imports(lambda module: module == "sqlalchemy" or module.startswith("sqlalchemy."))
    assert offending == [], "the pipeline imports sqlalchemy:\n" + "\n".join(offending)


# The ledger reaches the pipeline only as pipeline/ports.py::LedgerPort (Runtime.ledger): no concrete
# ledger class is imported under pipeline/. Only the ledger's pure modules may be (states, moves, claims,
# clock: no database): none of them may bring SQLAlchemy in, however indirectly.
CONCRETE_LEDGER = (
    "ml_connector.ledger.store",
    "ml_connector.ledger.vendor_store",
    "ml_connector.ledger.identity",
    "ml_connector.ledger.engine",
)


def _is_concrete_ledger(module: str) -> bool:
    return _within(module, CONCRETE_LEDGER)


def _source_of(module: str) -> Path | None:
    """The file of an ml_connector module (None: not a module, e.g. a name imported from one)."""
    base = PACKAGE_ROOT.parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _sqlalchemy_path(module: str) -> list[str] | None:
    """How importing ``module`` brings in sqlalchemy (the chain of modules, ending in it); None: it does
    not. Follows every ml_connector module imported on the way, their parent packages included."""
    came_from: dict[str, str | None] = {module: None}
    todo = [module]
    while todo:
        current = todo.pop()
        path = _source_of(current)
        if path is None:
            continue
        parts = current.split(".")
        parents = [".".join(parts[:n]) for n in range(1, len(parts))]
        for imported in [*parents, *(m for m, _ in _imported_modules(path))]:
            if imported == "sqlalchemy" or imported.startswith("sqlalchemy."):
                chain = [imported, current]
                while (before := came_from[chain[-1]]) is not None:
                    chain.append(before)
                return chain[::-1]
            if imported.startswith("ml_connector") and imported not in came_from:
                came_from[imported] = current
                todo.append(imported)
    return None


def test_pipeline_imports_no_concrete_ledger() -> None:
    offending = _pipeline_imports(_is_concrete_ledger)
    why = "the pipeline imports a concrete ledger module (use pipeline/ports.py::LedgerPort):\n"
    assert offending == [], why + "\n".join(offending)


def test_the_ledger_modules_the_pipeline_imports_bring_no_sqlalchemy() -> None:
    """Of the ledger, the pipeline imports only pure modules (states, moves, claims, clock): none of them
    reaches sqlalchemy, however indirectly. (The walk starts at the ledger: the configuration's own
    vault backend is a database too, and not the ledger's business.)"""
    ledger_imports = _pipeline_imports(lambda module: module.startswith("ml_connector.ledger"))
    assert ledger_imports, "the pipeline imports no ledger module at all: the walk is broken"
    found = []
    for entry in ledger_imports:
        chain = _sqlalchemy_path(entry.rsplit(": ", 1)[1])
        if chain is not None:
            found.append(f"{entry}: " + " -> ".join(chain))
    why = "the pipeline imports a ledger module that brings sqlalchemy in (use LedgerPort):\n"
    assert found == [], why + "\n".join(found)


def test_the_ledger_walk_sees_sqlalchemy_behind_a_concrete_ledger() -> None:
    """The two checks above are not vacuous: the concrete ledger is seen, directly and through imports."""
    assert _is_concrete_ledger("ml_connector.ledger.store.Ledger")
    assert not _is_concrete_ledger("ml_connector.ledger.states")
    chain = _sqlalchemy_path("ml_connector.ledger.store")
    assert (
        chain is not None and chain[0] == "ml_connector.ledger.store" and chain[-1].startswith("sqlalchemy")
    )
    for pure in ("ml_connector.ledger.states", "ml_connector.ledger.moves", "ml_connector.ledger.claims"):
        assert _sqlalchemy_path(pure) is None, pure


def test_the_adapter_walk_sees_every_spelling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above is not vacuous: each spelling of an adapter import is caught."""
    package = tmp_path / "ml_connector"
    (package / "pipeline").mkdir(parents=True)
    probe = package / "pipeline" / "probe.py"
    probe.write_text(
        "import ml_connector.adapters.visma.client\n"
        "from ml_connector.adapters.sftp.source import SftpSource\n"
        "from ml_connector import adapters\n"
        "from ..adapters.visma import models\n"
        "def f():\n    from ml_connector.adapters.visma import wire\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE_ROOT", package)
    lines = {line for module, line in _imported_modules(probe) if _is_adapter(module)}
    assert lines == {1, 2, 3, 4, 6}


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    for path in sorted((PACKAGE_ROOT / "domain").rglob("*.py")):
        for module, line in _imported_modules(path):
            inside = module == "ml_connector.domain" or module.startswith("ml_connector.domain.")
            assert not module.startswith("ml_connector") or inside, f"{path.name}:{line} imports {module}"
