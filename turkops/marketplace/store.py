"""The marketplace state over its SQLite file: one lock, transactions, and the HIT state machine.

HIT status (MTurk's ListReviewableHITs/DeleteHIT docs): Assignable while slots are free;
Unassignable when every slot is taken, or it expired while workers still hold assignments;
Reviewable once MaxAssignments were submitted or it expired with nobody working on it;
Reviewing via UpdateHITReviewStatus; Disposed after DeleteHIT. `refresh_hit` derives all of
it (and the HIT's commitment in the ledger) from the HIT's assignments, so every transition
goes through one function. Requester operations live in requester.py, the worker side in
assignments.py.
"""

from __future__ import annotations

import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from turkops.domain import AssignmentStatus, HitStatus
from turkops.marketplace import errors, ledger
from turkops.marketplace.errors import request_error
from turkops.marketplace.money import format_amount
from turkops.marketplace.schema import open_database

_ID_ALPHABET = string.ascii_uppercase + string.digits


def new_id(length: int = 30) -> str:
    """An MTurk-style entity id: uppercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


class AssignmentState(StrEnum):
    """MTurk's three listed statuses plus the states a requester never sees."""

    ACCEPTED = "Accepted"
    SUBMITTED = AssignmentStatus.SUBMITTED.value
    APPROVED = AssignmentStatus.APPROVED.value
    REJECTED = AssignmentStatus.REJECTED.value
    RETURNED = "Returned"
    ABANDONED = "Abandoned"

    @classmethod
    def listed(cls) -> tuple[AssignmentState, ...]:
        return (cls.SUBMITTED, cls.APPROVED, cls.REJECTED)

    @classmethod
    def gone(cls) -> tuple[AssignmentState, ...]:
        return (cls.RETURNED, cls.ABANDONED)


class Clock:
    """Wall-clock time plus an offset that tests move forward; persisted with the state."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


def hit_not_found(hit_id: str) -> errors.MTurkError:
    return request_error(f"Hit {hit_id} does not exist.", errors.HIT_DOES_NOT_EXIST)


def assignment_not_found(assignment_id: str) -> errors.MTurkError:
    return request_error(
        f"Assignment {assignment_id} does not exist.", errors.ASSIGNMENT_DOES_NOT_EXIST
    )


def wrong_assignment_state(allowed: str = "Submitted") -> errors.MTurkError:
    # MTurk's wording for approving/rejecting an assignment that is not Submitted.
    return request_error(
        f"This operation can be called with a status of: {allowed}",
        errors.INVALID_ASSIGNMENT_STATE,
    )


class Store:
    """All reads and writes of the marketplace state; every method is thread-safe."""

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = path
        self._conn = open_database(path)
        self._lock = threading.RLock()
        self.clock = clock or Clock()
        offset = self.meta_value("clock_offset")
        if offset is not None:
            self.clock.offset = float(offset)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the store's lock (do not nest)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def meta_value(self, key: str) -> str | None:
        rows = self.query("SELECT value FROM meta WHERE key=?", (key,))
        return str(rows[0][0]) if rows else None

    def set_meta_value(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def advance_clock(self, seconds: float) -> float:
        """Move the marketplace clock forward (tests: expiry, auto-approval without sleeping)."""
        with self._lock:
            self.clock.offset += seconds
            self.set_meta_value("clock_offset", repr(self.clock.offset))
        self.tick()
        return self.clock.now()

    def open_account(self, deposits: Decimal) -> None:
        with self.transaction() as conn:
            ledger.open_account(conn, deposits)

    def balance(self) -> ledger.Balance:
        with self._lock:
            return ledger.read_balance(self._conn)

    def get_hit(self, hit_id: str) -> sqlite3.Row:
        rows = self.query("SELECT * FROM hits WHERE hit_id=?", (hit_id,))
        if not rows:
            raise hit_not_found(hit_id)
        return rows[0]

    def refresh_hit(self, conn: sqlite3.Connection, hit_id: str) -> None:
        """Recompute a HIT's counts, status and commitment from its assignments (inside a tx)."""
        h = conn.execute("SELECT * FROM hits WHERE hit_id=?", (hit_id,)).fetchone()
        counts = {
            row[0]: int(row[1])
            for row in conn.execute(
                "SELECT status, COUNT(*) FROM assignments WHERE hit_id=? GROUP BY status",
                (hit_id,),
            )
        }
        pending = counts.get(AssignmentState.ACCEPTED, 0)
        submitted = counts.get(AssignmentState.SUBMITTED, 0)
        approved = counts.get(AssignmentState.APPROVED, 0)
        rejected = counts.get(AssignmentState.REJECTED, 0)
        done = submitted + approved + rejected
        expired = h["expiration"] <= self.clock.now()
        available = 0 if expired else max(0, h["max_assignments"] - pending - done)
        if h["disposed"]:
            status = HitStatus.DISPOSED
        elif done >= h["max_assignments"] or (expired and pending == 0):
            status = HitStatus.REVIEWING if h["reviewing"] else HitStatus.REVIEWABLE
        elif available == 0:
            status = HitStatus.UNASSIGNABLE
        else:
            status = HitStatus.ASSIGNABLE
        # Slots that can still cost money: all undecided ones while the HIT is open, only
        # those held or awaiting review once it expired.
        open_slots = pending + submitted if expired else h["max_assignments"] - approved - rejected
        committed = Decimal(h["slot_cost"]) * max(0, open_slots)
        ledger.add(conn, ledger.COMMITTED, committed - Decimal(h["committed"]))
        conn.execute(
            "UPDATE hits SET status=?, reviewing=?, n_pending=?, n_available=?, n_submitted=?,"
            " n_approved=?, n_rejected=?, committed=?, expiry_done=? WHERE hit_id=?",
            (
                status.value,
                int(status == HitStatus.REVIEWING),
                pending,
                available,
                submitted,
                approved,
                rejected,
                format_amount(committed),
                int(expired),
                hit_id,
            ),
        )

    def approve_in(
        self,
        conn: sqlite3.Connection,
        assignment_id: str,
        feedback: str | None,
        override_rejection: bool,
        auto: bool = False,
    ) -> None:
        """Approve inside a transaction: pays reward + commission out of the HIT's commitment."""
        a = conn.execute(
            "SELECT a.*, h.slot_cost, h.disposed FROM assignments a JOIN hits h USING(hit_id)"
            " WHERE assignment_id=?",
            (assignment_id,),
        ).fetchone()
        if a is None or a["status"] in AssignmentState.gone():
            raise assignment_not_found(assignment_id)
        overriding = override_rejection and a["status"] == AssignmentState.REJECTED
        if a["status"] != AssignmentState.SUBMITTED and not overriding:
            raise wrong_assignment_state()
        if overriding and a["disposed"]:
            raise request_error(
                "The HIT of this assignment was deleted; its rejected assignments can no "
                "longer be approved.",
                errors.INVALID_HIT_STATE,
            )
        cost = Decimal(a["slot_cost"])
        if overriding:
            # The rejection released this slot's commitment; approving now spends fresh money.
            ledger.require_funds(conn, cost)
        when = a["auto_approval_time"] if auto else self.clock.now()
        conn.execute(
            "UPDATE assignments SET status=?, approval_time=?, rejection_time=NULL,"
            " requester_feedback=COALESCE(?, requester_feedback) WHERE assignment_id=?",
            (AssignmentState.APPROVED.value, when, feedback, assignment_id),
        )
        ledger.add(conn, ledger.SPENT, cost)
        self.refresh_hit(conn, a["hit_id"])

    def tick(self) -> None:
        """Apply what time did: abandoned assignments, auto-approvals, expired HITs."""
        now = self.clock.now()
        with self._lock:
            abandoned = self.query(
                "SELECT assignment_id, hit_id FROM assignments WHERE status=? AND deadline<=?",
                (AssignmentState.ACCEPTED.value, now),
            )
            auto = self.query(
                "SELECT assignment_id FROM assignments WHERE status=? AND auto_approval_time<=?",
                (AssignmentState.SUBMITTED.value, now),
            )
            expired = self.query(
                "SELECT hit_id FROM hits WHERE expiry_done=0 AND expiration<=?", (now,)
            )
            if not (abandoned or auto or expired):
                return
            with self.transaction() as conn:
                for row in abandoned:
                    conn.execute(
                        "UPDATE assignments SET status=? WHERE assignment_id=?",
                        (AssignmentState.ABANDONED.value, row[0]),
                    )
                    self.refresh_hit(conn, row[1])
                for row in auto:
                    self.approve_in(conn, row[0], None, False, auto=True)
                for row in expired:
                    self.refresh_hit(conn, row[0])
