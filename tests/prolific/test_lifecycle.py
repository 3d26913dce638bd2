"""launch -> poll on Prolific through the provider interface, over HTTP to the simulator,
on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tests.conftest import write_study_files
from tests.prolific.conftest import TOKEN
from tests.prolific.taskserver_standin import run_session
from turkops.config import Settings
from turkops.db.models import Assignment, BlockedWorker, Hit, HitType, TaskLease
from turkops.domain import BudgetError, ConfigError, InputError, SamplingStrategy
from turkops.prolific_sim import RunningSimulator
from turkops.services.launch import LaunchOptions, launch_study
from turkops.services.leases import LeaseStatus, SessionStatus
from turkops.services.poll import poll_study
from turkops.services.publish import SessionOptions
from turkops.services.sampling import sample_study
from turkops.services.status import study_status
from turkops.services.studies import create_study
from turkops.wiring import Runtime, open_runtime

PER_SESSION = 3


def prolific_settings(
    db_url: str, tmp_path: Path, sim: RunningSimulator, **extra: object
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=db_url,
        data_dir=tmp_path / "data",
        provider="prolific",
        prolific_url=sim.url,
        prolific_token=SecretStr(TOKEN),
        prolific_workspace="ws1",
        public_url="https://tasks.example.org",
        _env_file=None,
        **extra,
    )


@pytest.fixture
def prt(db_url: str, tmp_path: Path, sim: RunningSimulator) -> Iterator[Runtime]:
    rt = open_runtime(prolific_settings(db_url, tmp_path, sim))
    files = write_study_files(tmp_path / "files")
    create_study(
        rt, "s", files["inputs"], files["activations"], files["explanations"], files["scores"]
    )
    sample_study(rt, "s", 20, SamplingStrategy.MG_IS, 0.2, seed=3)
    yield rt
    rt.close()


def options(**changes: object) -> LaunchOptions:
    base: dict[str, object] = {
        "raters": 2,
        "sessions": SessionOptions(tasks_per_session=PER_SESSION, check_rate=0.0),
    }
    base.update(changes)
    return LaunchOptions(**base)  # type: ignore[arg-type]


def study_row(rt: Runtime) -> tuple[int, str, dict[str, object]]:
    with rt.transaction() as repo:
        study = repo.study("s")
        ht = repo.session.scalar(select(HitType).where(HitType.study_id == study.id))
        assert ht is not None and study.provider_ref is not None
        return study.id, study.provider_ref, dict(ht.params)


def test_launch_publishes_one_study_once(prt: Runtime, sim: RunningSimulator) -> None:
    dry = launch_study(prt, "s", options(dry_run=True))
    assert dry.sessions is not None and dry.sessions.plan.places > 0 and not sim.state.studies
    result = launch_study(prt, "s", options())
    assert result.sessions is not None and result.sessions.published
    plan = result.sessions.plan
    (remote,) = sim.state.studies.values()
    assert remote["status"] == "ACTIVE"
    assert remote["total_available_places"] == plan.places
    assert remote["reward"] == plan.reward_cents
    assert remote["external_study_url"].startswith("https://tasks.example.org/p/s?PROLIFIC_PID=")
    study_id, ref, params = study_row(prt)
    assert ref == remote["id"]
    assert {c["code"] for c in remote["completion_codes"]} == {
        params["completion_code"],
        params["failed_check_code"],
    }
    assert params["tasks_per_session"] == PER_SESSION
    with prt.transaction() as repo:
        assert repo.study("s").provider == "prolific"
        hits = repo.session.scalars(select(Hit).where(Hit.study_id == study_id)).all()
        assert hits and all(h.hit_id == f"T{study_id}-{h.task_index}" for h in hits)
        assert {h.status for h in hits} == {"Assignable"}
    again = launch_study(prt, "s", options())
    assert again.sessions is not None and not again.sessions.published
    assert len(sim.state.studies) == 1


def test_a_crash_after_publishing_never_publishes_twice(
    prt: Runtime, sim: RunningSimulator
) -> None:
    """The draft exists on Prolific but the id never reached our database: the re-run finds
    it by its internal name."""
    launch_study(prt, "s", options())
    with prt.transaction() as repo:
        repo.study("s").provider_ref = None
    launch_study(prt, "s", options())
    assert len(sim.state.studies) == 1
    assert study_row(prt)[1] == next(iter(sim.state.studies))


def test_a_study_cannot_switch_provider(
    prt: Runtime, db_url: str, tmp_path: Path, sim: RunningSimulator
) -> None:
    launch_study(prt, "s", options())
    mturk = open_runtime(
        prolific_settings(db_url, tmp_path, sim).model_copy(update={"provider": "mturk"})
    )
    try:
        with pytest.raises(ConfigError, match="cannot switch provider"):
            launch_study(mturk, "s", options())
    finally:
        mturk.close()


def test_refuses_below_the_minimum_rate_and_over_budget(
    prt: Runtime, sim: RunningSimulator
) -> None:
    low = SessionOptions(tasks_per_session=PER_SESSION, hourly_rate=Decimal("7.99"))
    with pytest.raises(InputError, match="minimum"):
        launch_study(prt, "s", options(sessions=low))
    sim.state.balance_cents = 1
    with pytest.raises(BudgetError, match="balance"):
        launch_study(prt, "s", options())
    assert not sim.state.studies


def finish(sim: RunningSimulator, ref: str, pid: str, status: str, code: str | None) -> str:
    sub = sim.state.start_submission(ref, pid)
    assert sub is not None
    sim.state.finish_submission(sub["id"], status, code)
    return str(sub["id"])


def test_poll_approves_rejects_releases_and_completes(prt: Runtime, sim: RunningSimulator) -> None:
    launch_study(prt, "s", options())
    study_id, ref, params = study_row(prt)
    code, failed = str(params["completion_code"]), str(params["failed_check_code"])
    # A failed-check session with two failures: rejected, excluded, blocked.
    run_session(
        prt,
        study_id,
        "p-bad",
        PER_SESSION,
        status=SessionStatus.FAILED_CHECK,
        code=failed,
        checks_failed=2,
    )
    bad = finish(sim, ref, "p-bad", "AWAITING REVIEW", failed)
    # One failure: approved (Prolific's policy) but excluded.
    run_session(
        prt,
        study_id,
        "p-once",
        PER_SESSION,
        status=SessionStatus.FAILED_CHECK,
        code=failed,
        checks_failed=1,
    )
    finish(sim, ref, "p-once", "AWAITING REVIEW", failed)
    # A participant who returned mid-session: its open lease goes back to the pool.
    run_session(prt, study_id, "p-gone", PER_SESSION, submit=1, status=SessionStatus.ACTIVE)
    finish(sim, ref, "p-gone", "RETURNED", None)
    first = poll_study(prt, "s")
    assert (first.approved, first.rejected) == (1, 1) and not first.complete
    assert first.changed_behind_our_back == 0
    assert sim.state.submissions[bad]["status"] == "REJECTED"
    assert sim.state.submissions[bad]["rejection_category"] == "FAILED_CHECK"
    with prt.transaction() as repo:
        blocked = repo.session.scalars(select(BlockedWorker.worker_id)).all()
        assert list(blocked) == ["p-bad"]
        invalid = repo.session.scalars(
            select(Assignment.problem).where(Assignment.valid.is_(False))
        ).all()
        assert sorted(invalid) == ["failed attention check"] * (2 * PER_SESSION) + ["returned"]
        leased = repo.session.scalar(
            select(func.count(TaskLease.id)).where(TaskLease.status == LeaseStatus.LEASED)
        )
        assert leased == 0
    # Honest participants finish every remaining slot.
    n = 0
    while True:
        with prt.transaction() as repo:
            hits = repo.count(Hit, study_id)
        s = run_session(prt, study_id, f"p{n}", PER_SESSION, code=code)
        if s.tasks_done == 0:
            break
        finish(sim, ref, f"p{n}", "AWAITING REVIEW", code)  # fails if no place is left
        poll_study(prt, "s")  # tops places up when the last sessions come out short
        n += 1
    last = poll_study(prt, "s")
    assert last.complete and last.hits_done == last.hits_total == hits
    assert sim.state.studies[ref]["status"] in ("COMPLETED", "AWAITING REVIEW")
    with prt.transaction() as repo:
        valid_approved = repo.session.scalar(
            select(func.count(Assignment.id)).where(
                Assignment.status == "Approved", Assignment.valid.is_(True)
            )
        )
        assert valid_approved == 2 * hits  # every task rated by exactly its 2 raters
        assert repo.study("s").status == "complete"
    status = study_status(prt, "s")
    with prt.transaction() as repo:
        approved = repo.session.scalar(
            select(func.count(Assignment.id)).where(Assignment.status == "Approved")
        )
    assert status.paid == approved * Decimal(str(params["unit_cost"])) > 0
    # collect uses exactly the approved, valid ratings: 2 raters x every image of every task.
    from turkops.db.models import HitItem
    from turkops.services.collect import CollectOptions, collect_study
    from turkops.services.ratings import load_ratings

    with prt.transaction() as repo:
        items = repo.session.scalar(select(func.count(HitItem.id)))
        _, table = load_ratings(repo, study_id)
    assert len(table.values) == 2 * items
    collected = collect_study(prt, "s", CollectOptions(n_boot=50))
    assert collected.completeness["share"] == 1.0
    # A second pass decides nothing again.
    again = poll_study(prt, "s")
    assert (again.approved, again.rejected, again.changed_behind_our_back) == (0, 0, 0)
    assert again.complete


def test_blocked_participants_are_filtered_from_later_studies(
    prt: Runtime, sim: RunningSimulator, tmp_path: Path
) -> None:
    with prt.transaction() as repo:
        repo.session.add(BlockedWorker(provider="prolific", worker_id="p-spam", reason="spam"))
    launch_study(prt, "s", options())
    (remote,) = sim.state.studies.values()
    assert remote["filters"] == [{"filter_id": "custom_blocklist", "selected_values": ["p-spam"]}]


def test_test_mode_publishes_with_test_study(prt: Runtime, sim: RunningSimulator) -> None:
    launch_study(prt, "s", options(sessions=SessionOptions(tasks_per_session=3, test=True)))
    paths = [p for _, p, _ in sim.state.requests]
    assert any(p.endswith("/test-study/") for p in paths)
    assert not any(p.endswith("/transition/") for p in paths)
    (remote,) = sim.state.studies.values()
    assert remote["is_test"] is True


def test_a_bonus_is_paid_once_even_if_asked_twice_or_interrupted(
    prt: Runtime, sim: RunningSimulator
) -> None:
    from turkops.db.models import Bonus
    from turkops.domain import ProviderError
    from turkops.services.bonuses import BonusStatus, pay_bonus

    launch_study(prt, "s", options())
    study_id, ref, params = study_row(prt)
    run_session(prt, study_id, "p-good", PER_SESSION, code=str(params["completion_code"]))
    first = pay_bonus(prt, "s", "p-good", Decimal("0.50"), "careful answers")
    again = pay_bonus(prt, "s", "p-good", Decimal("0.50"), "careful answers")
    assert first.paid_now and not again.paid_now and again.status == BonusStatus.PAID
    assert len(sim.state.bonus_payments) == 1
    (bonus,) = sim.state.bonuses.values()
    assert bonus["csv_bonuses"] == "p-good,0.50\n" and bonus["study"] == ref
    # Interrupted between "paying" and "paid": never paid again by turkops.
    with prt.transaction() as repo:
        row = repo.session.scalar(select(Bonus).where(Bonus.token == first.token))
        assert row is not None
        row.status = BonusStatus.PAYING
    with pytest.raises(ProviderError, match="will not pay it again"):
        pay_bonus(prt, "s", "p-good", Decimal("0.50"), "careful answers")
    assert len(sim.state.bonus_payments) == 1
    with pytest.raises(InputError, match="did no work"):
        pay_bonus(prt, "s", "nobody", Decimal("0.50"), "x")


def test_a_poll_killed_after_its_remote_decisions_is_repaired_by_the_next(
    prt: Runtime, sim: RunningSimulator
) -> None:
    """The state kill -9 leaves between Prolific's answer and our commit: decided remotely,
    not recorded locally. The next pass records it and decides nothing twice."""
    launch_study(prt, "s", options())
    study_id, ref, params = study_row(prt)
    code, failed = str(params["completion_code"]), str(params["failed_check_code"])
    run_session(prt, study_id, "p-ok", PER_SESSION, code=code)
    ok = finish(sim, ref, "p-ok", "AWAITING REVIEW", code)
    run_session(prt, study_id, "p-bad", PER_SESSION, status=SessionStatus.FAILED_CHECK,
                code=failed, checks_failed=3)  # fmt: skip
    bad = finish(sim, ref, "p-bad", "AWAITING REVIEW", failed)
    sim.state.bulk_approve([ok])  # what the killed pass had sent
    sim.state.transition_submission(bad, {"action": "REJECT", "message": "x" * 100,
                                          "rejection_category": "FAILED_CHECK"})  # fmt: skip
    sent_before = len(sim.state.requests)
    result = poll_study(prt, "s")
    decisions = [
        p for _, p, _ in sim.state.requests[sent_before:]
        if p.endswith("bulk-approve/") or "/submissions/" in p and p.endswith("/transition/")
    ]  # fmt: skip
    assert decisions == [] and (result.approved, result.rejected) == (0, 0)
    assert result.changed_behind_our_back == 2 * PER_SESSION
    with prt.transaction() as repo:
        statuses = sorted(repo.session.scalars(select(Assignment.status)).all())
        assert statuses == ["Approved"] * PER_SESSION + ["Rejected"] * PER_SESSION
        assert list(repo.session.scalars(select(BlockedWorker.worker_id))) == ["p-bad"]
        held = repo.session.scalar(
            select(func.count(TaskLease.id)).where(TaskLease.status != LeaseStatus.RELEASED)
        )
        assert held == PER_SESSION  # only p-ok's tasks still count toward raters
    again = poll_study(prt, "s")
    assert again.changed_behind_our_back == 0
    with prt.transaction() as repo:
        assert len(repo.events(study_id, "submission.excluded")) == 1
