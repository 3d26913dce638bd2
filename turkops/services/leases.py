"""Task-server sessions and leases: the one place that hands a task's slot back to the pool.

Both the task server (a lease that timed out) and `poll` (Prolific says the participant
returned or timed out, or we rejected them) release through here, so the rule "leased +
submitted leases of a task never exceed its raters" has a single owner. Handing tasks out
(lease_task) and the per-session write lock live here too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update

from turkops.db.models import Hit, TaskLease, TaskSession, utcnow
from turkops.db.repository import Repository
from turkops.domain import HitStatus, NotFoundError
from turkops.wiring import Runtime

log = logging.getLogger(__name__)
_LEASE_ATTEMPTS = 50  # tasks found full after locking are skipped; this bounds the retries


class SessionStatus:
    """Values of TaskSession.status; only `active` sessions may lease or submit."""

    ACTIVE = "active"
    COMPLETED = "completed"
    FAILED_CHECK = "failed_check"
    RETURNED = "returned"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"

    ENDED_WITHOUT_WORK = frozenset({RETURNED, TIMED_OUT, REJECTED})


class LeaseStatus:
    LEASED = "leased"
    SUBMITTED = "submitted"
    RELEASED = "released"


def release_session(repo: Repository, session: TaskSession, status: str) -> int:
    """End an active session as `status` and release its open leases; returns how many.

    Submitted tasks keep their leases (the ratings exist); a session that already ended is
    left as it is, so a repeated poll changes nothing.
    """
    if session.status != SessionStatus.ACTIVE:
        return 0
    session.status = status
    session.updated_at = utcnow()
    result = repo.session.execute(
        update(TaskLease)
        .where(
            TaskLease.session_row_id == session.id,
            TaskLease.status == LeaseStatus.LEASED,
        )
        .values(status=LeaseStatus.RELEASED)
    )
    count = int(getattr(result, "rowcount", 0) or 0)  # a CursorResult for an UPDATE
    repo.log(
        session.study_id,
        "session.released",
        entity=f"session:{session.id}",
        status=status,
        leases=count,
    )
    return count


def begin_write(repo: Repository) -> None:
    """SQLite: take the write lock first (must be the transaction's first statement)."""
    if repo.session.get_bind().dialect.name == "sqlite":
        repo.session.execute(text("BEGIN IMMEDIATE"))


def lock_session(repo: Repository, session_id: int) -> TaskSession:
    begin_write(repo)
    session = repo.session.scalar(
        select(TaskSession).where(TaskSession.id == session_id).with_for_update()
    )
    if session is None:
        raise NotFoundError("no such session")
    return session


def held_task(repo: Repository, session: TaskSession) -> Hit | None:
    return repo.session.scalar(
        select(Hit)
        .join(TaskLease, TaskLease.hit_row_id == Hit.id)
        .where(TaskLease.session_row_id == session.id, TaskLease.status == LeaseStatus.LEASED)
        .order_by(TaskLease.id)
        .limit(1)
    )


def _active_count(repo: Repository, hit_id: int) -> int:
    return int(
        repo.session.scalar(
            select(func.count(TaskLease.id)).where(
                TaskLease.hit_row_id == hit_id,
                TaskLease.status.in_([LeaseStatus.LEASED, LeaseStatus.SUBMITTED]),
            )
        )
        or 0
    )


def lease_task(
    repo: Repository, session: TaskSession, study_id: int, lease_seconds: int, now: datetime
) -> Hit | None:
    """Lease the first task (by index) that still needs raters and this session never held.

    Call inside a transaction that holds the session's lock (lock_session).
    """
    active = (
        select(func.count(TaskLease.id))
        .where(
            TaskLease.hit_row_id == Hit.id,
            TaskLease.status.in_([LeaseStatus.LEASED, LeaseStatus.SUBMITTED]),
        )
        .scalar_subquery()
    )
    mine = (
        select(TaskLease.id)
        .where(TaskLease.hit_row_id == Hit.id, TaskLease.session_row_id == session.id)
        .exists()
    )
    skipped: list[int] = []
    for _ in range(_LEASE_ATTEMPTS):
        q = select(Hit).where(
            Hit.study_id == study_id,
            Hit.status == HitStatus.ASSIGNABLE,
            active < Hit.max_assignments,
            ~mine,
        )
        if skipped:
            q = q.where(Hit.id.not_in(skipped))
        hit = repo.session.scalar(
            q.order_by(Hit.task_index).limit(1).with_for_update(skip_locked=True, of=Hit)
        )
        if hit is None:
            return None
        # Recount under the task's lock: on PostgreSQL this statement sees every lease that
        # was committed by whoever held the lock before us.
        if _active_count(repo, hit.id) >= hit.max_assignments:
            skipped.append(hit.id)
            continue
        repo.session.add(
            TaskLease(
                session_row_id=session.id,
                hit_row_id=hit.id,
                status=LeaseStatus.LEASED,
                leased_at=now,
                expires_at=now + timedelta(seconds=lease_seconds),
            )
        )
        repo.session.flush()
        return hit
    return None


def expire_leases(rt: Runtime, now: datetime | None = None) -> int:
    """End as timed_out every active session holding a lease past its expiry; returns count.

    Its open leases go back to the pool (release_session), so others can take the tasks.
    """
    now = now or utcnow()
    with rt.transaction() as repo:
        ids = repo.session.scalars(
            select(TaskLease.session_row_id)
            .where(TaskLease.status == LeaseStatus.LEASED, TaskLease.expires_at < now)
            .distinct()
        ).all()
    ended = 0
    for sid in ids:
        with rt.transaction() as repo:
            session = lock_session(repo, sid)
            expired = repo.session.scalar(
                select(func.count(TaskLease.id)).where(
                    TaskLease.session_row_id == sid,
                    TaskLease.status == LeaseStatus.LEASED,
                    TaskLease.expires_at < now,
                )
            )
            if expired and session.status == SessionStatus.ACTIVE:
                release_session(repo, session, SessionStatus.TIMED_OUT)
                ended += 1
    if ended:
        log.info("expired %d task-server sessions", ended)
    return ended


def exclude_session_work(repo: Repository, session: TaskSession) -> int:
    """Excluded work (a failed attention check) stops counting toward its tasks' raters: the
    session's submitted leases are released, so those slots go back to the pool. Its
    Assignments stay (valid=False) for the record; returns how many slots came back."""
    result = repo.session.execute(
        update(TaskLease)
        .where(
            TaskLease.session_row_id == session.id,
            TaskLease.status.in_((LeaseStatus.SUBMITTED, LeaseStatus.LEASED)),
        )
        .values(status=LeaseStatus.RELEASED)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    if count:
        repo.log(session.study_id, "session.excluded", entity=f"session:{session.id}", leases=count)
    return count
