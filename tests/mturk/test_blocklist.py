"""MTurk side of the cross-study blocklist: exact requests (botocore Stubber) and the
requirement a launch adds to the HIT type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from turkops.db.models import BlockedWorker
from turkops.mturk.gateway import MTurkGateway
from turkops.mturk.provider import MTurkProvider
from turkops.mturk.qualifications import BLOCK_QUALIFICATION, blocklist_requirement
from turkops.services.blocklist import block_worker, blocked_workers
from turkops.wiring import Runtime


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "mturk",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="y",
        endpoint_url="https://mturk-requester.us-east-1.amazonaws.com",
    )
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_block_qualification_is_created_once_and_granted(
    stubbed: tuple[Any, Stubber],
) -> None:
    client, stub = stubbed
    query = {
        "Query": BLOCK_QUALIFICATION,
        "MustBeRequestable": False,
        "MustBeOwnedByCaller": True,
        "MaxResults": 100,
    }
    stub.add_response("list_qualification_types", {"QualificationTypes": []}, query)
    stub.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": "Q1"}},
        {"Name": BLOCK_QUALIFICATION, "Description": "d", "QualificationTypeStatus": "Active"},
    )
    stub.add_response(
        "list_qualification_types",
        {"QualificationTypes": [{"QualificationTypeId": "Q1", "Name": BLOCK_QUALIFICATION}]},
        query,
    )
    stub.add_response(
        "associate_qualification_with_worker",
        {},
        {"QualificationTypeId": "Q1", "WorkerId": "W1", "IntegerValue": 1,
         "SendNotification": False},
    )  # fmt: skip
    gateway = MTurkGateway(client)
    assert gateway.ensure_qualification_type(BLOCK_QUALIFICATION, "d") == "Q1"
    assert gateway.ensure_qualification_type(BLOCK_QUALIFICATION, "d") == "Q1"
    gateway.grant_qualification("Q1", "W1")


def test_launch_excludes_blocked_workers(rt: Runtime, stubbed: tuple[Any, Stubber]) -> None:
    from decimal import Decimal

    from turkops.mturk.gateway import HitTypeSpec

    client, stub = stubbed
    spec = HitTypeSpec("t", "d", "k", Decimal("0.05"), 600, 600, ())
    provider = MTurkProvider(MTurkGateway(client), settings=rt.settings)

    def with_blocklist() -> HitTypeSpec:  # what launch does: the provider's blocklist
        return provider.with_blocklist(spec, [b.worker_id for b in blocked_workers(rt, "mturk")])

    assert with_blocklist() == spec  # nobody blocked: no calls
    assert block_worker(rt, "mturk", "W9", "spam") and not block_worker(rt, "mturk", "W9", "x")
    block_worker(rt, "prolific", "P1", "failed checks")
    stub.add_response(
        "list_qualification_types",
        {"QualificationTypes": [{"QualificationTypeId": "Q7", "Name": BLOCK_QUALIFICATION}]},
    )
    stub.add_response("associate_qualification_with_worker", {})
    blocked = with_blocklist()
    assert blocked.qualification_requirements == (blocklist_requirement("Q7"),)
    assert [b.worker_id for b in blocked_workers(rt, "mturk")] == ["W9"]
    with rt.transaction() as repo:
        assert repo.session.query(BlockedWorker).count() == 2


def test_blocked_workers_never_work_on_later_studies_on_the_local_marketplace(
    mrt: Runtime, sampled: str, market: Any
) -> None:
    from sqlalchemy import select

    from tests.mturk.test_lifecycle import poll_until_complete
    from turkops.db.models import Assignment, Worker
    from turkops.services.launch import LaunchOptions, launch_study

    blocked = [w.worker_id for w in market.workers[:4]]
    for worker_id in blocked:
        block_worker(mrt, "mturk", worker_id, "spam in an earlier study")
    launch_study(mrt, sampled, LaunchOptions(raters=3, images_per_hit=15))
    poll_until_complete(mrt, sampled, timeout=60)
    with mrt.transaction() as repo:
        workers = set(
            repo.session.scalars(
                select(Worker.worker_id).join(Assignment, Assignment.worker_row_id == Worker.id)
            ).all()
        )
    assert workers and not workers & set(blocked)
