"""turkops.stats stays a pure numpy/scipy package: no I/O stack, no other turkops package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import turkops.stats

STATS = Path(turkops.stats.__file__).parent
ALLOWED_THIRD_PARTY = {"numpy", "scipy"}
FORBIDDEN = ("boto3", "botocore", "sqlalchemy", "torch", "open_clip", "typer", "rich", "pydantic")


def _modules() -> list[Path]:
    return sorted(STATS.glob("*.py"))


def test_every_import_is_stdlib_numpy_scipy_or_turkops_stats() -> None:
    bad = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative imports stay inside turkops.stats
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                ok = (
                    top in sys.stdlib_module_names
                    or top in ALLOWED_THIRD_PARTY
                    or name == "turkops.stats"
                    or name.startswith("turkops.stats.")
                )
                if not ok:
                    bad.append(f"{path.name}: {name}")
    assert not bad, bad


def test_importing_stats_loads_no_forbidden_package() -> None:
    names = [f"turkops.stats.{p.stem}" for p in _modules() if p.stem != "__init__"]
    code = (
        "import importlib, json, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    leaked = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    other_turkops = [
        m for m in loaded if m.startswith("turkops.") and not m.startswith("turkops.stats")
    ]
    assert not leaked, leaked
    assert not other_turkops, other_turkops
    assert len(names) >= 6
