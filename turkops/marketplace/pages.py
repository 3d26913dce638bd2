"""The worker-facing web pages: HIT list, task preview/work pages and externalSubmit.

As on MTurk, the task page learns its context from URL parameters (assignmentId, hitId,
turkSubmitTo, workerId); in preview assignmentId is ASSIGNMENT_ID_NOT_AVAILABLE. The page's
own form posts to {turkSubmitTo}/mturk/externalSubmit, which records the Answer built by the
same function the simulated workers use.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html import escape
from urllib.parse import parse_qsl, urlencode

from turkops.marketplace import assignments
from turkops.marketplace.answers import build_answer_xml
from turkops.marketplace.assignments import WorkRefused
from turkops.marketplace.context import (
    MarketplaceContext,
    Response,
    html_response,
    raw_html,
    redirect,
)
from turkops.marketplace.errors import MTurkError
from turkops.marketplace.store import AssignmentState
from turkops.marketplace.taskpage import ASSIGNMENT_FIELD, html_from_question

PREVIEW_ASSIGNMENT_ID = "ASSIGNMENT_ID_NOT_AVAILABLE"
DEFAULT_BROWSER_WORKER_ID = "ABROWSERWORKER"
_WORKER_ID = re.compile(r"^A[A-Z0-9]{1,63}$")


def _error_page(status: int, message: str) -> Response:
    return html_response(status, "Error", f"<h1>Error</h1><p>{escape(message)}</p>")


def index_page(ctx: MarketplaceContext) -> Response:
    rows = ctx.store.query(
        "SELECT hit_id, title, n_available FROM hits WHERE status='Assignable'"
        " ORDER BY seq DESC LIMIT 100"
    )
    items = "".join(
        f"<li>{escape(r['title'])} ({r['n_available']} left): "
        f"<a href='/preview/{r['hit_id']}'>preview</a> | "
        f"<a href='/work/{r['hit_id']}?workerId={DEFAULT_BROWSER_WORKER_ID}'>work on it</a></li>"
        for r in rows
    )
    return html_response(
        200,
        "turkops local marketplace",
        "<h1>turkops local marketplace</h1><p>Newest assignable HITs:</p>"
        f"<ul>{items or '<li>none</li>'}</ul>",
    )


def task_page(ctx: MarketplaceContext, hit_id: str, query: dict[str, str]) -> Response:
    """GET /preview/<hit_id>: the task HTML; without parameters, redirect to preview mode."""
    try:
        h = ctx.store.get_hit(hit_id)
    except MTurkError:
        return _error_page(404, f"HIT {hit_id} does not exist.")
    if ASSIGNMENT_FIELD not in query:
        params = {ASSIGNMENT_FIELD: PREVIEW_ASSIGNMENT_ID, "hitId": hit_id}
        return redirect(f"/preview/{hit_id}?{urlencode(params)}")
    html = html_from_question(h["question"])
    if html is not None:
        return raw_html(200, html)
    try:
        root = ET.fromstring(h["question"])
        url = next(c.text for c in root if c.tag.endswith("ExternalURL"))
    except (ET.ParseError, StopIteration):
        return _error_page(400, "This HIT's question cannot be shown here (QuestionForm).")
    sep = "&" if "?" in (url or "") else "?"
    return redirect(f"{url}{sep}{urlencode(query)}")


def work_page(ctx: MarketplaceContext, hit_id: str, query: dict[str, str], base: str) -> Response:
    """GET /work/<hit_id>?workerId=W: accept (or resume) an assignment, then show the task."""
    worker_id = query.get("workerId", DEFAULT_BROWSER_WORKER_ID)
    if not _WORKER_ID.match(worker_id):
        return _error_page(400, "workerId must be 'A' followed by uppercase letters/digits.")
    existing = assignments.open_assignment(ctx.store, hit_id, worker_id)
    if existing is not None and existing["status"] == AssignmentState.ACCEPTED:
        assignment_id = str(existing["assignment_id"])
    elif existing is not None:
        return _error_page(400, f"Worker {worker_id} already worked on HIT {hit_id}.")
    else:
        try:
            assignment_id = assignments.accept(ctx.store, hit_id, worker_id)
        except WorkRefused as exc:
            return _error_page(400, str(exc))
    params = {
        ASSIGNMENT_FIELD: assignment_id,
        "hitId": hit_id,
        "turkSubmitTo": base,
        "workerId": worker_id,
    }
    return redirect(f"/preview/{hit_id}?{urlencode(params)}")


def external_submit(ctx: MarketplaceContext, body: bytes) -> Response:
    """POST /mturk/externalSubmit (form-urlencoded): record the posted fields as the Answer."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100_000)
    except (UnicodeDecodeError, ValueError) as exc:
        return _error_page(400, f"Could not read the submitted form: {exc}")
    ids = [v for k, v in fields if k == ASSIGNMENT_FIELD]
    if len(ids) != 1 or not ids[0] or ids[0] == PREVIEW_ASSIGNMENT_ID:
        return _error_page(400, "The form must carry exactly one accepted assignmentId.")
    answer = build_answer_xml((k, v) for k, v in fields if k != ASSIGNMENT_FIELD)
    try:
        assignments.submit(ctx.store, ids[0], answer)
    except WorkRefused as exc:
        return _error_page(400, str(exc))
    return html_response(
        200,
        "Thank you",
        f"<h1>Thank you!</h1><p>Your answers for assignment {escape(ids[0])} were "
        "submitted.</p><p><a href='/'>Back to the HIT list</a></p>",
    )
