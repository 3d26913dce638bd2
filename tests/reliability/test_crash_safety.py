"""Crash safety: launch and poll killed with SIGKILL at random points, then restarted."""

from __future__ import annotations

import pytest

from tests.reliability.crash_harness import CrashLog, crash_cycle
from turkops.marketplace import FaultConfig, RunningMarketplace
from turkops.wiring import Runtime


@pytest.mark.parametrize("seed", [11, 12])
def test_kill_and_restart(
    mrt: Runtime, sampled: str, market: RunningMarketplace, seed: int
) -> None:
    # Slow calls a little so kills land inside the launch and poll loops, not only at start-up.
    market.set_faults(FaultConfig(delay_seconds=0.05))
    log = CrashLog()
    totals = crash_cycle(mrt, market, sampled, seed, log)
    assert totals["assignments"] == 2 * totals["hits"] > 0
    print(f"crash points: {log.kills} kills in {log.runs} runs {log.by_phase}")
    assert log.kills >= 2, log
