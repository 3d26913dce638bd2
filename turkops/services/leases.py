"""Task-server sessions and leases: the one place that hands a task's slot back to the pool.

Both the task server (a lease that timed out) and `poll` (Prolific says the participant
returned or timed out, or we rejected them) release through here, so the rule "leased +
submitted leases of a task never exceed its raters" has a single owner.
"""

from __future__ import annotations

from sqlalchemy import update

from turkops.db.models import TaskLease, TaskSession, utcnow
from turkops.db.repository import Repository


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
        repo.log(
            session.study_id, "session.excluded", entity=f"session:{session.id}", leases=count
        )
    return count
