"""Issue 10 item 20: two `turkops monitor`s at once, and the marketplace restarted mid-poll.

Both end with the crash harness's invariants (nothing lost, nothing twice, money equal to the
marketplace's ledger, every status change in the event log).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

from tests.market_fixtures import truth_for
from tests.reliability.crash_harness import check_invariants, subprocess_env
from turkops.config import Settings
from turkops.domain import ProviderError
from turkops.marketplace import (
    FaultConfig,
    MarketplaceConfig,
    RunningMarketplace,
    start_marketplace,
)
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import poll_study
from turkops.wiring import Runtime, open_runtime


def test_two_monitors(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    market.pause_workers()
    result = launch_study(mrt, sampled, LaunchOptions(raters=2))
    env = subprocess_env(mrt, market)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "turkops", "monitor", sampled, "--every", "1s"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 60
    while market.stats().get("ListReviewableHITs", 0) < 2:  # both are polling
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.1)
    market.resume_workers()  # work arrives while both monitors poll
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]  # 0 = study complete
        assert b"Traceback" not in err
    totals = check_invariants(mrt, market, sampled)
    assert totals["assignments"] == 2 * result.plan.hits


def test_marketplace_restart_mid_poll(db_url: str, tmp_path: Path) -> None:
    from tests.conftest import write_study_files
    from turkops.domain import SamplingStrategy
    from turkops.services.sampling import sample_study
    from turkops.services.studies import create_study

    config = MarketplaceConfig(
        db_path=tmp_path / "market.sqlite",
        n_workers=12,
        error_rate=0.0,
        spammer_share=0.0,
        seed=1,
        truth=truth_for(30),
    )
    market = start_marketplace(config)
    port = int(market.url.rsplit(":", 1)[1])
    rt = open_runtime(
        Settings(  # type: ignore[call-arg]
            database_url=db_url,
            data_dir=tmp_path / "data",
            endpoint="local",
            local_url=market.url,
            api_max_attempts=2,
            _env_file=None,
        )
    )
    try:
        files = write_study_files(tmp_path / "files")
        create_study(
            rt, "s", files["inputs"], files["activations"], files["explanations"], files["scores"]
        )
        sample_study(rt, "s", 20, SamplingStrategy.MG_IS, 0.2, seed=3)
        plan = launch_study(rt, "s", LaunchOptions(raters=2)).plan
        deadline = time.monotonic() + 30
        q = "SELECT COUNT(*) FROM assignments WHERE status='Submitted'"
        while market.ctx.store.query(q)[0][0] < plan.assignments:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # Slow every call so the stop lands inside the poll's review loop.
        market.set_faults(FaultConfig(delay_seconds=0.2))
        env = subprocess_env(rt, market)
        env["TURKOPS_API_MAX_ATTEMPTS"] = "2"
        proc = subprocess.Popen(
            [sys.executable, "-m", "turkops", "poll", "s"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while market.stats().get("ApproveAssignment", 0) < 2:  # mid-review
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        market.stop()
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == ProviderError.exit_code, err.decode()[-2000:]
        assert b"Traceback" not in err
        market = start_marketplace(dataclasses.replace(config, port=port))
        deadline = time.monotonic() + 60
        while not poll_study(rt, "s").complete:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        totals = check_invariants(rt, market, "s")
        assert totals["assignments"] == plan.assignments
    finally:
        rt.close()
        market.stop()
