"""MTurk's operations through a real boto3 client: shapes, errors, pagination, state machine."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.marketplace.helpers import (
    QUESTION,
    admin,
    hit_status,
    make_client,
    new_hit,
    new_hit_type,
    wait_for,
)
from turkops.marketplace import RunningMarketplace


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    response: dict[str, Any] = exc.value.response
    return response


def test_hit_type_and_hit_shapes(pclient: Any) -> None:
    type_id = new_hit_type(pclient)
    assert re.fullmatch(r"[A-Z0-9]{30}", type_id)
    # Same properties, same HIT type (as MTurk).
    assert new_hit_type(pclient) == type_id
    hit = new_hit(pclient, type_id, RequesterAnnotation="study-1/hit-0")
    assert re.fullmatch(r"[A-Z0-9]{30}", hit["HITId"])
    assert hit["HITTypeId"] == type_id
    assert hit["HITStatus"] == "Assignable"
    assert hit["MaxAssignments"] == 3
    assert hit["Reward"] == "0.05"
    assert hit["Question"] == QUESTION
    assert hit["RequesterAnnotation"] == "study-1/hit-0"
    assert hit["AssignmentDurationInSeconds"] == 600
    assert hit["AutoApprovalDelayInSeconds"] == 3600
    assert hit["HITReviewStatus"] == "NotReviewed"
    assert isinstance(hit["CreationTime"], datetime)
    lifetime = (hit["Expiration"] - hit["CreationTime"]).total_seconds()
    assert lifetime == pytest.approx(3600, abs=1)
    counts = [hit[f"NumberOfAssignments{k}"] for k in ("Pending", "Available", "Completed")]
    assert counts == [0, 3, 0]
    assert pclient.get_hit(HITId=hit["HITId"])["HIT"]["HITId"] == hit["HITId"]


def test_create_hit_registers_its_type(pclient: Any) -> None:
    hit = pclient.create_hit(
        MaxAssignments=2,
        LifetimeInSeconds=600,
        AssignmentDurationInSeconds=300,
        Reward="0.10",
        Title="t",
        Description="d",
        Question=QUESTION,
    )["HIT"]
    assert hit["Reward"] == "0.10"
    assert hit["AutoApprovalDelayInSeconds"] == 2_592_000  # MTurk's default: 30 days


def test_request_errors_have_mturk_shape(pclient: Any) -> None:
    with pytest.raises(pclient.exceptions.RequestError) as exc:
        pclient.get_hit(HITId="NOSUCHHIT")
    err = error_of(exc)
    assert err["Error"]["Code"] == "RequestError"
    assert re.fullmatch(r"Hit NOSUCHHIT does not exist\. \(\d{13}\)", err["Error"]["Message"])
    assert err["TurkErrorCode"] == "AWS.MechanicalTurk.HITDoesNotExist"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(pclient.exceptions.RequestError):
        pclient.get_assignment(AssignmentId="NOSUCHASSIGNMENT")
    type_id = new_hit_type(pclient)
    with pytest.raises(pclient.exceptions.RequestError, match="parsing the XML"):
        new_hit(pclient, type_id, question="<HTMLQuestion><oops>")
    with pytest.raises(pclient.exceptions.RequestError, match="LifetimeInSeconds"):
        pclient.create_hit_with_hit_type(HITTypeId=type_id, LifetimeInSeconds=5, Question=QUESTION)


def test_duplicate_unique_request_token_names_the_existing_hit(pclient: Any) -> None:
    type_id = new_hit_type(pclient)
    hit = new_hit(pclient, type_id, UniqueRequestToken="study-1/hit-0")
    with pytest.raises(pclient.exceptions.RequestError) as exc:
        new_hit(pclient, type_id, UniqueRequestToken="study-1/hit-0")
    err = error_of(exc)
    assert err["TurkErrorCode"] == "AWS.MechanicalTurk.HitAlreadyExists"
    message = err["Error"]["Message"]
    assert message.startswith(
        "There is already a HIT which exists with the same UniqueRequestToken."
    )
    assert re.search(r"HIT ID: ([A-Z0-9]+)", message).group(1) == hit["HITId"]  # type: ignore[union-attr]
    assert len(pclient.list_hits()["HITs"]) == 1
    assert pclient.get_account_balance()["AvailableBalance"] == "9999.82"  # charged once


def test_pagination_over_more_than_a_hundred_hits(pclient: Any) -> None:
    type_id = new_hit_type(pclient)
    created = [new_hit(pclient, type_id, max_assignments=1)["HITId"] for _ in range(130)]
    first = pclient.list_hits()
    assert first["NumResults"] == 10 and "NextToken" in first  # MTurk's small default page
    page = pclient.list_hits(MaxResults=100)
    assert page["NumResults"] == 100
    rest = pclient.list_hits(MaxResults=100, NextToken=page["NextToken"])
    assert rest["NumResults"] == 30 and "NextToken" not in rest
    listed = [h["HITId"] for p in pclient.get_paginator("list_hits").paginate() for h in p["HITs"]]
    assert listed == created
    for hit_id in created[:105]:
        pclient.update_expiration_for_hit(HITId=hit_id, ExpireAt=datetime(2015, 1, 1))
    reviewable = [
        h["HITId"]
        for p in pclient.get_paginator("list_reviewable_hits").paginate(
            HITTypeId=type_id, PaginationConfig={"PageSize": 100}
        )
        for h in p["HITs"]
    ]
    assert reviewable == created[:105]
    with pytest.raises(pclient.exceptions.RequestError, match="NextToken"):
        pclient.list_hits(NextToken="garbage")


def test_state_machine_through_review(paused: RunningMarketplace, pclient: Any) -> None:
    type_id = new_hit_type(pclient)
    hit_id = new_hit(pclient, type_id, max_assignments=2)["HITId"]
    first = admin(paused.url, "accept", {"hit_id": hit_id})
    second = admin(paused.url, "accept", {"hit_id": hit_id})
    hit = pclient.get_hit(HITId=hit_id)["HIT"]
    assert hit["HITStatus"] == "Unassignable"
    assert (hit["NumberOfAssignmentsPending"], hit["NumberOfAssignmentsAvailable"]) == (2, 0)
    # Accepted assignments are invisible to the requester.
    assert pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"] == []
    with pytest.raises(pclient.exceptions.RequestError, match="Reviewable,Approved,Rejected"):
        pclient.get_assignment(AssignmentId=first["assignment_id"])
    for a in (first, second):
        admin(paused.url, "submit_raw", {"assignment_id": a["assignment_id"], "answer": "<x/>"})
    assert hit_status(pclient, hit_id) == "Reviewable"
    listed = pclient.list_assignments_for_hit(HITId=hit_id)["Assignments"]
    assert {a["AssignmentStatus"] for a in listed} == {"Submitted"}
    assert {a["WorkerId"] for a in listed} == {first["worker_id"], second["worker_id"]}
    got = pclient.get_assignment(AssignmentId=first["assignment_id"])
    assert got["Assignment"]["Answer"] == "<x/>" and got["HIT"]["HITId"] == hit_id

    pclient.approve_assignment(AssignmentId=first["assignment_id"], RequesterFeedback="thanks")
    with pytest.raises(pclient.exceptions.RequestError) as exc:
        pclient.approve_assignment(AssignmentId=first["assignment_id"])
    assert "This operation can be called with a status of: Submitted" in str(exc.value)
    pclient.reject_assignment(AssignmentId=second["assignment_id"], RequesterFeedback="empty")
    with pytest.raises(pclient.exceptions.RequestError, match="status of: Submitted"):
        pclient.reject_assignment(AssignmentId=second["assignment_id"], RequesterFeedback="x")
    by_status = pclient.list_assignments_for_hit(HITId=hit_id, AssignmentStatuses=["Rejected"])
    assert [a["AssignmentId"] for a in by_status["Assignments"]] == [second["assignment_id"]]
    assert pclient.get_hit(HITId=hit_id)["HIT"]["NumberOfAssignmentsCompleted"] == 2

    pclient.update_hit_review_status(HITId=hit_id, Revert=False)
    assert hit_status(pclient, hit_id) == "Reviewing"
    assert pclient.list_reviewable_hits(Status="Reviewing")["HITs"][0]["HITId"] == hit_id
    assert pclient.list_reviewable_hits()["NumResults"] == 0
    with pytest.raises(pclient.exceptions.RequestError, match="status of: Reviewable"):
        pclient.update_hit_review_status(HITId=hit_id, Revert=False)
    pclient.update_hit_review_status(HITId=hit_id, Revert=True)
    assert hit_status(pclient, hit_id) == "Reviewable"

    pclient.delete_hit(HITId=hit_id)
    assert hit_status(pclient, hit_id) == "Disposed"
    assert pclient.list_hits()["HITs"] == []
    with pytest.raises(pclient.exceptions.RequestError, match="Disposed"):
        pclient.delete_hit(HITId=hit_id)


def test_reject_requires_feedback_and_override_rejection(
    paused: RunningMarketplace, pclient: Any
) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=1)["HITId"]
    a = admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<x/>"})
    raw = make_client(paused.url, parameter_validation=False)
    with pytest.raises(raw.exceptions.RequestError, match="RequesterFeedback"):
        raw.reject_assignment(AssignmentId=a["assignment_id"])
    pclient.reject_assignment(AssignmentId=a["assignment_id"], RequesterFeedback="no")
    before = Decimal(pclient.get_account_balance()["AvailableBalance"])
    pclient.approve_assignment(AssignmentId=a["assignment_id"], OverrideRejection=True)
    after = Decimal(pclient.get_account_balance()["AvailableBalance"])
    assert before - after == Decimal("0.06")
    assert (
        pclient.get_assignment(AssignmentId=a["assignment_id"])["Assignment"]["AssignmentStatus"]
        == "Approved"
    )


def test_delete_only_after_review(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=1)["HITId"]
    with pytest.raises(pclient.exceptions.RequestError, match="Assignable"):
        pclient.delete_hit(HITId=hit_id)
    a = admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<x/>"})
    with pytest.raises(pclient.exceptions.RequestError, match="Submitted"):
        pclient.delete_hit(HITId=hit_id)
    pclient.approve_assignment(AssignmentId=a["assignment_id"])
    pclient.delete_hit(HITId=hit_id)


def test_expiration_and_extension(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient), max_assignments=3)["HITId"]
    admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<x/>"})
    held = admin(paused.url, "accept", {"hit_id": hit_id})
    pclient.update_expiration_for_hit(HITId=hit_id, ExpireAt=datetime(2015, 1, 1))
    hit = pclient.get_hit(HITId=hit_id)["HIT"]
    # A worker still holds an assignment: not reviewable until it is submitted or returned.
    assert hit["HITStatus"] == "Unassignable" and hit["NumberOfAssignmentsAvailable"] == 0
    assert hit["Expiration"] == datetime(2015, 1, 1, tzinfo=UTC)
    admin(paused.url, "return_assignment", {"assignment_id": held["assignment_id"]})
    assert hit_status(pclient, hit_id) == "Reviewable"
    # Committed: only the submitted assignment (0.06) is still owed.
    assert pclient.get_account_balance()["AvailableBalance"] == "9999.94"
    future = datetime.fromtimestamp(admin(paused.url, "stats")["clock"] + 3600, UTC)
    pclient.update_expiration_for_hit(HITId=hit_id, ExpireAt=future)
    hit = pclient.get_hit(HITId=hit_id)["HIT"]
    assert hit["HITStatus"] == "Assignable" and hit["NumberOfAssignmentsAvailable"] == 2
    assert pclient.get_account_balance()["AvailableBalance"] == "9999.82"


def test_lifetime_runs_out(paused: RunningMarketplace, pclient: Any) -> None:
    hit_id = new_hit(pclient, new_hit_type(pclient))["HITId"]
    admin(paused.url, "advance_clock", {"seconds": 3601})
    assert hit_status(pclient, hit_id) == "Reviewable"
    assert pclient.get_account_balance()["AvailableBalance"] == "10000.00"
    assert [h["HITId"] for h in pclient.list_reviewable_hits()["HITs"]] == [hit_id]


def test_balance_fees_and_bonus(paused: RunningMarketplace, pclient: Any) -> None:
    def available() -> Decimal:
        return Decimal(pclient.get_account_balance()["AvailableBalance"])

    small = new_hit_type(pclient, reward="0.05")
    new_hit(pclient, small, max_assignments=3)  # 3 x (0.05 + 0.01 minimum fee)
    assert available() == Decimal("9999.82")
    big = new_hit_type(pclient, reward="1.00")
    hit_id = new_hit(pclient, big, max_assignments=10)["HITId"]  # 10 x (1.00 + 40%)
    assert available() == Decimal("9985.82")
    odd = new_hit_type(pclient, reward="0.12")
    new_hit(pclient, odd, max_assignments=1)  # 0.12 + 0.024 rounded to 0.02
    assert available() == Decimal("9985.68")
    a = admin(paused.url, "submit_raw", {"hit_id": hit_id, "answer": "<x/>"})
    pclient.approve_assignment(AssignmentId=a["assignment_id"])
    assert available() == Decimal("9985.68")  # paid out of the commitment
    pclient.send_bonus(
        WorkerId=a["worker_id"],
        BonusAmount="0.50",
        AssignmentId=a["assignment_id"],
        Reason="great work",
        UniqueRequestToken="bonus-1",
    )
    assert available() == Decimal("9985.08")  # 0.50 + 0.10 fee
    with pytest.raises(pclient.exceptions.RequestError, match="already been processed"):
        pclient.send_bonus(
            WorkerId=a["worker_id"],
            BonusAmount="0.50",
            AssignmentId=a["assignment_id"],
            Reason="great work",
            UniqueRequestToken="bonus-1",
        )
    assert available() == Decimal("9985.08")
    stats = admin(paused.url, "stats")["balance"]
    total = sum(Decimal(stats[k]) for k in ("available", "committed", "spent"))
    assert total == Decimal(stats["deposits"])


def test_insufficient_funds(start: Any) -> None:
    m = start(initial_balance=Decimal("1.00"))
    m.pause_workers()
    client = make_client(m.url)
    type_id = new_hit_type(client, reward="0.50")
    with pytest.raises(client.exceptions.RequestError, match="Insufficient funds") as exc:
        new_hit(client, type_id, max_assignments=3)
    assert exc.value.response["TurkErrorCode"] == "AWS.MechanicalTurk.InsufficientFunds"
    new_hit(client, type_id, max_assignments=1)
    assert client.get_account_balance()["AvailableBalance"] == "0.40"


def test_auto_approval_after_delay(market: RunningMarketplace, client: Any) -> None:
    hit_id = new_hit(client, new_hit_type(client, auto_approval=3600))["HITId"]

    def statuses() -> list[str]:
        listed = client.list_assignments_for_hit(HITId=hit_id)["Assignments"]
        return [a["AssignmentStatus"] for a in listed]

    wait_for(lambda: statuses() == ["Submitted"] * 3)
    admin(market.url, "advance_clock", {"seconds": 3601})
    assert statuses() == ["Approved"] * 3
    assignment = client.list_assignments_for_hit(HITId=hit_id)["Assignments"][0]
    assert assignment["ApprovalTime"] == assignment["AutoApprovalTime"]


def test_unsupported_operation_and_bad_target(market: RunningMarketplace, client: Any) -> None:
    with pytest.raises(client.exceptions.RequestError, match="not supported"):
        client.list_bonus_payments(HITId="X")
    raw = make_client(market.url, parameter_validation=False)
    with pytest.raises(raw.exceptions.RequestError, match="HITId"):
        raw.get_hit(HITId="")
    with pytest.raises(raw.exceptions.RequestError, match="MaxResults"):
        raw.list_hits(MaxResults=101)
