"""`turkops bonus`: pay a worker a bonus at most once, on any provider.

Paying is not idempotent on Prolific (paying a bulk bonus twice pays twice), so the bonus
is a row first (`recorded`), then set up on the provider (`created`, with its id), then
marked `paying` in its own transaction BEFORE the pay call, and `paid` after. A crash
between `paying` and `paid` leaves it `paying`: turkops never pays it again by itself and
reports it, because it cannot know whether the provider received the call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from turkops.crowd import Submission, SubmissionState
from turkops.db.models import Assignment, Bonus, Hit, Worker
from turkops.domain import InputError, ProviderError
from turkops.wiring import Runtime


class BonusStatus:
    RECORDED = "recorded"
    CREATED = "created"
    PAYING = "paying"
    PAID = "paid"


@dataclass(frozen=True, slots=True)
class BonusResult:
    token: str
    status: str
    paid_now: bool


def bonus_token(study: str, worker_id: str, amount: Decimal, reason: str) -> str:
    """The same bonus asked for twice is the same row (and paid once)."""
    text = f"{study}|{worker_id}|{amount:.2f}|{reason}"
    return "bonus-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def pay_bonus(rt: Runtime, name: str, worker_id: str, amount: Decimal, reason: str) -> BonusResult:
    if amount <= 0:
        raise InputError("a bonus must be a positive amount")
    if not reason.strip():
        raise InputError("a bonus needs a reason the worker can read (--reason)")
    token = bonus_token(name, worker_id, amount, reason)
    with rt.transaction() as repo:
        study = repo.study(name)
        study_id, provider_name, ref = study.id, study.provider, study.provider_ref
        row = repo.session.execute(
            select(Assignment.assignment_id, Hit.hit_id)
            .join(Worker, Assignment.worker_row_id == Worker.id)
            .join(Hit, Assignment.hit_row_id == Hit.id)
            .where(Hit.study_id == study_id, Worker.worker_id == worker_id)
            .order_by(Assignment.id.desc())
        ).first()
        if row is None:
            raise InputError(f"worker {worker_id!r} did no work in study {name!r}")
        assignment_id, hit_id = row
        bonus = repo.session.scalar(select(Bonus).where(Bonus.token == token))
        if bonus is None:
            bonus = Bonus(
                study_id=study_id,
                worker_row_id=repo.worker(worker_id).id,
                amount=amount,
                reason=reason,
                token=token,
                status=BonusStatus.RECORDED,
            )
            repo.session.add(bonus)
            repo.log(study_id, "bonus.recorded", f"bonus:{token}", amount=str(amount))
        status, bonus_ref = bonus.status, bonus.provider_ref
    if status == BonusStatus.PAID:
        return BonusResult(token, status, False)
    if status == BonusStatus.PAYING:
        raise ProviderError(
            f"bonus {token} was being paid when turkops stopped; check the provider's "
            "records before paying it by hand (turkops will not pay it again)"
        )
    provider = rt.provider(provider_name)
    work_ref = ref if ref is not None else str(hit_id)
    sub = Submission(str(assignment_id), work_ref, worker_id, SubmissionState.APPROVED)
    if status == BonusStatus.RECORDED:
        bonus_ref = provider.create_bonus(work_ref, sub, amount, reason, token)
        with rt.transaction() as repo:
            b = repo.session.scalar(select(Bonus).where(Bonus.token == token))
            assert b is not None
            b.provider_ref, b.status = bonus_ref, BonusStatus.CREATED
            repo.log(study_id, "bonus.created", f"bonus:{token}", ref=bonus_ref)
    with rt.transaction() as repo:
        b = repo.session.scalar(select(Bonus).where(Bonus.token == token))
        assert b is not None
        b.status = BonusStatus.PAYING
    assert bonus_ref is not None
    provider.pay_bonus(bonus_ref, sub, amount, reason, token)
    with rt.transaction() as repo:
        b = repo.session.scalar(select(Bonus).where(Bonus.token == token))
        assert b is not None
        b.status, b.paid_at = BonusStatus.PAID, datetime.now(UTC)
        repo.log(study_id, "bonus.paid", f"bonus:{token}", amount=str(amount))
    return BonusResult(token, BonusStatus.PAID, True)
