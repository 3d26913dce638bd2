"""The simulator's Starlette app: Prolific's API v1 paths (trailing slashes as Prolific)."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from turkops.prolific_sim.state import SimError, SimState

API = "/api/v1"


def build_app(state: SimState, rng: random.Random | None = None) -> Starlette:
    """An ASGI app over `state`; every call checks `Authorization: Token <state.token>`."""
    rng = rng or random.Random()

    async def guarded(request: Request, handler: Any) -> Response:
        if state.faults.delay:
            await asyncio.sleep(state.faults.delay)
        expected = f"Token {state.token}"
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), expected.encode()):
            return _error(SimError(401, "Invalid token.", "Unauthorized"))
        if state.throttle():
            return JSONResponse(
                SimError(429, "Request was throttled.", "Too Many Requests").body(),
                status_code=429,
                headers={"Retry-After": "0"},
            )
        if state.faults.error_rate and rng.random() < state.faults.error_rate:
            return _error(SimError(500, "Internal server error", "Server Error"))
        body: Any = None
        raw = b""
        if request.method in ("POST", "PATCH"):
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return _error(SimError(400, "JSON parse error"))
        with state.lock:
            state.requests.append((request.method, request.url.path, body if raw else None))
        try:
            result = handler(request, body)
        except SimError as exc:
            return _error(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result, status_code=201 if request.method == "POST" else 200)

    def route(path: str, handler: Any, methods: list[str]) -> Route:
        async def endpoint(request: Request) -> Response:
            return await guarded(request, handler)

        return Route(path, endpoint, methods=methods)

    def create_study(request: Request, body: Any) -> Any:
        return state.create_study(body)

    def list_studies(request: Request, body: Any) -> Any:
        with state.lock:
            rows = [dict(s) for s in state.studies.values()]
        return _page(request, rows, state.page_size)

    def get_study(request: Request, body: Any) -> Any:
        return dict(state.study(request.path_params["id"]))

    def update_study(request: Request, body: Any) -> Any:
        return JSONResponse(state.update_study(request.path_params["id"], body))

    def transition(request: Request, body: Any) -> Any:
        return state.transition_study(request.path_params["id"], str(body.get("action")))

    def test_study(request: Request, body: Any) -> Any:
        return state.test_study(request.path_params["id"])

    def submissions(request: Request, body: Any) -> Any:
        rows = state.study_submissions(request.path_params["id"])
        return _page(request, rows, state.page_size)

    def bulk_approve(request: Request, body: Any) -> Any:
        if "study_id" in body and "participant_ids" in body:
            with state.lock:
                ids = [
                    s["id"]
                    for s in state.submissions.values()
                    if s["study_id"] == body["study_id"]
                    and s["participant_id"] in set(body["participant_ids"])
                ]
        else:
            ids = body.get("submission_ids")
        state.bulk_approve(ids)
        return JSONResponse({"message": "The request to bulk approve has been made successfully."})

    def transition_submission(request: Request, body: Any) -> Any:
        return JSONResponse(state.transition_submission(request.path_params["id"], body))

    def create_bonus(request: Request, body: Any) -> Any:
        return state.create_bonus(body)

    def pay_bonus(request: Request, body: Any) -> Any:
        state.pay_bonus(request.path_params["id"])
        return JSONResponse({}, status_code=202)

    def balance(request: Request, body: Any) -> Any:
        with state.lock:
            cents = state.balance_cents
        return {
            "currency_code": "USD",
            "total_balance": cents,
            "balance_breakdown": {"rewards": cents, "fees": 0, "vat": 0},
            "available_balance": cents,
        }

    routes = [
        route(f"{API}/studies/", create_study, ["POST"]),
        route(f"{API}/studies/", list_studies, ["GET"]),
        route(f"{API}/studies/{{id}}/", get_study, ["GET"]),
        route(f"{API}/studies/{{id}}/", update_study, ["PATCH"]),
        route(f"{API}/studies/{{id}}/transition/", transition, ["POST"]),
        route(f"{API}/studies/{{id}}/test-study/", test_study, ["POST"]),
        route(f"{API}/studies/{{id}}/submissions/", submissions, ["GET"]),
        route(f"{API}/submissions/bulk-approve/", bulk_approve, ["POST"]),
        route(f"{API}/submissions/{{id}}/transition/", transition_submission, ["POST"]),
        route(f"{API}/submissions/bonus-payments/", create_bonus, ["POST"]),
        route(f"{API}/bulk-bonus-payments/{{id}}/pay/", pay_bonus, ["POST"]),
        route(f"{API}/workspaces/{{id}}/balance/", balance, ["GET"]),
    ]
    return Starlette(routes=routes)


def _error(exc: SimError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status)


def _page(request: Request, rows: list[dict[str, Any]], size: int) -> dict[str, Any]:
    """Prolific's list shape: results, _links (self/next/previous/last with href), meta."""
    try:
        page = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page = 1
    last = max(1, -(-len(rows) // size))
    base = str(request.url.remove_query_params("page"))

    def link(n: int | None) -> dict[str, Any]:
        return {
            "href": None if n is None else f"{base}{'&' if '?' in base else '?'}page={n}",
            "title": "Page",
        }

    return {
        "results": rows[(page - 1) * size : page * size],
        "_links": {
            "self": link(page),
            "next": link(page + 1 if page < last else None),
            "previous": link(page - 1 if page > 1 else None),
            "last": link(last),
        },
        "meta": {"count": len(rows)},
    }
