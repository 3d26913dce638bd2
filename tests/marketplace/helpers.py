"""Helpers for the marketplace tests: a fixture task page, a boto3 client, admin calls."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from turkops.marketplace import MarketplaceConfig

IMAGES = tuple(f"img/{k}.png" for k in range(15))
CONCEPT = "dog"
# Even images contain a dog.
TRUTH = {(image, CONCEPT): k % 2 == 0 for k, image in enumerate(IMAGES)}

_SESSION = boto3.session.Session()


def task_page(concept: str, images: Sequence[str]) -> str:
    """A minimal task page following the contract in docs/marketplace.md."""
    items = "".join(
        f'<div class="item" data-item="{k}"><img src="/static/{k}.png" '
        f'data-image="{escape(image)}"><input type="hidden" name="item_{k}" value="0"></div>'
        for k, image in enumerate(images)
    )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>task</title></head><body>"
        f'<p>Select all the images that contain: <span id="concept">{escape(concept)}</span></p>'
        '<form id="mturk_form" method="post">'
        '<input type="hidden" name="assignmentId" value="">'
        '<label><input type="checkbox" name="consent" value="yes"> I agree</label>'
        f"{items}"
        '<input type="submit" value="Submit"></form>'
        "<script>var p = new URLSearchParams(location.search);"
        "document.querySelector('[name=assignmentId]').value = p.get('assignmentId');"
        "document.getElementById('mturk_form').action = "
        "(p.get('turkSubmitTo') || '') + '/mturk/externalSubmit';</script>"
        "</body></html>"
    )


def html_question(html: str) -> str:
    return (
        '<HTMLQuestion xmlns="http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/'
        '2011-11-11/HTMLQuestion.xsd"><HTMLContent><![CDATA['
        f"{html}]]></HTMLContent><FrameHeight>0</FrameHeight></HTMLQuestion>"
    )


QUESTION = html_question(task_page(CONCEPT, IMAGES))


def make_client(url: str, **config: Any) -> Any:
    settings: dict[str, Any] = {"retries": {"mode": "adaptive", "max_attempts": 8}}
    settings.update(config)
    return _SESSION.client(
        "mturk",
        endpoint_url=url,
        aws_access_key_id="x",
        aws_secret_access_key="y",
        region_name="us-east-1",
        config=Config(**settings),
    )


def admin(url: str, name: str, payload: dict[str, Any] | None = None) -> Any:
    """POST (or GET when payload is None) /_admin/<name>; returns the decoded JSON."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{url}/_admin/{name}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def base_config(tmp_path: Path, **changes: Any) -> MarketplaceConfig:
    config = MarketplaceConfig(
        db_path=tmp_path / "marketplace.sqlite", seed=7, truth=TRUTH, spammer_share=0.0
    )
    return replace(config, **changes)


def new_hit_type(client: Any, reward: str = "0.05", auto_approval: int = 3600) -> str:
    return str(
        client.create_hit_type(
            AssignmentDurationInSeconds=600,
            Reward=reward,
            Title="Select the images that contain a concept",
            Description="Tick every image that contains the concept.",
            Keywords="image, labeling",
            AutoApprovalDelayInSeconds=auto_approval,
        )["HITTypeId"]
    )


def new_hit(
    client: Any,
    hit_type_id: str,
    max_assignments: int = 3,
    question: str = QUESTION,
    **extra: Any,
) -> dict[str, Any]:
    hit: dict[str, Any] = client.create_hit_with_hit_type(
        HITTypeId=hit_type_id,
        MaxAssignments=max_assignments,
        LifetimeInSeconds=3600,
        Question=question,
        **extra,
    )["HIT"]
    return hit


def hit_status(client: Any, hit_id: str) -> str:
    return str(client.get_hit(HITId=hit_id)["HIT"]["HITStatus"])
