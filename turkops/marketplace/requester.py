"""What a requester can do to the marketplace state: HIT types, HITs, reviews, bonuses.

Each function is one MTurk operation's effect on the Store, already validated by protocol.py;
errors are MTurkError with MTurk's messages.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from turkops.domain import HitStatus
from turkops.marketplace import errors, ledger
from turkops.marketplace.errors import request_error
from turkops.marketplace.money import assignment_cost, commission, format_amount
from turkops.marketplace.store import (
    AssignmentState,
    Store,
    assignment_not_found,
    hit_not_found,
    new_id,
    wrong_assignment_state,
)

TOKEN_LIFETIME_SECONDS = 24 * 3600  # MTurk: "The unique token expires after 24 hours."


@dataclass(frozen=True, slots=True)
class HitTypeProps:
    title: str
    description: str
    keywords: str | None
    reward: Decimal
    assignment_duration: int
    auto_approval_delay: int
    qualification_requirements: str  # JSON list with sorted keys

    def key(self) -> str:
        parts = [
            self.title,
            self.description,
            self.keywords or "",
            format_amount(self.reward),
            str(self.assignment_duration),
            str(self.auto_approval_delay),
            self.qualification_requirements,
        ]
        return "\x1f".join(parts)


def create_hit_type(store: Store, props: HitTypeProps) -> str:
    """The id of the HIT type with exactly these properties, registering it if new (as MTurk)."""
    with store.transaction() as conn:
        row = conn.execute(
            "SELECT hit_type_id FROM hit_types WHERE props_key=?", (props.key(),)
        ).fetchone()
        if row is not None:
            return str(row[0])
        hit_type_id = new_id()
        conn.execute(
            "INSERT INTO hit_types VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                hit_type_id,
                props.key(),
                props.title,
                props.description,
                props.keywords,
                format_amount(props.reward),
                props.assignment_duration,
                props.auto_approval_delay,
                props.qualification_requirements,
                store.clock.now(),
            ),
        )
        return hit_type_id


def _used_token(store: Store, conn: sqlite3.Connection, kind: str, token: str) -> str | None:
    """What an unexpired token already created, else None (expired tokens are forgotten)."""
    row = conn.execute(
        "SELECT target, created FROM request_tokens WHERE kind=? AND token=?", (kind, token)
    ).fetchone()
    if row is None:
        return None
    if row["created"] + TOKEN_LIFETIME_SECONDS <= store.clock.now():
        conn.execute("DELETE FROM request_tokens WHERE kind=? AND token=?", (kind, token))
        return None
    return str(row["target"])


def duplicate_hit_message(hit_id: str) -> str:
    """The message of the RequestError for a reused CreateHIT UniqueRequestToken."""
    return f"There is already a HIT which exists with the same UniqueRequestToken. HIT ID: {hit_id}"


def create_hit(
    store: Store,
    hit_type_id: str,
    max_assignments: int,
    lifetime: int,
    question: str,
    annotation: str | None,
    token: str | None,
) -> sqlite3.Row:
    """Create a HIT of an existing type; commits its full cost from the available balance."""
    now = store.clock.now()
    with store.transaction() as conn:
        t = conn.execute("SELECT * FROM hit_types WHERE hit_type_id=?", (hit_type_id,)).fetchone()
        if t is None:
            raise request_error(
                f"HITType {hit_type_id} does not exist.", errors.HIT_TYPE_DOES_NOT_EXIST
            )
        if token is not None:
            existing = _used_token(store, conn, "hit", token)
            if existing is not None:
                raise request_error(duplicate_hit_message(existing), errors.HIT_ALREADY_EXISTS)
        slot_cost = assignment_cost(Decimal(t["reward"]), max_assignments)
        ledger.require_funds(conn, slot_cost * max_assignments)
        hit_id = new_id()
        conn.execute(
            "INSERT INTO hits(hit_id, hit_type_id, hit_group_id, title, description, keywords,"
            " reward, assignment_duration, auto_approval_delay, qualification_requirements,"
            " question, requester_annotation, max_assignments, creation_time, expiration,"
            " status, n_available, slot_cost, committed)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,'0.00')",
            (
                hit_id,
                hit_type_id,
                "G" + hit_type_id[1:],
                t["title"],
                t["description"],
                t["keywords"],
                t["reward"],
                t["assignment_duration"],
                t["auto_approval_delay"],
                t["qualification_requirements"],
                question,
                annotation,
                max_assignments,
                now,
                now + lifetime,
                HitStatus.ASSIGNABLE.value,
                max_assignments,
                format_amount(slot_cost),
            ),
        )
        if token is not None:
            conn.execute(
                "INSERT OR REPLACE INTO request_tokens VALUES ('hit', ?, ?, ?)",
                (token, hit_id, now),
            )
        store.refresh_hit(conn, hit_id)
        row: sqlite3.Row = conn.execute("SELECT * FROM hits WHERE hit_id=?", (hit_id,)).fetchone()
        return row


def list_hits(
    store: Store,
    after_seq: int,
    limit: int,
    status: str | None = None,
    hit_type_id: str | None = None,
) -> list[sqlite3.Row]:
    """HITs after `after_seq` in creation order; Disposed ones are left out unless asked for."""
    where: list[str] = ["seq > ?"]
    params: list[object] = [after_seq]
    if status is None:
        where.append("status != 'Disposed'")
    else:
        where.append("status = ?")
        params.append(status)
    if hit_type_id is not None:
        where.append("hit_type_id = ?")
        params.append(hit_type_id)
    sql = f"SELECT * FROM hits WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
    return store.query(sql, (*params, limit))


def list_assignments(
    store: Store, hit_id: str, statuses: Sequence[str], after_seq: int, limit: int
) -> list[sqlite3.Row]:
    store.get_hit(hit_id)
    marks = ",".join("?" * len(statuses))
    return store.query(
        f"SELECT * FROM assignments WHERE hit_id=? AND seq>? AND status IN ({marks})"
        " ORDER BY seq LIMIT ?",
        (hit_id, after_seq, *statuses, limit),
    )


def get_assignment(store: Store, assignment_id: str) -> sqlite3.Row:
    rows = store.query("SELECT * FROM assignments WHERE assignment_id=?", (assignment_id,))
    if not rows or rows[0]["status"] in AssignmentState.gone():
        raise assignment_not_found(assignment_id)
    if rows[0]["status"] == AssignmentState.ACCEPTED:
        # What MTurk answers for an assignment a worker is still working on.
        raise wrong_assignment_state("Reviewable,Approved,Rejected")
    return rows[0]


def approve(store: Store, assignment_id: str, feedback: str | None, override: bool) -> None:
    with store.transaction() as conn:
        store.approve_in(conn, assignment_id, feedback, override)


def reject(store: Store, assignment_id: str, feedback: str) -> None:
    with store.transaction() as conn:
        a = conn.execute(
            "SELECT hit_id, status FROM assignments WHERE assignment_id=?", (assignment_id,)
        ).fetchone()
        if a is None or a["status"] in AssignmentState.gone():
            raise assignment_not_found(assignment_id)
        if a["status"] != AssignmentState.SUBMITTED:
            raise wrong_assignment_state()
        conn.execute(
            "UPDATE assignments SET status=?, rejection_time=?, requester_feedback=?"
            " WHERE assignment_id=?",
            (AssignmentState.REJECTED.value, store.clock.now(), feedback, assignment_id),
        )
        store.refresh_hit(conn, a["hit_id"])


def _hit_in(conn: sqlite3.Connection, hit_id: str) -> sqlite3.Row:
    h: sqlite3.Row | None = conn.execute("SELECT * FROM hits WHERE hit_id=?", (hit_id,)).fetchone()
    if h is None:
        raise hit_not_found(hit_id)
    return h


def _wrong_hit_state(current: str, allowed: str) -> errors.MTurkError:
    return request_error(
        f"This HIT is currently in the state '{current}'. This operation can be called with a "
        f"status of: {allowed}",
        errors.INVALID_HIT_STATE,
    )


def set_reviewing(store: Store, hit_id: str, revert: bool) -> None:
    """UpdateHITReviewStatus: Reviewable -> Reviewing, or back with revert."""
    with store.transaction() as conn:
        h = _hit_in(conn, hit_id)
        wanted = HitStatus.REVIEWING if revert else HitStatus.REVIEWABLE
        if h["status"] != wanted:
            raise _wrong_hit_state(h["status"], wanted.value)
        conn.execute("UPDATE hits SET reviewing=? WHERE hit_id=?", (int(not revert), hit_id))
        store.refresh_hit(conn, hit_id)


def update_expiration(store: Store, hit_id: str, expire_at: float) -> None:
    """Expire (a time in the past) or extend a HIT; extending re-commits released slots."""
    with store.transaction() as conn:
        h = _hit_in(conn, hit_id)
        if h["disposed"]:
            raise _wrong_hit_state(h["status"], "Assignable,Unassignable,Reviewable,Reviewing")
        now = store.clock.now()
        if expire_at > now and h["expiration"] <= now:
            open_slots = h["max_assignments"] - h["n_approved"] - h["n_rejected"]
            ledger.require_funds(
                conn, Decimal(h["slot_cost"]) * open_slots - Decimal(h["committed"])
            )
        # An extended HIT leaves the Reviewable/Reviewing states (ListReviewableHITs docs).
        reviewing = h["reviewing"] if expire_at <= now else 0
        conn.execute(
            "UPDATE hits SET expiration=?, expiry_done=0, reviewing=? WHERE hit_id=?",
            (expire_at, reviewing, hit_id),
        )
        store.refresh_hit(conn, hit_id)


def delete_hit(store: Store, hit_id: str) -> None:
    """Dispose of a Reviewable/Reviewing HIT none of whose assignments awaits a decision."""
    with store.transaction() as conn:
        h = _hit_in(conn, hit_id)
        if h["status"] not in (HitStatus.REVIEWABLE, HitStatus.REVIEWING):
            raise _wrong_hit_state(h["status"], "Reviewable,Reviewing")
        if h["n_submitted"]:
            raise request_error(
                f"This HIT has {h['n_submitted']} assignment(s) in the state 'Submitted'; "
                "approve or reject them before deleting the HIT.",
                errors.INVALID_HIT_STATE,
            )
        conn.execute("UPDATE hits SET disposed=1 WHERE hit_id=?", (hit_id,))
        store.refresh_hit(conn, hit_id)


def send_bonus(
    store: Store,
    worker_id: str,
    amount: Decimal,
    assignment_id: str,
    reason: str,
    token: str | None,
) -> None:
    """Pay a bonus (+ commission) for an assignment the worker submitted."""
    with store.transaction() as conn:
        if token is not None and _used_token(store, conn, "bonus", token) is not None:
            raise request_error(
                f'The idempotency token "{token}" has already been processed.',
                errors.TOKEN_ALREADY_PROCESSED,
            )
        a = conn.execute(
            "SELECT worker_id, status FROM assignments WHERE assignment_id=?", (assignment_id,)
        ).fetchone()
        if a is None or a["status"] not in AssignmentState.listed() or a["worker_id"] != worker_id:
            raise request_error(
                f"Assignment {assignment_id} does not exist or was not submitted by worker "
                f"{worker_id}.",
                errors.ASSIGNMENT_DOES_NOT_EXIST,
            )
        fee = commission(amount)
        ledger.require_funds(conn, amount + fee)
        now = store.clock.now()
        conn.execute(
            "INSERT INTO bonuses(worker_id, assignment_id, amount, fee, reason, grant_time)"
            " VALUES (?,?,?,?,?,?)",
            (worker_id, assignment_id, format_amount(amount), format_amount(fee), reason, now),
        )
        if token is not None:
            conn.execute(
                "INSERT OR REPLACE INTO request_tokens VALUES ('bonus', ?, ?, ?)",
                (token, assignment_id, now),
            )
        ledger.add(conn, ledger.SPENT, amount + fee)
