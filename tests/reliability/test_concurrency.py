"""Two pollers on the same study at once give the same result as one (SQLite and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.reliability.crash_harness import check_invariants, subprocess_env
from turkops.marketplace import RunningMarketplace
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime


def test_two_pollers(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    result = launch_study(mrt, sampled, LaunchOptions(raters=3))
    expected = 3 * result.plan.hits
    deadline = time.monotonic() + 30
    while (
        market.ctx.store.query("SELECT COUNT(*) FROM assignments WHERE status='Submitted'")[0][0]
        < expected
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    env = subprocess_env(mrt, market)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "turkops", "poll", sampled],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode in (0, 10), err.decode()[-2000:]
    final = poll_study(mrt, sampled)  # whatever one poller skipped, the next pass finishes
    assert final.complete
    totals = check_invariants(mrt, market, sampled)
    assert totals["assignments"] == expected
