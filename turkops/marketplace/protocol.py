"""MTurk's JSON protocol: one function per operation, request validation and response shapes.

Shapes follow botocore's mturk 2017-01-17 service model: timestamps are epoch seconds,
money is a string like "0.05". Limits follow the MTurk API reference (MaxResults 1..100,
LifetimeInSeconds and AssignmentDurationInSeconds 30..31536000, AutoApprovalDelayInSeconds
0..2592000, UniqueRequestToken up to 64 characters).
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any

from turkops.marketplace import errors, qualifications, requester
from turkops.marketplace.context import load_json
from turkops.marketplace.errors import request_error
from turkops.marketplace.money import parse_amount
from turkops.marketplace.requester import HitTypeProps
from turkops.marketplace.store import AssignmentState, Store
from turkops.marketplace.taskpage import validate_question

TARGET_PREFIX = "MTurkRequesterServiceV20170117."
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
DEFAULT_AUTO_APPROVAL_DELAY = 2_592_000  # 30 days
_COMPARATORS = {
    "LessThan", "LessThanOrEqualTo", "GreaterThan", "GreaterThanOrEqualTo", "EqualTo",
    "NotEqualTo", "Exists", "DoesNotExist", "In", "NotIn",
}  # fmt: skip

Body = dict[str, Any]


def _get(body: Body, name: str, kind: type | tuple[type, ...], required: bool) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise request_error(
                f"Value null at '{name}' failed to satisfy constraint: Member must not be null"
            )
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise request_error(f"{name} has the wrong type.")
    return value


def _text(body: Body, name: str, required: bool = False, max_len: int | None = None) -> str | None:
    value: str | None = _get(body, name, str, required)
    if value is not None and max_len is not None and len(value) > max_len:
        raise request_error(f"{name} must be at most {max_len} characters.")
    if required and value == "":
        raise request_error(f"{name} must not be empty.")
    return value


def _int(body: Body, name: str, lo: int, hi: int, default: int | None = None) -> int:
    value = _get(body, name, int, default is None)
    if value is None:
        assert default is not None
        return default
    if not lo <= value <= hi:
        raise request_error(f"{name} must be between {lo} and {hi}, got {value}.")
    return int(value)


def _bool(body: Body, name: str) -> bool:
    return bool(_get(body, name, bool, False))


def _timestamp(body: Body, name: str) -> float:
    value = _get(body, name, (int, float, str), True)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise request_error(f"{name} is not a timestamp.") from None
    return float(value)


def _page(body: Body, kind: str) -> tuple[int, int]:
    """(after_seq, limit) from NextToken/MaxResults; tokens are opaque and per operation."""
    limit = _int(body, "MaxResults", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE)
    token = _text(body, "NextToken", max_len=255)
    if token is None:
        return 0, limit
    try:
        token_kind, seq = base64.urlsafe_b64decode(token.encode()).decode().split(":")
        if token_kind != kind:
            raise ValueError(token_kind)
        return int(seq), limit
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise request_error("The NextToken is not valid for this operation.") from None


def _paged(
    key: str, kind: str, rows: list[sqlite3.Row], limit: int, shape: Callable[[sqlite3.Row], Body]
) -> Body:
    out: Body = {"NumResults": min(len(rows), limit), key: [shape(r) for r in rows[:limit]]}
    if len(rows) > limit:
        token = f"{kind}:{rows[limit - 1]['seq']}".encode()
        out["NextToken"] = base64.urlsafe_b64encode(token).decode()
    return out


def _ts(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def hit_shape(h: sqlite3.Row, with_question: bool = True) -> Body:
    out: Body = {
        "HITId": h["hit_id"],
        "HITTypeId": h["hit_type_id"],
        "HITGroupId": h["hit_group_id"],
        "CreationTime": _ts(h["creation_time"]),
        "Title": h["title"],
        "Description": h["description"],
        "HITStatus": h["status"],
        "MaxAssignments": h["max_assignments"],
        "Reward": h["reward"],
        "AutoApprovalDelayInSeconds": h["auto_approval_delay"],
        "Expiration": _ts(h["expiration"]),
        "AssignmentDurationInSeconds": h["assignment_duration"],
        "QualificationRequirements": json.loads(h["qualification_requirements"]),
        "HITReviewStatus": h["review_status"],
        "NumberOfAssignmentsPending": h["n_pending"],
        "NumberOfAssignmentsAvailable": h["n_available"],
        # MTurk's HIT data structure: "approved or rejected".
        "NumberOfAssignmentsCompleted": h["n_approved"] + h["n_rejected"],
    }
    if with_question:
        out["Question"] = h["question"]
    if h["keywords"] is not None:
        out["Keywords"] = h["keywords"]
    if h["requester_annotation"] is not None:
        out["RequesterAnnotation"] = h["requester_annotation"]
    return out


def assignment_shape(a: sqlite3.Row) -> Body:
    out: Body = {
        "AssignmentId": a["assignment_id"],
        "WorkerId": a["worker_id"],
        "HITId": a["hit_id"],
        "AssignmentStatus": a["status"],
        "AcceptTime": _ts(a["accept_time"]),
        "Deadline": _ts(a["deadline"]),
    }
    optional = {
        "AutoApprovalTime": _ts(a["auto_approval_time"]),
        "SubmitTime": _ts(a["submit_time"]),
        "ApprovalTime": _ts(a["approval_time"]),
        "RejectionTime": _ts(a["rejection_time"]),
        "Answer": a["answer"],
        "RequesterFeedback": a["requester_feedback"],
    }
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def _qualifications(body: Body) -> str:
    quals = _get(body, "QualificationRequirements", list, False) or []
    for q in quals:
        if not isinstance(q, dict) or not isinstance(q.get("QualificationTypeId"), str):
            raise request_error("Each QualificationRequirement needs a QualificationTypeId.")
        if q.get("Comparator") not in _COMPARATORS:
            raise request_error(f"Comparator {q.get('Comparator')!r} is not valid.")
    return json.dumps(quals, sort_keys=True)


def _hit_type_props(body: Body) -> HitTypeProps:
    return HitTypeProps(
        title=str(_text(body, "Title", True, 128)),
        description=str(_text(body, "Description", True, 2000)),
        keywords=_text(body, "Keywords", max_len=1000),
        reward=parse_amount(_get(body, "Reward", str, True), "Reward"),
        assignment_duration=_int(body, "AssignmentDurationInSeconds", 30, 31_536_000),
        auto_approval_delay=_int(
            body, "AutoApprovalDelayInSeconds", 0, 2_592_000, DEFAULT_AUTO_APPROVAL_DELAY
        ),
        qualification_requirements=_qualifications(body),
    )


def _create_hit(store: Store, body: Body, hit_type_id: str) -> Body:
    if body.get("HITLayoutId") is not None:
        raise request_error(
            "HITLayoutId is not supported by the local marketplace; send a Question.",
            errors.UNSUPPORTED_OPERATION,
        )
    question = str(_text(body, "Question", True))
    validate_question(question)
    h = requester.create_hit(
        store,
        hit_type_id,
        max_assignments=_int(body, "MaxAssignments", 1, 1_000_000, 1),
        lifetime=_int(body, "LifetimeInSeconds", 30, 31_536_000),
        question=question,
        annotation=_text(body, "RequesterAnnotation", max_len=255),
        token=_text(body, "UniqueRequestToken", max_len=64),
    )
    return {"HIT": hit_shape(h)}


def get_account_balance(store: Store, body: Body) -> Body:
    return {"AvailableBalance": str(store.balance().available), "OnHoldBalance": "0.00"}


def create_hit_type(store: Store, body: Body) -> Body:
    return {"HITTypeId": requester.create_hit_type(store, _hit_type_props(body))}


def create_hit_with_hit_type(store: Store, body: Body) -> Body:
    return _create_hit(store, body, str(_text(body, "HITTypeId", True, 64)))


def create_hit(store: Store, body: Body) -> Body:
    return _create_hit(store, body, requester.create_hit_type(store, _hit_type_props(body)))


def get_hit(store: Store, body: Body) -> Body:
    return {"HIT": hit_shape(store.get_hit(str(_text(body, "HITId", True))))}


def list_hits(store: Store, body: Body) -> Body:
    after, limit = _page(body, "hits")
    return _paged("HITs", "hits", requester.list_hits(store, after, limit + 1), limit, hit_shape)


def list_reviewable_hits(store: Store, body: Body) -> Body:
    after, limit = _page(body, "reviewable")
    status = _text(body, "Status") or "Reviewable"
    if status not in ("Reviewable", "Reviewing"):
        raise request_error("Status must be Reviewable or Reviewing.")
    type_id = _text(body, "HITTypeId")
    rows = requester.list_hits(store, after, limit + 1, status, type_id)
    return _paged("HITs", "reviewable", rows, limit, lambda h: hit_shape(h, with_question=False))


def list_assignments_for_hit(store: Store, body: Body) -> Body:
    after, limit = _page(body, "assignments")
    hit_id = str(_text(body, "HITId", True))
    statuses = _get(body, "AssignmentStatuses", list, False) or list(AssignmentState.listed())
    if not statuses or any(s not in AssignmentState.listed() for s in statuses):
        raise request_error("AssignmentStatuses must be Submitted, Approved or Rejected.")
    rows = requester.list_assignments(store, hit_id, statuses, after, limit + 1)
    return _paged("Assignments", "assignments", rows, limit, assignment_shape)


def get_assignment(store: Store, body: Body) -> Body:
    a = requester.get_assignment(store, str(_text(body, "AssignmentId", True)))
    return {"Assignment": assignment_shape(a), "HIT": hit_shape(store.get_hit(a["hit_id"]))}


def approve_assignment(store: Store, body: Body) -> Body:
    requester.approve(
        store,
        str(_text(body, "AssignmentId", True)),
        _text(body, "RequesterFeedback", max_len=1024),
        _bool(body, "OverrideRejection"),
    )
    return {}


def reject_assignment(store: Store, body: Body) -> Body:
    assignment_id = str(_text(body, "AssignmentId", True))
    requester.reject(store, assignment_id, str(_text(body, "RequesterFeedback", True, 1024)))
    return {}


def update_hit_review_status(store: Store, body: Body) -> Body:
    requester.set_reviewing(store, str(_text(body, "HITId", True)), _bool(body, "Revert"))
    return {}


def update_expiration_for_hit(store: Store, body: Body) -> Body:
    hit_id = str(_text(body, "HITId", True))
    requester.update_expiration(store, hit_id, _timestamp(body, "ExpireAt"))
    return {}


def delete_hit(store: Store, body: Body) -> Body:
    requester.delete_hit(store, str(_text(body, "HITId", True)))
    return {}


def send_bonus(store: Store, body: Body) -> Body:
    amount = parse_amount(_get(body, "BonusAmount", str, True), "BonusAmount")
    if amount <= 0:
        raise request_error("BonusAmount must be greater than 0.")
    requester.send_bonus(
        store,
        worker_id=str(_text(body, "WorkerId", True, 64)),
        amount=amount,
        assignment_id=str(_text(body, "AssignmentId", True)),
        reason=str(_text(body, "Reason", True, 4096)),
        token=_text(body, "UniqueRequestToken", max_len=64),
    )
    return {}


OPERATIONS: dict[str, Callable[[Store, Body], Body]] = {
    "GetAccountBalance": get_account_balance,
    "CreateHITType": create_hit_type,
    "CreateHITWithHITType": create_hit_with_hit_type,
    "CreateHIT": create_hit,
    "GetHIT": get_hit,
    "ListHITs": list_hits,
    "ListReviewableHITs": list_reviewable_hits,
    "ListAssignmentsForHIT": list_assignments_for_hit,
    "GetAssignment": get_assignment,
    "ApproveAssignment": approve_assignment,
    "RejectAssignment": reject_assignment,
    "UpdateHITReviewStatus": update_hit_review_status,
    "UpdateExpirationForHIT": update_expiration_for_hit,
    "DeleteHIT": delete_hit,
    "SendBonus": send_bonus,
    "CreateQualificationType": qualifications.create_qualification_type,
    "ListQualificationTypes": qualifications.list_qualification_types,
    "AssociateQualificationWithWorker": qualifications.associate_qualification_with_worker,
}


def dispatch(store: Store, operation: str, raw_body: bytes) -> Body:
    """Run one operation on its JSON body; raises MTurkError for MTurk-shaped failures."""
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise request_error(
            f"Operation {operation} is not supported by the local marketplace.",
            errors.UNSUPPORTED_OPERATION,
        )
    try:
        body = load_json(raw_body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise request_error("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise request_error("The request body must be a JSON object.")
    store.tick()
    return handler(store, body)
