"""The task page for a person: preview, work, and a real form POST to externalSubmit."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.marketplace.helpers import IMAGES, hit_status, new_hit, new_hit_type
from turkops.marketplace import RunningMarketplace, build_answer_xml, read_task_form
from turkops.marketplace.taskpage import submitted_fields


def get_raw(url: str) -> tuple[int, dict[str, str], str]:
    """GET without following redirects."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, dict(response.getheaders()), body


def post_form(url: str, fields: list[tuple[str, str]]) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=urlencode(fields).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_preview_page(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient))["HITId"]
    status, headers, _ = get_raw(f"{paused.url}/preview/{hit_id}")
    assert status == 302
    query = parse_qs(urlsplit(headers["Location"]).query)
    assert query == {"assignmentId": ["ASSIGNMENT_ID_NOT_AVAILABLE"], "hitId": [hit_id]}
    status, headers, page = get_raw(paused.url + headers["Location"])
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert 'id="mturk_form"' in page and "img/14.png" in page
    status, _, index = get_raw(paused.url + "/")
    assert status == 200 and f"/preview/{hit_id}" in index
    assert get_raw(f"{paused.url}/preview/NOSUCHHIT")[0] == 404


def test_a_person_fills_in_and_submits_a_task(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=2)["HITId"]
    status, headers, _ = get_raw(f"{paused.url}/work/{hit_id}?workerId=AHUMAN00000001")
    assert status == 302
    location = headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["hitId"] == hit_id and query["workerId"] == "AHUMAN00000001"
    assert query["turkSubmitTo"] == paused.url
    assignment_id = query["assignmentId"]
    # Opening the work page again resumes the same assignment.
    again = get_raw(f"{paused.url}/work/{hit_id}?workerId=AHUMAN00000001")[1]["Location"]
    assert parse_qs(urlsplit(again).query)["assignmentId"] == [assignment_id]

    page = get_raw(paused.url + location)[2]
    form = read_task_form(page)
    assert form is not None
    ticked = {f"item_{k}": "1" for k in (0, 2, 5)}
    fields = [("assignmentId", assignment_id)] + submitted_fields(form, ticked, tick={"consent"})
    status, body = post_form(f"{query['turkSubmitTo']}/mturk/externalSubmit", fields)
    assert status == 200 and "Thank you" in body

    (assignment,) = pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert assignment["AssignmentId"] == assignment_id
    assert assignment["WorkerId"] == "AHUMAN00000001"
    assert assignment["AssignmentStatus"] == "Submitted"
    # Byte-identical to what a simulated worker posting the same fields produces.
    assert assignment["Answer"] == build_answer_xml(fields[1:])
    assert len(form.item_indices()) == len(IMAGES)

    status, body = post_form(f"{paused.url}/mturk/externalSubmit", fields)
    assert status == 400 and "Submitted" in body
    assert post_form(f"{paused.url}/mturk/externalSubmit", [("assignmentId", "NOPE")])[0] == 400
    assert post_form(f"{paused.url}/mturk/externalSubmit", [("item_0", "1")])[0] == 400
    preview = [("assignmentId", "ASSIGNMENT_ID_NOT_AVAILABLE")]
    assert post_form(f"{paused.url}/mturk/externalSubmit", preview)[0] == 400
    # The same person cannot take the HIT twice.
    assert get_raw(f"{paused.url}/work/{hit_id}?workerId=AHUMAN00000001")[0] == 400
    assert hit_status(pclient, hit_id) == "Assignable"


@pytest.mark.parametrize("worker_id", ["lowercase", "B123"])
def test_work_page_rejects_bad_worker_ids(
    paused: RunningMarketplace, pclient: Any, worker_id: str
) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient))["HITId"]
    assert get_raw(f"{paused.url}/work/{hit_id}?workerId={worker_id}")[0] == 400


def test_external_question_preview_redirects(paused: RunningMarketplace, pclient: Any) -> None:
    external = (
        '<ExternalQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2006-07-14/ExternalQuestion.xsd"><ExternalURL>https://example.org/task?x=1</ExternalURL>'
        "<FrameHeight>600</FrameHeight></ExternalQuestion>"
    )
    hit_id = new_hit(pclient, new_hit_type(pclient), question=external)["HITId"]
    query = "assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE"
    status, headers, _ = get_raw(f"{paused.url}/preview/{hit_id}?{query}")
    assert status == 302
    assert headers["Location"] == f"https://example.org/task?x=1&{query}"
