"""launch -> poll -> approve over boto3 + HTTP against the local marketplace, on both databases."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from turkops.db.models import Assignment, Event, Hit, HitItem, Rating
from turkops.domain import BudgetError, InputError
from turkops.marketplace import (
    FaultConfig,
    MarketplaceConfig,
    RunningMarketplace,
    start_marketplace,
)
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import PollResult, ReviewPolicy, poll_study
from turkops.services.status import study_status
from turkops.wiring import Runtime


def poll_until_complete(rt: Runtime, name: str, timeout: float = 30) -> list[PollResult]:
    passes = []
    deadline = time.monotonic() + timeout
    while True:
        passes.append(poll_study(rt, name))
        if passes[-1].complete:
            return passes
        assert time.monotonic() < deadline, passes[-1]
        time.sleep(0.1)


def counts(rt: Runtime) -> dict[str, int]:
    with rt.transaction() as repo:
        q = repo.session.scalar
        return {
            "hits": q(select(func.count(Hit.id))) or 0,
            "created": q(select(func.count(Hit.id)).where(Hit.hit_id.is_not(None))) or 0,
            "assignments": q(select(func.count(Assignment.id))) or 0,
            "ratings": q(select(func.count(Rating.id))) or 0,
            "items": q(select(func.count(HitItem.id))) or 0,
            "approved": q(select(func.count(Assignment.id)).where(Assignment.status == "Approved"))
            or 0,
        }


def test_full_cycle(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    result = launch_study(mrt, sampled, LaunchOptions(raters=3, images_per_hit=15))
    assert result.created == result.plan.hits > 0
    passes = poll_until_complete(mrt, sampled)
    c = counts(mrt)
    assert c["created"] == c["hits"] == result.plan.hits
    assert c["assignments"] == c["approved"] == 3 * c["hits"]
    assert c["ratings"] == 3 * c["items"]
    # Error-free workers answer from the truth: every rating equals the truth.
    from tests.market_fixtures import truth_for

    truth = truth_for(30)
    with mrt.transaction() as repo:
        from turkops.db.models import Input, Sample

        rows = repo.session.execute(
            select(Input.image, Hit.concept, Rating.value)
            .join(HitItem, Rating.hit_item_id == HitItem.id)
            .join(Hit, HitItem.hit_row_id == Hit.id)
            .join(Sample, HitItem.sample_id == Sample.id)
            .join(Input, Sample.input_id == Input.id)
        ).all()
        assert rows and all(int(truth[(img, concept)]) == v for img, concept, v in rows)
        paid = repo.money_paid(repo.study(sampled).id)
    assert paid == Decimal("0.06") * c["assignments"]
    # A second pass finds nothing new and asks for almost nothing.
    before = market.stats()
    again = poll_study(mrt, sampled)
    assert (again.ingested, again.approved, again.hits_changed) == (0, 0, 0)
    assert counts(mrt) == c
    calls = {k: v - before.get(k, 0) for k, v in market.stats().items()}
    assert sum(v for k, v in calls.items() if k != "total") <= 2, calls
    assert sum(p.ingested for p in passes) == c["assignments"]
    status = study_status(mrt, sampled)
    assert status.committed == Decimal("0.00") and status.paid == paid


def test_launch_is_resumable_and_never_duplicates(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    # The connection drops after every 2nd CreateHIT has run remotely: the client cannot know
    # whether the HIT exists. botocore retries with the same UniqueRequestToken, the marketplace
    # answers "already processed", and the launcher adopts the existing HIT.
    market.pause_workers()
    market.set_faults(
        FaultConfig(
            drop_every_n=2, drop_mode="after", operations=frozenset({"CreateHITWithHITType"})
        )
    )
    result = launch_study(mrt, sampled, LaunchOptions(raters=2))
    market.set_faults(FaultConfig())
    assert result.adopted > 0 and result.created + result.adopted == result.plan.hits
    remote_hits = market.ctx.store.query("SELECT COUNT(*) FROM hits")[0][0]
    assert remote_hits == result.plan.hits
    again = launch_study(mrt, sampled, LaunchOptions(raters=2))
    assert (again.created, again.adopted, again.already) == (0, 0, result.plan.hits)
    with mrt.transaction() as repo:
        kinds = [e.kind for e in repo.session.scalars(select(Event)).all()]
    assert kinds.count("hit.adopted") == result.adopted


def test_throttling_is_absorbed(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    market.set_faults(FaultConfig(throttle_every_n=10, service_fault_every_n=17))
    result = launch_study(mrt, sampled, LaunchOptions(raters=2))
    poll_until_complete(mrt, sampled)
    c = counts(mrt)
    assert c["created"] == result.plan.hits and c["approved"] == 2 * result.plan.hits
    assert market.ctx.faults.injected_counts().get("throttle", 0) > 0


def test_budget_refusals(mrt: Runtime, sampled: str) -> None:
    with pytest.raises(BudgetError, match="more than --max-cost"):
        launch_study(mrt, sampled, LaunchOptions(max_cost=Decimal("0.10")))
    assert counts(mrt)["hits"] == 0
    plan = launch_study(mrt, sampled, LaunchOptions(dry_run=True)).plan
    assert plan.total > 0 and counts(mrt)["hits"] == 0


def test_balance_refusal(mrt: Runtime, sampled: str, tmp_path: Path) -> None:
    poor = MarketplaceConfig(db_path=tmp_path / "poor.sqlite", initial_balance=Decimal("0.05"))
    with start_marketplace(poor) as m:
        mrt.settings = mrt.settings.model_copy(update={"local_url": m.url})
        with pytest.raises(BudgetError, match="account balance is \\$0.05"):
            launch_study(mrt, sampled, LaunchOptions())
    assert counts(mrt)["hits"] == 0


def test_rejection_needs_feedback() -> None:
    with pytest.raises(InputError, match="feedback"):
        ReviewPolicy(reject_invalid=True)


def test_poll_before_launch_is_clear(mrt: Runtime, sampled: str) -> None:
    with pytest.raises(InputError, match="has not been launched"):
        poll_study(mrt, sampled)
