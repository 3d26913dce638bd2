"""The worker side of the marketplace: accepting, submitting and returning assignments.

Used by the simulated crowd, the browser pages (/work, externalSubmit) and the admin
endpoints. A worker holds at most one assignment per HIT, ever (a returned HIT is not offered
to the same worker again).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from turkops.domain import HitStatus
from turkops.marketplace.store import AssignmentState, Store, new_id


class WorkRefused(Exception):
    """A worker action the marketplace does not allow (the browser sees it as a 400 page)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    assignment_id: str
    hit_id: str
    worker_id: str


def _accept_in(
    store: Store, conn: sqlite3.Connection, hit_id: str, worker_id: str, submit_due: float | None
) -> str:
    now = store.clock.now()
    h = conn.execute(
        "SELECT status, expiration, n_available, assignment_duration FROM hits WHERE hit_id=?",
        (hit_id,),
    ).fetchone()
    if h is None:
        raise WorkRefused(f"HIT {hit_id} does not exist")
    if h["status"] != HitStatus.ASSIGNABLE or h["expiration"] <= now or h["n_available"] < 1:
        raise WorkRefused(f"HIT {hit_id} is no longer available ({h['status']})")
    if conn.execute(
        "SELECT 1 FROM assignments WHERE hit_id=? AND worker_id=?", (hit_id, worker_id)
    ).fetchone():
        raise WorkRefused(f"worker {worker_id} already worked on HIT {hit_id}")
    assignment_id = new_id()
    conn.execute(
        "INSERT INTO assignments(assignment_id, hit_id, worker_id, status, accept_time,"
        " deadline, submit_due) VALUES (?,?,?,?,?,?,?)",
        (
            assignment_id,
            hit_id,
            worker_id,
            AssignmentState.ACCEPTED.value,
            now,
            now + h["assignment_duration"],
            submit_due,
        ),
    )
    store.refresh_hit(conn, hit_id)
    return assignment_id


def accept(store: Store, hit_id: str, worker_id: str, submit_due: float | None = None) -> str:
    """Accept one assignment of `hit_id` for `worker_id`; WorkRefused if not possible."""
    with store.transaction() as conn:
        return _accept_in(store, conn, hit_id, worker_id, submit_due)


def accept_batch(store: Store, requests: Sequence[tuple[str, str, float | None]]) -> list[Accepted]:
    """Accept [(hit_id, worker_id, submit_due)] in one transaction, skipping refused ones."""
    out: list[Accepted] = []
    with store.transaction() as conn:
        for hit_id, worker_id, due in requests:
            try:
                out.append(
                    Accepted(_accept_in(store, conn, hit_id, worker_id, due), hit_id, worker_id)
                )
            except WorkRefused:
                continue
    return out


def _submit_in(store: Store, conn: sqlite3.Connection, assignment_id: str, answer: str) -> None:
    now = store.clock.now()
    a = conn.execute(
        "SELECT a.status, a.deadline, a.hit_id, h.auto_approval_delay"
        " FROM assignments a JOIN hits h USING(hit_id) WHERE assignment_id=?",
        (assignment_id,),
    ).fetchone()
    if a is None:
        raise WorkRefused(f"assignment {assignment_id} does not exist")
    if a["status"] != AssignmentState.ACCEPTED:
        raise WorkRefused(f"assignment {assignment_id} is {a['status']}, not open for submission")
    if a["deadline"] <= now:
        raise WorkRefused(f"assignment {assignment_id} ran out of time")
    conn.execute(
        "UPDATE assignments SET status=?, submit_time=?, auto_approval_time=?, answer=?"
        " WHERE assignment_id=?",
        (
            AssignmentState.SUBMITTED.value,
            now,
            now + a["auto_approval_delay"],
            answer,
            assignment_id,
        ),
    )
    store.refresh_hit(conn, a["hit_id"])


def submit(store: Store, assignment_id: str, answer: str) -> None:
    """Record a submission (raw Answer text, stored as given); WorkRefused if not open."""
    with store.transaction() as conn:
        _submit_in(store, conn, assignment_id, answer)
    store.tick()  # AutoApprovalDelayInSeconds=0 approves at once


def submit_batch(store: Store, items: Iterable[tuple[str, str]]) -> int:
    done = 0
    with store.transaction() as conn:
        for assignment_id, answer in items:
            try:
                _submit_in(store, conn, assignment_id, answer)
                done += 1
            except WorkRefused:
                continue
    return done


def return_assignment(store: Store, assignment_id: str) -> None:
    """The worker gives the assignment back; its slot is free again."""
    with store.transaction() as conn:
        a = conn.execute(
            "SELECT status, hit_id FROM assignments WHERE assignment_id=?", (assignment_id,)
        ).fetchone()
        if a is None:
            raise WorkRefused(f"assignment {assignment_id} does not exist")
        if a["status"] != AssignmentState.ACCEPTED:
            raise WorkRefused(f"assignment {assignment_id} is {a['status']}, cannot be returned")
        conn.execute(
            "UPDATE assignments SET status=? WHERE assignment_id=?",
            (AssignmentState.RETURNED.value, assignment_id),
        )
        store.refresh_hit(conn, a["hit_id"])


def open_assignment(store: Store, hit_id: str, worker_id: str) -> sqlite3.Row | None:
    rows = store.query(
        "SELECT * FROM assignments WHERE hit_id=? AND worker_id=?", (hit_id, worker_id)
    )
    return rows[0] if rows else None


def assignable_hits(store: Store, limit: int) -> list[tuple[str, int]]:
    """[(hit_id, free slots)] of the oldest Assignable, unexpired HITs."""
    rows = store.query(
        "SELECT hit_id, n_available FROM hits WHERE status=? AND expiration>? ORDER BY seq LIMIT ?",
        (HitStatus.ASSIGNABLE.value, store.clock.now(), limit),
    )
    return [(str(r[0]), int(r[1])) for r in rows]


def workers_on(store: Store, hit_ids: Sequence[str]) -> dict[str, set[str]]:
    """hit_id -> ids of the workers who ever took an assignment of it."""
    out: dict[str, set[str]] = {h: set() for h in hit_ids}
    if hit_ids:
        marks = ",".join("?" * len(hit_ids))
        for row in store.query(
            f"SELECT hit_id, worker_id FROM assignments WHERE hit_id IN ({marks})", hit_ids
        ):
            out[row[0]].add(row[1])
    return out


def busy_workers(store: Store) -> set[str]:
    rows = store.query(
        "SELECT DISTINCT worker_id FROM assignments WHERE status=?",
        (AssignmentState.ACCEPTED.value,),
    )
    return {str(r[0]) for r in rows}


def due_submissions(store: Store, limit: int) -> list[Accepted]:
    """Simulated assignments whose worker is done (submit_due reached), oldest first."""
    rows = store.query(
        "SELECT assignment_id, hit_id, worker_id FROM assignments"
        " WHERE status=? AND submit_due<=? ORDER BY submit_due LIMIT ?",
        (AssignmentState.ACCEPTED.value, store.clock.now(), limit),
    )
    return [Accepted(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def next_due_time(store: Store) -> float | None:
    rows = store.query(
        "SELECT MIN(submit_due) FROM assignments WHERE status=? AND submit_due IS NOT NULL",
        (AssignmentState.ACCEPTED.value,),
    )
    return float(rows[0][0]) if rows and rows[0][0] is not None else None


def questions(store: Store, hit_ids: Sequence[str]) -> dict[str, str]:
    if not hit_ids:
        return {}
    marks = ",".join("?" * len(hit_ids))
    rows = store.query(f"SELECT hit_id, question FROM hits WHERE hit_id IN ({marks})", hit_ids)
    return {str(r[0]): str(r[1]) for r in rows}
