"""Poll cost is proportional to what changed (small version of scripts/bench_launch_poll.py;
the 12,000-HIT run is `pytest -m soak` or the script itself, figures in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "bench_launch_poll", Path(__file__).resolve().parents[2] / "scripts" / "bench_launch_poll.py"
)
assert _SPEC and _SPEC.loader
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_launch_poll"] = bench  # dataclasses look their module up there
_SPEC.loader.exec_module(bench)


def _check(figures: bench.LoadFigures, raters: int) -> None:  # type: ignore[name-defined]
    # Nothing changed: one ListReviewableHITs page, no per-HIT calls.
    assert figures.calls_pass_nothing_changed == 1
    # Changed HITs: list page(s) + per HIT one ListAssignmentsForHIT, `raters` approvals and one
    # UpdateHITReviewStatus.
    pages = 1 + figures.hits_changed_1pct // 100
    assert figures.calls_pass_1pct_changed == pages + figures.hits_changed_1pct * (raters + 2)


def test_poll_calls_proportional_to_changes(tmp_path: Path, db_url: str) -> None:
    figures = bench.run(
        pairs=16, per_pair=50, raters=3, n_inputs=500, database_url=db_url, workdir=tmp_path
    )
    assert figures.hits > 40 and figures.hits_changed_1pct >= 1
    _check(figures, 3)


@pytest.mark.soak
def test_12000_hits(tmp_path: Path) -> None:
    figures = bench.run(
        pairs=1000, per_pair=180, raters=3, n_inputs=50_000, database_url=None, workdir=tmp_path
    )
    assert figures.hits >= 10_000
    _check(figures, 3)
    assert figures.max_rss_mb_after_poll - figures.max_rss_mb_before_poll < 200
