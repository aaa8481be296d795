"""Dependencies point inward: the pipeline reaches Stampli and Visma only through its ports."""

from __future__ import annotations

import ast
from pathlib import Path

import ml_connector

PACKAGE = Path(ml_connector.__file__).parent
ADAPTERS = "ml_connector.adapters"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports (``from x import y`` also as ``x.y``: y may be a module)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def _is_adapter(module: str) -> bool:
    return module == ADAPTERS or module.startswith(ADAPTERS + ".")


def test_pipeline_imports_no_adapter() -> None:
    modules = sorted((PACKAGE / "pipeline").rglob("*.py"))
    assert len(modules) > 10  # the walk found the pipeline
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {module}"
        for path in modules
        for line, module in _imports(path)
        if _is_adapter(module) or module.startswith("..adapters")
    ]
    why = "the pipeline imports an adapter (use pipeline/ports.py):\n"
    assert offending == [], why + "\n".join(offending)


def test_the_walk_sees_an_adapter_import(tmp_path: Path) -> None:
    """The check above is not vacuous: each spelling of an adapter import is caught."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import ml_connector.adapters.visma.client\n"
        "from ml_connector.adapters.sftp.source import SftpSource\n"
        "from ml_connector import adapters\n"
        "def f():\n    from ml_connector.adapters.visma import wire\n",
        encoding="utf-8",
    )
    assert sum(1 for _, m in _imports(probe) if _is_adapter(m)) >= 4


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    for path in sorted((PACKAGE / "domain").rglob("*.py")):
        for line, module in _imports(path):
            top = module.split(".")[0]
            assert top != "ml_connector" or module.startswith("ml_connector.domain"), (
                f"{path.name}:{line} imports {module}"
            )
