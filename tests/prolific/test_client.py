"""The Prolific client over real HTTP against the simulator: shapes, pages, retries, errors."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.prolific.conftest import TOKEN
from turkops.crowd import WorkSpec
from turkops.domain import ProviderError
from turkops.prolific.client import (
    ProlificAuthError,
    ProlificClient,
    ProlificRequestError,
    build_http,
)
from turkops.prolific.shapes import draft_study, study_url
from turkops.prolific_sim import RunningSimulator, SimFaults

FIXTURES = Path(__file__).parent / "fixtures"
LONG_MESSAGE = (
    "Your answers to the attention-check images, whose correct answers are unambiguous, were "
    "wrong twice in this session, so we cannot use it."
)


def work(**changes: Any) -> WorkSpec:
    base: dict[str, Any] = {
        "name": "Select the images that contain a concept",
        "description": "Tick every image that contains the concept.",
        "reward": Decimal("1.40"),
        "places": 30,
        "minutes": 7,
        "token": "turkops-abc",
        "external_url": study_url("https://tasks.example.org", "my study"),
        "completion_code": "C1ABCDEF",
        "failed_check_code": "C2ABCDEF",
        "blocked_workers": ("5f0c3a1b2c3d4e5f6a7b8c9d",),
    }
    base.update(changes)
    return WorkSpec(**base)


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively (lists by their first element)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def path_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(path).replace(r"\{id\}", "[0-9a-f]{24}") + "$")


def add_submissions(sim: RunningSimulator, study_id: str, n: int, code: str = "C1ABCDEF") -> None:
    for i in range(n):
        sub = sim.state.start_submission(study_id, f"{i:024x}")
        assert sub is not None
        sim.state.finish_submission(sub["id"], "AWAITING REVIEW", code)


def test_every_request_matches_the_fixture_written_from_the_api_reference(
    sim: RunningSimulator, client: ProlificClient
) -> None:
    study = client.create_study(draft_study(work()))
    client.transition_study(study["id"], "PUBLISH")
    draft = client.create_study(draft_study(work(token="t2")))
    client.test_study(draft["id"])
    add_submissions(sim, study["id"], 3)
    subs = list(client.submissions(study["id"]))
    client.bulk_approve([subs[0]["id"], subs[1]["id"]])
    client.reject(subs[2]["id"], LONG_MESSAGE, "FAILED_CHECK")
    bonus = client.create_bonus(study["id"], f"{subs[0]['participant_id']},0.50\n")
    client.pay_bonus(bonus["id"])
    client.add_places(study["id"], 10)
    balance = client.workspace_balance("a" * 24)
    list(client.studies())
    client.transition_study(study["id"], "STOP")

    sent = list(sim.state.requests)
    names = [
        "create_study",
        "publish_study",
        "test_study",
        "list_submissions",
        "bulk_approve",
        "reject_submission",
        "create_bonus",
        "pay_bonus",
        "stop_study",
        "update_places",
        "workspace_balance",
        "list_studies",
    ]
    for name in names:
        fx = fixture(name)
        pattern = path_pattern(fx["path"])
        matching = [
            body
            for method, path, body in sent
            if method == fx["method"]
            and pattern.match(path)
            and (
                fx["body"] is None or body is None or shape(body).keys() == shape(fx["body"]).keys()
            )
        ]
        assert matching, f"{name}: no {fx['method']} {fx['path']} was sent"
        for body in matching:
            if fx["body"] is None:
                assert body is None, name
            elif name in ("publish_study", "stop_study"):
                if body["action"] == fx["body"]["action"]:
                    assert shape(body) == shape(fx["body"])
            else:
                assert shape(body) == shape(fx["body"]), name
    # The response shapes we read match the reference too.
    assert shape(bonus) == shape(fixture("create_bonus")["response"])
    assert shape(balance) == shape(fixture("workspace_balance")["response"])
    assert sim.state.studies[study["id"]]["total_available_places"] == 40
    page = client.request("GET", f"/api/v1/studies/{study['id']}/submissions/")
    links = fixture("list_submissions")["response"]["_links"]
    assert set(page["_links"]) == set(links)
    assert all(set(page["_links"][k]) >= {"href"} for k in links)
    assert set(page["meta"]) == {"count"}
    assert set(shape(page["results"][0])) >= set(
        shape(fixture("list_submissions")["response"]["results"][0])
    )


def test_study_body_carries_every_field_the_issue_lists() -> None:
    body = draft_study(work())
    assert body["external_study_url"].endswith(
        "?PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    )
    assert body["prolific_id_option"] == "url_parameters"
    assert {c["code_type"] for c in body["completion_codes"]} == {
        "COMPLETED",
        "FAILED_ATTENTION_CHECK",
    }
    assert body["reward"] == 140 and body["total_available_places"] == 30
    assert body["estimated_completion_time"] == 7
    assert body["device_compatibility"] == ["desktop"]
    assert body["filters"] == [
        {"filter_id": "custom_blocklist", "selected_values": ["5f0c3a1b2c3d4e5f6a7b8c9d"]}
    ]
    assert "/p/my%20study?" in body["external_study_url"]


def test_list_reads_every_page(sim: RunningSimulator, client: ProlificClient) -> None:
    study = client.create_study(draft_study(work()))
    client.transition_study(study["id"], "PUBLISH")
    add_submissions(sim, study["id"], 30)
    sim.state.page_size = 7
    ids = [s["id"] for s in client.submissions(study["id"])]
    assert len(ids) == len(set(ids)) == 30


def test_bulk_approve_sends_batches_of_at_most_1000(
    sim: RunningSimulator, client: ProlificClient
) -> None:
    study = client.create_study(draft_study(work(places=2100)))
    client.transition_study(study["id"], "PUBLISH")
    add_submissions(sim, study["id"], 2100)
    ids = [s["id"] for s in sim.state.study_submissions(study["id"])]
    assert client.bulk_approve(ids) == 3
    sizes = [
        len(b["submission_ids"]) for m, p, b in sim.state.requests if p.endswith("bulk-approve/")
    ]
    assert sizes == [1000, 1000, 100]
    assert {s["status"] for s in sim.state.study_submissions(study["id"])} == {"APPROVED"}


def test_retries_429_bursts_and_5xx(sim: RunningSimulator, client: ProlificClient) -> None:
    sim.state.faults = SimFaults(burst_every=6, burst_len=3, error_rate=0.2)
    study = client.create_study(draft_study(work()))
    client.transition_study(study["id"], "PUBLISH")
    add_submissions(sim, study["id"], 25)
    sim.state.page_size = 5
    assert len(list(client.submissions(study["id"]))) == 25
    assert len(sim.state.studies) == 1
    # Faults really happened: more calls reached the server than succeeded.
    assert sim.state._calls > len(sim.state.requests) + 3


def test_gives_up_after_max_attempts_with_one_line(
    sim: RunningSimulator, client: ProlificClient
) -> None:
    sim.state.faults = SimFaults(error_rate=1.0)
    with pytest.raises(ProviderError) as info:
        client.get_study("0" * 24)
    assert "after 8 attempts" in str(info.value) and "\n" not in str(info.value)


def test_wrong_token_is_one_clear_line_without_the_token(sim: RunningSimulator) -> None:
    wrong = "wrong-" + TOKEN
    with build_http(sim.url, wrong, 5.0) as http:
        with pytest.raises(ProlificAuthError) as info:
            ProlificClient(http, backoff_seconds=0.01).create_study(draft_study(work()))
    text = str(info.value)
    assert "HTTP 401" in text and "TURKOPS_PROLIFIC_TOKEN" in text
    assert TOKEN not in text and wrong not in text and "\n" not in text
    assert TOKEN not in repr(http.headers)


def test_a_refused_request_names_prolifics_reason(client: ProlificClient) -> None:
    body = draft_study(work())
    del body["reward"]
    with pytest.raises(ProlificRequestError) as info:
        client.create_study(body)
    assert info.value.status == 400 and "reward" in str(info.value)


def test_rejection_needs_a_100_character_message(
    sim: RunningSimulator, client: ProlificClient
) -> None:
    with pytest.raises(ProlificRequestError, match="100 characters"):
        client.reject("0" * 24, "too short", "FAILED_CHECK")
    assert not any(p.endswith("/transition/") for _, p, _ in sim.state.requests)


def test_pay_is_never_retried(sim: RunningSimulator, client: ProlificClient) -> None:
    study = client.create_study(draft_study(work()))
    bonus = client.create_bonus(study["id"], "0123,0.50\n")
    sim.state.faults = SimFaults(error_rate=1.0)
    with pytest.raises(ProlificRequestError):
        client.pay_bonus(bonus["id"])
    pays = [p for _, p, _ in sim.state.requests if p.endswith("/pay/")]
    assert pays == [] and sim.state.bonus_payments == []
