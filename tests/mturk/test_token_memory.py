"""Issue 10 item 10: a row first attempted > 23 h ago, retried in between, is looked up.

MTurk forgets a UniqueRequestToken 24 h after it first saw it. If a retry in between reset the
row's attempt time, the next retry after the token expired would create a second HIT.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from turkops.config import Settings
from turkops.db.models import Hit
from turkops.domain import ProviderError
from turkops.marketplace import FaultConfig, RunningMarketplace
from turkops.services.launch import LaunchOptions, launch_study
from turkops.wiring import Runtime, open_runtime

CREATE = frozenset({"CreateHIT", "CreateHITWithHITType"})


@pytest.fixture
def one_try(db_url: str, tmp_path: Path, market: RunningMarketplace) -> Iterator[Runtime]:
    """The same study database, but a client that gives up after one attempt per call."""
    rt = open_runtime(
        Settings(  # type: ignore[call-arg]
            database_url=db_url,
            data_dir=tmp_path / "data",
            endpoint="local",
            local_url=market.url,
            api_max_attempts=1,
            _env_file=None,
        )
    )
    yield rt
    rt.close()


def _shift_attempts(rt: Runtime, by: timedelta) -> None:
    """Pretend `by` has passed since every recorded attempt."""
    with rt.transaction() as repo:
        for hit in repo.session.scalars(select(Hit).where(Hit.attempted_at.is_not(None))):
            hit.attempted_at = hit.attempted_at - by


def test_first_attempt_time_survives_retries(
    mrt: Runtime, one_try: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    market.pause_workers()
    # T0: CreateHIT runs remotely but its answer is lost.
    market.set_faults(FaultConfig(drop_every_n=1, drop_mode="after", operations=CREATE))
    with pytest.raises(ProviderError):
        launch_study(one_try, sampled, LaunchOptions(raters=2))
    assert market.ctx.store.query("SELECT COUNT(*) FROM hits")[0][0] == 1
    _shift_attempts(mrt, timedelta(hours=15))
    # T0 + 15 h: a retry fails before reaching MTurk (the token is still remembered).
    market.set_faults(FaultConfig(drop_every_n=1, drop_mode="before", operations=CREATE))
    with pytest.raises(ProviderError):
        launch_study(one_try, sampled, LaunchOptions(raters=2))
    # T0 + 25 h: MTurk has forgotten the token; the retry must look the HIT up.
    _shift_attempts(mrt, timedelta(hours=10))
    market.ctx.store.advance_clock(25 * 3600)
    market.set_faults(FaultConfig())
    result = launch_study(mrt, sampled, LaunchOptions(raters=2))
    remote = market.ctx.store.query("SELECT requester_annotation FROM hits")
    tokens = [r[0] for r in remote]
    assert len(tokens) == len(set(tokens)), "one token has two HITs"
    assert len(remote) == result.plan.hits, "more remote HITs than rows"
    assert result.adopted == 1 and result.created == result.plan.hits - 1
    with mrt.transaction() as repo:
        assert None not in repo.session.scalars(select(Hit.hit_id)).all()
