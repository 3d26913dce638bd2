"""What the task server (issue 11, item 2) writes for one participant session, per the
P1/P2 contract: TaskSession, TaskLease per task, and per submitted task one Worker,
Assignment ("ps-<session>-<hit>") and Ratings. Used where a test needs finished sessions
without a browser; the real server is tested in tests/taskserver."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from turkops.db.models import Assignment, Hit, Rating, TaskLease, TaskSession
from turkops.services.leases import LeaseStatus, SessionStatus
from turkops.wiring import Runtime


def open_hits(rt: Runtime, study_id: int) -> list[int]:
    with rt.transaction() as repo:
        held = dict(
            repo.session.execute(
                select(TaskLease.hit_row_id, func.count(TaskLease.id))
                .where(TaskLease.status.in_((LeaseStatus.LEASED, LeaseStatus.SUBMITTED)))
                .group_by(TaskLease.hit_row_id)
            ).all()
        )
        hits = repo.session.scalars(
            select(Hit).where(Hit.study_id == study_id).order_by(Hit.id)
        ).all()
        return [h.id for h in hits if held.get(h.id, 0) < h.max_assignments]


def run_session(
    rt: Runtime,
    study_id: int,
    pid: str,
    tasks: int,
    submit: int | None = None,
    status: str = SessionStatus.COMPLETED,
    code: str | None = None,
    checks_failed: int = 0,
) -> TaskSession:
    """Lease `tasks` open tasks, submit the first `submit` of them (all by default)."""
    submit = tasks if submit is None else submit
    now = datetime.now(UTC)
    with rt.transaction() as repo:
        session = TaskSession(
            study_id=study_id,
            participant_id=pid,
            status=SessionStatus.ACTIVE,
            consented=True,
            checks_failed=checks_failed,
        )
        repo.session.add(session)
        repo.session.flush()
        worker = repo.worker(pid)
        ids = open_hits(rt, study_id)
        for n, hit_row_id in enumerate(ids[:tasks]):
            hit = repo.session.get(Hit, hit_row_id, options=[selectinload(Hit.items)])
            assert hit is not None
            done = n < submit
            repo.session.add(
                TaskLease(
                    session_row_id=session.id,
                    hit_row_id=hit.id,
                    status=LeaseStatus.SUBMITTED if done else LeaseStatus.LEASED,
                    expires_at=now + timedelta(seconds=900),
                    submitted_at=now if done else None,
                )
            )
            if not done:
                continue
            values = [1] * len(hit.items)
            a = Assignment(
                hit_row_id=hit.id,
                assignment_id=f"ps-{session.id}-{hit.id}",
                worker_row_id=worker.id,
                status="Submitted",
                valid=True,
                answer_raw=json.dumps(values),
                submitted_at=now,
            )
            repo.session.add(a)
            repo.session.flush()
            repo.session.add_all(
                Rating(assignment_row_id=a.id, hit_item_id=item.id, value=v)
                for item, v in zip(hit.items, values, strict=True)
            )
            session.tasks_done += 1
        if status != SessionStatus.ACTIVE:
            session.status = status
            session.completion_code = code
        repo.session.flush()
        repo.session.expunge(session)
        return session
