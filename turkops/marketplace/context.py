"""The live objects one running marketplace shares between its HTTP handlers and its crowd."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from html import escape

from turkops.marketplace.faults import CallStats, FaultState
from turkops.marketplace.store import Store
from turkops.marketplace.workers import SimulatedCrowd


@dataclass(slots=True)
class MarketplaceContext:
    store: Store
    faults: FaultState
    crowd: SimulatedCrowd
    stats: CallStats = field(default_factory=CallStats)
    base_url: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """What a page or admin route answers; the handler writes it."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


def load_json(raw: bytes) -> object:
    """Parse a request body; a nesting bomb ([[[[...) is a ValueError like any bad JSON.

    json's scanner raises RecursionError, not ValueError, past Python's recursion limit: uncaught
    it killed the handler thread and the client got no answer.
    """
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def json_response(status: int, payload: object) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode())


def html_response(status: int, title: str, body_html: str) -> Response:
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title></head><body>{body_html}</body></html>"
    )
    return Response(status, page.encode(), "text/html; charset=utf-8")


def raw_html(status: int, html: str) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8")


def redirect(location: str) -> Response:
    return Response(302, b"", "text/plain", (("Location", location),))
