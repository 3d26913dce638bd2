"""The /_admin/ endpoints: what MTurk and its workers do behind the requester's back."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.marketplace.helpers import admin, hit_status, new_hit, new_hit_type, wait_for
from turkops.marketplace import RunningMarketplace


def admin_error(url: str, name: str, payload: dict[str, Any] | None) -> tuple[int, str]:
    with pytest.raises(urllib.error.HTTPError) as exc:
        admin(url, name, payload)
    return exc.value.code, json.loads(exc.value.read())["error"]


def test_stats_count_calls_by_operation(paused: RunningMarketplace, pclient: Any) -> None:
    type_id = new_hit_type(pclient)
    for _ in range(3):
        new_hit(pclient, type_id)
    pclient.list_hits()
    stats = admin(paused.url, "stats")
    assert stats["calls"] == {"CreateHITType": 1, "CreateHITWithHITType": 3, "ListHITs": 1}
    assert stats["total_calls"] == 5
    assert stats["hits"] == {"Assignable": 3}
    assert stats["balance"]["committed"] == "0.54"
    assert stats["workers_paused"] is True
    admin(paused.url, "stats", {"reset": True})
    assert admin(paused.url, "stats")["calls"] == {}
    assert paused.stats() == {}


def test_expire_hit_behind_our_back(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient))["HITId"]
    assert admin(paused.url, "expire_hit", {"hit_id": hit_id})["status"] == "Reviewable"
    assert hit_status(pclient, hit_id) == "Reviewable"
    code, message = admin_error(paused.url, "expire_hit", {"hit_id": "NOPE"})
    assert code == 400 and "NOPE" in message


def test_auto_approve_behind_our_back(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=2)["HITId"]
    first = admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<a/>"})
    second = admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<b/>"})
    done = admin(paused.url, "auto_approve", {"assignment_ids": [first["assignment_id"]]})
    assert done == {"approved": [first["assignment_id"]], "skipped": []}
    with pytest.raises(pclient.exceptions.RequestError, match="status of: Submitted"):
        pclient.approve_assignment(AssignmentId=first["assignment_id"])
    assert admin(paused.url, "auto_approve", {"hit_id": hit_id})["approved"] == [
        second["assignment_id"]
    ]
    statuses = {
        a["AssignmentStatus"] for a in pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    }
    assert statuses == {"Approved"}


def test_return_assignment_frees_the_slot(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=1)["HITId"]
    held = admin(paused.url, "accept", {"hit_id": hit_id, "worker_id": "AWORKER0000001"})
    assert held["worker_id"] == "AWORKER0000001"
    assert hit_status(pclient, hit_id) == "Unassignable"
    admin(paused.url, "return_assignment", {"assignment_id": held["assignment_id"]})
    assert hit_status(pclient, hit_id) == "Assignable"
    code, message = admin_error(
        paused.url, "return_assignment", {"assignment_id": held["assignment_id"]}
    )
    assert code == 400 and "Returned" in message
    paused.resume_workers()
    wait_for(lambda: hit_status(pclient, hit_id) == "Reviewable")
    (assignment,) = pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["WorkerId"] != "AWORKER0000001"


def test_submit_raw_malformed_answers(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=3)["HITId"]
    huge = "<QuestionFormAnswers>" + "x" * 3_000_000 + "</QuestionFormAnswers>"
    for answer in ("not xml at all", "", huge):
        admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": answer})
    answers = [
        a["Answer"]
        for a in pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        if "Answer" in a
    ]
    assert "not xml at all" in answers and huge in answers
    assert hit_status(pclient, hit_id) == "Reviewable"
    code, _ = admin_error(paused.url, "submit_raw", {"hit_id": hit_id})
    assert code == 400


def test_pause_and_resume_workers(market: RunningMarketplace, client: Any) -> None:
    assert admin(market.url, "pause_workers", {}) == {"paused": True}
    hit_id = new_hit(client, new_hit_type(client))["HITId"]
    assert hit_status(client, hit_id) == "Assignable"
    assert admin(market.url, "resume_workers", {}) == {"paused": False}
    wait_for(lambda: hit_status(client, hit_id) == "Reviewable")


def test_unknown_and_misused_endpoints(market: RunningMarketplace) -> None:
    assert admin_error(market.url, "nope", {})[0] == 404
    assert admin_error(market.url, "expire_hit", None)[0] == 405
    assert admin_error(market.url, "advance_clock", {"seconds": -1})[0] == 400
    request = urllib.request.Request(
        f"{market.url}/_admin/stats",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=5)
    assert exc.value.code == 400
