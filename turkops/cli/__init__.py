"""Thin command-line shell: each command parses options, calls one service and prints.

Command groups live in sibling modules; importing them registers their commands on `app`.
"""

from __future__ import annotations

from turkops.cli import (  # noqa: F401  (imported for their side effect: registration)
    activations,
    aggregate,
    concepts,
    crowd,
    marketplace,
    results,
    serve,
    stats,
    study,
)
from turkops.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
