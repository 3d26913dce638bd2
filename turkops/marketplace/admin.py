"""Test/operator endpoints under /_admin/ (JSON in, JSON out; same loopback server).

They do to the marketplace what MTurk or its workers can do behind the requester's back
(expire a HIT, auto-approve, return, submit a malformed answer), change the fault knobs,
pause the crowd, move the clock, and report call counts. docs/marketplace.md lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turkops.marketplace import assignments
from turkops.marketplace.assignments import WorkRefused
from turkops.marketplace.config import FaultConfig
from turkops.marketplace.context import MarketplaceContext, Response, json_response, load_json
from turkops.marketplace.errors import MTurkError
from turkops.marketplace.store import AssignmentState

Payload = dict[str, Any]


class AdminError(Exception):
    """A bad admin request; answered with HTTP 400 {"error": message}."""


def _str(payload: Payload, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise AdminError(f"{name} (a non-empty string) is required")
    return value


def stats(ctx: MarketplaceContext, payload: Payload) -> Payload:
    if payload.get("reset"):
        ctx.stats.reset()
    calls = ctx.stats.snapshot()
    hits = ctx.store.query("SELECT status, COUNT(*) FROM hits GROUP BY status")
    work = ctx.store.query("SELECT status, COUNT(*) FROM assignments GROUP BY status")
    b = ctx.store.balance()
    return {
        "calls": calls,
        "total_calls": sum(calls.values()),
        "faults_injected": ctx.faults.injected_counts(),
        "hits": {r[0]: r[1] for r in hits},
        "assignments": {r[0]: r[1] for r in work},
        "balance": {
            "available": str(b.available),
            "committed": str(b.committed),
            "spent": str(b.spent),
            "deposits": str(b.deposits),
        },
        "clock": ctx.store.clock.now(),
        "workers_paused": ctx.crowd.paused.is_set(),
    }


def faults(ctx: MarketplaceContext, payload: Payload) -> Payload:
    knobs = {k: v for k, v in payload.items() if k != "reset"}
    base = FaultConfig() if payload.get("reset") else ctx.faults.config
    if knobs or payload.get("reset"):
        try:
            ctx.faults.replace(FaultConfig.from_json(knobs, base))
        except ValueError as exc:
            raise AdminError(str(exc)) from None
    return ctx.faults.config.to_json()


def expire_hit(ctx: MarketplaceContext, payload: Payload) -> Payload:
    hit_id = _str(payload, "hit_id")
    now = ctx.store.clock.now()
    with ctx.store.transaction() as conn:
        if (
            conn.execute(
                "UPDATE hits SET expiration=?, expiry_done=0 WHERE hit_id=? AND disposed=0",
                (now, hit_id),
            ).rowcount
            != 1
        ):
            raise AdminError(f"no live HIT {hit_id}")
        ctx.store.refresh_hit(conn, hit_id)
    return {"hit_id": hit_id, "status": ctx.store.get_hit(hit_id)["status"]}


def auto_approve(ctx: MarketplaceContext, payload: Payload) -> Payload:
    """Approve Submitted assignments as MTurk's auto-approval would (all, one HIT's, or listed)."""
    if "assignment_ids" in payload:
        ids = payload["assignment_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise AdminError("assignment_ids must be a list of strings")
    else:
        sql = "SELECT assignment_id FROM assignments WHERE status=?"
        params = [AssignmentState.SUBMITTED.value]
        if "hit_id" in payload:
            sql += " AND hit_id=?"
            params.append(_str(payload, "hit_id"))
        ids = [r[0] for r in ctx.store.query(sql, params)]
    approved, skipped = [], []
    now = ctx.store.clock.now()
    with ctx.store.transaction() as conn:
        for assignment_id in ids:
            conn.execute(
                "UPDATE assignments SET auto_approval_time=? WHERE assignment_id=? AND status=?",
                (now, assignment_id, AssignmentState.SUBMITTED.value),
            )
            try:
                ctx.store.approve_in(conn, assignment_id, None, False, auto=True)
                approved.append(assignment_id)
            except MTurkError:
                skipped.append(assignment_id)
    return {"approved": approved, "skipped": skipped}


def _worker_for(ctx: MarketplaceContext, payload: Payload, hit_id: str) -> str:
    if "worker_id" in payload:
        return _str(payload, "worker_id")
    taken = assignments.workers_on(ctx.store, [hit_id])[hit_id]
    free = [w for w in ctx.crowd.workers if w not in taken]
    if not free:
        raise AdminError(f"every simulated worker already worked on HIT {hit_id}")
    return free[0]


def accept(ctx: MarketplaceContext, payload: Payload) -> Payload:
    hit_id = _str(payload, "hit_id")
    worker_id = _worker_for(ctx, payload, hit_id)
    return {
        "assignment_id": assignments.accept(ctx.store, hit_id, worker_id),
        "worker_id": worker_id,
    }


def return_assignment(ctx: MarketplaceContext, payload: Payload) -> Payload:
    assignment_id = _str(payload, "assignment_id")
    assignments.return_assignment(ctx.store, assignment_id)
    return {"assignment_id": assignment_id, "status": AssignmentState.RETURNED.value}


def submit_raw(ctx: MarketplaceContext, payload: Payload) -> Payload:
    """Submit an arbitrary Answer string for an accepted assignment, or a new one of hit_id."""
    answer = payload.get("answer")
    if not isinstance(answer, str):
        raise AdminError("answer (a string) is required")
    if "assignment_id" in payload:
        assignment_id = _str(payload, "assignment_id")
        rows = ctx.store.query(
            "SELECT worker_id FROM assignments WHERE assignment_id=?", (assignment_id,)
        )
        worker_id = str(rows[0][0]) if rows else ""
    else:
        accepted = accept(ctx, payload)
        assignment_id, worker_id = accepted["assignment_id"], accepted["worker_id"]
    assignments.submit(ctx.store, assignment_id, answer)
    return {"assignment_id": assignment_id, "worker_id": worker_id}


def pause_workers(ctx: MarketplaceContext, payload: Payload) -> Payload:
    ctx.crowd.paused.set()
    return {"paused": True}


def resume_workers(ctx: MarketplaceContext, payload: Payload) -> Payload:
    ctx.crowd.paused.clear()
    ctx.crowd.wake()
    return {"paused": False}


def advance_clock(ctx: MarketplaceContext, payload: Payload) -> Payload:
    seconds = payload.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise AdminError("seconds (a number >= 0) is required")
    now = ctx.store.advance_clock(float(seconds))
    ctx.crowd.wake()
    return {"now": now}


def workers(ctx: MarketplaceContext, payload: Payload) -> Payload:
    return {
        "workers": [
            {"worker_id": w.worker_id, "error_rate": w.error_rate, "spammer": w.spammer}
            for w in ctx.crowd.workers.values()
        ]
    }


ROUTES: dict[str, Callable[[MarketplaceContext, Payload], Payload]] = {
    "stats": stats,
    "faults": faults,
    "expire_hit": expire_hit,
    "auto_approve": auto_approve,
    "accept": accept,
    "return_assignment": return_assignment,
    "submit_raw": submit_raw,
    "pause_workers": pause_workers,
    "resume_workers": resume_workers,
    "advance_clock": advance_clock,
    "workers": workers,
}
READ_ONLY = frozenset({"stats", "faults", "workers"})


def handle_admin(ctx: MarketplaceContext, name: str, method: str, body: bytes) -> Response:
    route = ROUTES.get(name)
    if route is None:
        return json_response(404, {"error": f"unknown admin endpoint {name!r}"})
    if method == "GET" and name not in READ_ONLY:
        return json_response(405, {"error": f"POST /_admin/{name}"})
    try:
        payload = load_json(body or b"{}") if method == "POST" else {}
        if not isinstance(payload, dict):
            raise AdminError("the body must be a JSON object")
        return json_response(200, route(ctx, payload))
    except (AdminError, WorkRefused, MTurkError) as exc:
        message = exc.message if isinstance(exc, MTurkError) else str(exc)
        return json_response(400, {"error": message})
    except ValueError as exc:  # JSON
        return json_response(400, {"error": f"bad JSON: {exc}"})
