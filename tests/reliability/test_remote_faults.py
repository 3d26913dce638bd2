"""Remote faults: work changed behind our back, expired/returned HITs, malformed answers,
throttling bursts and timeouts. Each is handled and recorded; none crashes the poller."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from tests.reliability.crash_harness import check_invariants
from turkops.db.models import Assignment, Event
from turkops.domain import ProviderError
from turkops.marketplace import FaultConfig, RunningMarketplace, admin
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.poll import ReviewPolicy, poll_study
from turkops.wiring import Runtime


def remote_hits(market: RunningMarketplace) -> list[str]:
    return [r[0] for r in market.ctx.store.query("SELECT hit_id FROM hits ORDER BY seq")]


def wait_submitted(market: RunningMarketplace, n: int) -> None:
    deadline = time.monotonic() + 30
    q = "SELECT COUNT(*) FROM assignments WHERE status IN ('Submitted','Approved','Rejected')"
    while market.ctx.store.query(q)[0][0] < n:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def poll_done(rt: Runtime, name: str, policy: ReviewPolicy | None = None) -> None:
    deadline = time.monotonic() + 30
    while not poll_study(rt, name, policy).complete:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def kinds(rt: Runtime) -> list[str]:
    with rt.transaction() as repo:
        return [e.kind for e in repo.session.scalars(select(Event)).all()]


def test_auto_approved_behind_our_back(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    plan = launch_study(mrt, sampled, LaunchOptions(raters=2)).plan
    wait_submitted(market, plan.assignments)
    approved = admin.auto_approve(market.ctx, {})["approved"]
    assert len(approved) == plan.assignments
    poll_done(mrt, sampled)
    with mrt.transaction() as repo:
        statuses = {a.status for a in repo.session.scalars(select(Assignment)).all()}
    assert statuses == {"Approved"}
    assert "assignment.approved" not in kinds(mrt)  # we approved nothing ourselves
    check_invariants(mrt, market, sampled)


def test_expired_and_returned(mrt: Runtime, sampled: str, market: RunningMarketplace) -> None:
    market.pause_workers()
    plan = launch_study(mrt, sampled, LaunchOptions(raters=2)).plan
    first, second = remote_hits(market)[:2]
    taken = admin.accept(market.ctx, {"hit_id": first})
    admin.return_assignment(market.ctx, {"assignment_id": taken["assignment_id"]})
    admin.expire_hit(market.ctx, {"hit_id": second})
    market.resume_workers()
    poll_done(mrt, sampled)
    totals = check_invariants(mrt, market, sampled)
    # The expired HIT got no work; every other HIT got both assignments.
    assert totals["assignments"] == plan.assignments - 2


def test_malformed_answers_are_recorded_not_fatal(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    market.pause_workers()
    launch_study(mrt, sampled, LaunchOptions(raters=1))
    ns = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
    bad = [
        "not xml at all",
        f'<QuestionFormAnswers xmlns="{ns}"><Answer><QuestionIdentifier>consent'
        "</QuestionIdentifier><FreeText>yes</FreeText></Answer></QuestionFormAnswers>",
        f'<QuestionFormAnswers xmlns="{ns}">' + "<Answer><QuestionIdentifier>item_0"
        "</QuestionIdentifier><FreeText>7</FreeText></Answer></QuestionFormAnswers>",
        "<x>" + "A" * 200_000 + "</x>",
    ]
    hits = remote_hits(market)
    for hit_id, answer in zip(hits, bad, strict=False):
        admin.submit_raw(market.ctx, {"hit_id": hit_id, "answer": answer})
    market.resume_workers()
    policy = ReviewPolicy(reject_invalid=True, reject_feedback="Your answer could not be read.")
    poll_done(mrt, sampled, policy)
    with mrt.transaction() as repo:
        rows = repo.session.scalars(select(Assignment)).all()
    invalid = [a for a in rows if not a.valid]
    assert len(invalid) == len(bad)
    assert all(a.status == "Rejected" and a.problem and a.feedback for a in invalid)
    assert all(a.valid and a.status == "Approved" for a in rows if a not in invalid)
    check_invariants(mrt, market, sampled)


def test_throttling_burst_and_service_faults(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    launch_study(mrt, sampled, LaunchOptions(raters=2))
    market.set_faults(FaultConfig(throttle_burst=4, service_fault_every_n=5))
    poll_done(mrt, sampled)
    injected = market.ctx.faults.injected_counts()
    assert sum(injected.values()) > 0
    check_invariants(mrt, market, sampled)


def test_timeouts_fail_cleanly_then_recover(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    launch_study(mrt, sampled, LaunchOptions(raters=2))
    mrt.settings = mrt.settings.model_copy(
        update={"api_timeout_seconds": 0.3, "api_max_attempts": 2}
    )
    mrt.use_gateway(None)
    market.set_faults(FaultConfig(delay_seconds=1.0, operations=frozenset({"ListReviewableHITs"})))
    with pytest.raises(ProviderError, match="ListReviewableHITs|list_reviewable_hits"):
        poll_study(mrt, sampled)
    market.set_faults(FaultConfig())
    poll_done(mrt, sampled)
    check_invariants(mrt, market, sampled)


def test_nul_byte_answer_is_a_recorded_problem(
    mrt: Runtime, sampled: str, market: RunningMarketplace
) -> None:
    """Issue 10 item 12: an answer with a raw NUL byte (PostgreSQL refuses U+0000 in text) is
    an invalid assignment with a problem and an event; every later poll ingests the rest."""
    market.set_faults(FaultConfig(nul_every_n=3))
    plan = launch_study(mrt, sampled, LaunchOptions(raters=2)).plan
    wait_submitted(market, plan.assignments)
    answers = [r[0] for r in market.ctx.store.query("SELECT answer FROM assignments")]
    assert sum("\x00" in a for a in answers) == plan.assignments // 3  # the fault really fired
    poll_done(mrt, sampled)
    with mrt.transaction() as repo:
        rows = repo.session.scalars(select(Assignment)).all()
        events = {
            e.entity: e.detail
            for e in repo.session.scalars(
                select(Event).where(Event.kind == "assignment.ingested")
            )
        }
    assert len(rows) == plan.assignments
    bad = [a for a in rows if a.problem and "NUL" in a.problem]
    assert len(bad) == plan.assignments // 3
    assert all(not a.valid and "\x00" not in (a.answer_raw or "") for a in bad)
    assert all(a.valid for a in rows if a not in bad)
    for a in bad:
        assert "NUL" in str(events[f"assignment:{a.assignment_id}"]["problem"])
    check_invariants(mrt, market, sampled)
