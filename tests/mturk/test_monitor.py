"""`turkops monitor`: APScheduler passes until complete; a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from tests.reliability.crash_harness import subprocess_env
from turkops.marketplace import RunningMarketplace
from turkops.scheduler import monitor_study
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import PollResult, ReviewPolicy
from turkops.wiring import Runtime


def test_monitor_runs_until_complete(mrt: Runtime, sampled: str) -> None:
    launch_study(mrt, sampled, LaunchOptions(raters=2))
    passes: list[PollResult] = []
    last = monitor_study(mrt, sampled, 0.2, ReviewPolicy(), on_pass=passes.append,
                         max_passes=200)
    assert last is not None and last.complete
    assert passes and passes[-1] is last
    assert sum(p.ingested for p in passes) == 2 * last.hits_total


def test_monitor_stops_cleanly_on_sigterm(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    market.pause_workers()  # the study cannot complete, so only SIGTERM ends the monitor
    launch_study(mrt, sampled, LaunchOptions(raters=2))
    proc = subprocess.Popen(
        [sys.executable, "-m", "turkops", "monitor", sampled, "--every", "1s"],
        env=subprocess_env(mrt, market), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while market.stats().get("ListReviewableHITs", 0) < 2:  # at least two passes ran
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 10, err.decode()  # "still running", not a crash
    assert b"Traceback" not in err
    assert out.decode().count("HITs done") >= 2
