"""Services know no provider by name: they reach MTurk and Prolific only through wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import turkops.services

SERVICES = Path(turkops.services.__file__).parent
PROVIDER_PACKAGES = ("turkops.mturk", "turkops.prolific")


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):  # walks function bodies and TYPE_CHECKING blocks too
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_service_imports_a_provider_package() -> None:
    offenders = [
        f"{path.name}: {name}"
        for path in sorted(SERVICES.glob("*.py"))
        for name in _imported_modules(ast.parse(path.read_text(), str(path)))
        if any(name == pkg or name.startswith(pkg + ".") for pkg in PROVIDER_PACKAGES)
    ]
    assert offenders == []


def test_the_check_sees_provider_imports(tmp_path: Path) -> None:
    source = (
        "from turkops.mturk.gateway import MTurkGateway\n"
        "def f():\n    import turkops.prolific.shapes\n"
        "from turkops import mturk\n"
    )
    names = _imported_modules(ast.parse(source))
    assert "turkops.mturk.gateway" in names
    assert "turkops.prolific.shapes" in names
    assert "turkops.mturk" in names
