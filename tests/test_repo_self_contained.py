"""The repository needs nothing beside it: no file reads ../shared, the test data ships inside.

A fresh clone with nothing next to it must pass the README's test command (issue 10, item 1).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CROWD = ROOT / "tests" / "data" / "crowd"
# Spellings a path outside the clone could take in code, scripts or docs.
OUTSIDE = re.compile(r"\.\./shared|shared/data|[\"']shared[\"']\s*\)?\s*/")


def test_real_crowd_data_ships_in_the_repository() -> None:
    for name in ("rte.txt", "rte_truth.txt", "bluebirds_answer.csv", "bluebirds_truth.csv"):
        assert (CROWD / name).stat().st_size > 0, name
    readme = (CROWD / "README.md").read_text(encoding="utf-8")
    assert "Snow" in readme and "Welinder" in readme  # names the public sources


def test_no_tracked_file_reaches_outside_the_clone() -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    offenders = []
    for rel in files:
        path = ROOT / rel
        if path.suffix not in {".py", ".sh", ".md", ".toml", ".ini", ".cfg", ".j2", ""}:
            continue
        if rel == "tests/test_repo_self_contained.py" or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [f"{rel}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    assert offenders == []
