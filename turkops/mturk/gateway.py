"""The crowd-provider interface and its MTurk implementation over a real boto3 client.

Sandbox, production and the local marketplace differ only by endpoint URL (build_gateway).
Every list call goes through a boto3 paginator; every create/pay call carries a token.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from turkops.config import Settings
from turkops.crowd import NotActionableError
from turkops.domain import ConfigError, ProviderError

log = logging.getLogger(__name__)

_HIT_ID_IN_MESSAGE = re.compile(r"HIT ?ID[^A-Z0-9]*([A-Z0-9]{20,40})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class HitTypeSpec:
    title: str
    description: str
    keywords: str
    reward: Decimal
    assignment_duration_seconds: int
    auto_approval_delay_seconds: int
    qualification_requirements: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class RemoteHit:
    hit_id: str
    status: str
    max_assignments: int
    pending: int
    available: int
    completed: int
    expiration: datetime | None
    annotation: str | None


@dataclass(frozen=True, slots=True)
class RemoteAssignment:
    assignment_id: str
    hit_id: str
    worker_id: str
    status: str
    answer: str
    submitted_at: datetime | None


class DuplicateRequestError(ProviderError):
    """A create call whose UniqueRequestToken was used before; hit_id set when MTurk names it."""

    def __init__(self, message: str, hit_id: str | None) -> None:
        super().__init__(message)
        self.hit_id = hit_id


class CrowdGateway(Protocol):
    """What the services need from a crowd provider (MTurk today; Prolific could join)."""

    def account_balance(self) -> Decimal: ...
    def create_hit_type(self, spec: HitTypeSpec) -> str: ...
    def create_hit(
        self,
        hit_type_id: str,
        question_xml: str,
        max_assignments: int,
        lifetime_seconds: int,
        token: str,
    ) -> RemoteHit: ...
    def find_hit_by_annotation(self, token: str) -> RemoteHit | None: ...
    def get_hit(self, hit_id: str) -> RemoteHit: ...
    def reviewable_hit_ids(self, hit_type_id: str) -> Iterator[str]: ...
    def assignments(self, hit_id: str) -> Iterator[RemoteAssignment]: ...
    def get_assignment(self, assignment_id: str) -> RemoteAssignment: ...
    def approve(self, assignment_id: str, feedback: str | None = None) -> None: ...
    def reject(self, assignment_id: str, feedback: str) -> None: ...
    def mark_reviewed(self, hit_id: str) -> None: ...
    def expire_hit(self, hit_id: str) -> None: ...
    def ensure_qualification_type(self, name: str, description: str) -> str: ...
    def grant_qualification(self, qualification_type_id: str, worker_id: str) -> None: ...


def _hit(raw: dict[str, Any]) -> RemoteHit:
    return RemoteHit(
        hit_id=raw["HITId"],
        status=raw.get("HITStatus", ""),
        max_assignments=int(raw.get("MaxAssignments", 0)),
        pending=int(raw.get("NumberOfAssignmentsPending", 0)),
        available=int(raw.get("NumberOfAssignmentsAvailable", 0)),
        completed=int(raw.get("NumberOfAssignmentsCompleted", 0)),
        expiration=raw.get("Expiration"),
        annotation=raw.get("RequesterAnnotation"),
    )


def _assignment(raw: dict[str, Any]) -> RemoteAssignment:
    return RemoteAssignment(
        assignment_id=raw["AssignmentId"],
        hit_id=raw.get("HITId", ""),
        worker_id=raw["WorkerId"],
        status=raw["AssignmentStatus"],
        answer=raw.get("Answer", ""),
        submitted_at=raw.get("SubmitTime"),
    )


class MTurkGateway:
    """CrowdGateway over a boto3 'mturk' client (any endpoint)."""

    def __init__(self, client: Any, unreachable_hint: str = "") -> None:
        self.client = client
        self.unreachable_hint = unreachable_hint  # appended when the endpoint cannot be reached

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        with _translated(operation, self.unreachable_hint):
            result: dict[str, Any] = getattr(self.client, operation)(**params)
        return result

    def _paginate(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        with _translated(operation, self.unreachable_hint):
            for page in self.client.get_paginator(operation).paginate(**params):
                yield from page.get(key, [])

    def account_balance(self) -> Decimal:
        return Decimal(self._call("get_account_balance")["AvailableBalance"])

    def create_hit_type(self, spec: HitTypeSpec) -> str:
        params: dict[str, Any] = {
            "AutoApprovalDelayInSeconds": spec.auto_approval_delay_seconds,
            "AssignmentDurationInSeconds": spec.assignment_duration_seconds,
            "Reward": f"{spec.reward:.2f}",
            "Title": spec.title,
            "Keywords": spec.keywords,
            "Description": spec.description,
        }
        if spec.qualification_requirements:
            params["QualificationRequirements"] = list(spec.qualification_requirements)
        return str(self._call("create_hit_type", **params)["HITTypeId"])

    def create_hit(
        self,
        hit_type_id: str,
        question_xml: str,
        max_assignments: int,
        lifetime_seconds: int,
        token: str,
    ) -> RemoteHit:
        raw = self._call(
            "create_hit_with_hit_type",
            HITTypeId=hit_type_id,
            MaxAssignments=max_assignments,
            LifetimeInSeconds=lifetime_seconds,
            Question=question_xml,
            RequesterAnnotation=token,
            UniqueRequestToken=token,
        )
        return _hit(raw["HIT"])

    def find_hit_by_annotation(self, token: str) -> RemoteHit | None:
        for raw in self._paginate("list_hits", "HITs", PaginationConfig={"PageSize": 100}):
            if raw.get("RequesterAnnotation") == token:
                return _hit(raw)
        return None

    def get_hit(self, hit_id: str) -> RemoteHit:
        return _hit(self._call("get_hit", HITId=hit_id)["HIT"])

    def reviewable_hit_ids(self, hit_type_id: str) -> Iterator[str]:
        for raw in self._paginate(
            "list_reviewable_hits",
            "HITs",
            HITTypeId=hit_type_id,
            Status="Reviewable",
            PaginationConfig={"PageSize": 100},
        ):
            yield str(raw["HITId"])

    def assignments(self, hit_id: str) -> Iterator[RemoteAssignment]:
        for raw in self._paginate(
            "list_assignments_for_hit",
            "Assignments",
            HITId=hit_id,
            AssignmentStatuses=["Submitted", "Approved", "Rejected"],
            PaginationConfig={"PageSize": 100},
        ):
            yield _assignment(raw)

    def get_assignment(self, assignment_id: str) -> RemoteAssignment:
        return _assignment(self._call("get_assignment", AssignmentId=assignment_id)["Assignment"])

    def approve(self, assignment_id: str, feedback: str | None = None) -> None:
        params: dict[str, Any] = {"AssignmentId": assignment_id}
        if feedback:
            params["RequesterFeedback"] = feedback
        self._call("approve_assignment", **params)

    def reject(self, assignment_id: str, feedback: str) -> None:
        self._call("reject_assignment", AssignmentId=assignment_id, RequesterFeedback=feedback)

    def mark_reviewed(self, hit_id: str) -> None:
        self._call("update_hit_review_status", HITId=hit_id, Revert=False)

    def ensure_qualification_type(self, name: str, description: str) -> str:
        """Our own qualification type `name` (created once per requester account)."""
        for raw in self._paginate(
            "list_qualification_types",
            "QualificationTypes",
            Query=name,
            MustBeRequestable=False,
            MustBeOwnedByCaller=True,
            PaginationConfig={"PageSize": 100},
        ):
            if raw.get("Name") == name:
                return str(raw["QualificationTypeId"])
        raw = self._call(
            "create_qualification_type",
            Name=name,
            Description=description,
            QualificationTypeStatus="Active",
        )
        return str(raw["QualificationType"]["QualificationTypeId"])

    def grant_qualification(self, qualification_type_id: str, worker_id: str) -> None:
        self._call(
            "associate_qualification_with_worker",
            QualificationTypeId=qualification_type_id,
            WorkerId=worker_id,
            IntegerValue=1,
            SendNotification=False,
        )

    def send_bonus(
        self, worker_id: str, assignment_id: str, amount: Decimal, reason: str, token: str
    ) -> None:
        self._call(
            "send_bonus",
            WorkerId=worker_id,
            AssignmentId=assignment_id,
            BonusAmount=f"{amount:.2f}",
            Reason=reason,
            UniqueRequestToken=token,
        )

    def expire_hit(self, hit_id: str) -> None:
        # MTurk expires a HIT when ExpireAt is in the past (UpdateExpirationForHIT docs).
        self._call("update_expiration_for_hit", HITId=hit_id, ExpireAt=datetime(2015, 1, 1))


@contextmanager
def _translated(operation: str, unreachable_hint: str = "") -> Iterator[None]:
    """botocore's exceptions (after its retries) as TurkopsErrors with one readable line."""
    try:
        yield
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        hint = f"; {unreachable_hint}" if unreachable_hint else ""
        raise ProviderError(f"{operation}: {exc}{hint}") from None
    except ClientError as exc:
        raise _translate(exc, operation) from None
    except NoCredentialsError:
        raise ConfigError(
            "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY (boto3's usual chain)"
        ) from None
    except BotoCoreError as exc:
        raise ProviderError(f"{operation}: {type(exc).__name__}: {exc}") from None


def _translate(exc: ClientError, operation: str) -> ProviderError:
    err = exc.response.get("Error", {})
    code, message = str(err.get("Code", "")), str(err.get("Message", ""))
    text = f"{operation}: {code}: {message}"
    lowered = message.lower()
    if "uniquerequesttoken" in lowered.replace(" ", "") or "idempotency token" in lowered:
        match = _HIT_ID_IN_MESSAGE.search(message)
        return DuplicateRequestError(text, match.group(1) if match else None)
    # MTurk's wording when an assignment/HIT is no longer in the state an operation needs
    # (ApproveAssignment, RejectAssignment, UpdateHITReviewStatus API reference).
    if code == "RequestError" and "can be called with a status of" in lowered:
        return NotActionableError(text)
    return ProviderError(text)


def build_gateway(settings: Settings) -> MTurkGateway:
    """A boto3 MTurk client for the configured endpoint, with adaptive retries."""
    url = settings.endpoint_url()
    kwargs: dict[str, Any] = {}
    if settings.is_local():
        # The local marketplace ignores signatures; dummy keys keep boto3 from searching for real
        # ones (and never send a real secret to a local process).
        kwargs = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
    client = boto3.client(
        "mturk",
        region_name=settings.aws_region,
        endpoint_url=url,
        config=Config(
            # Adaptive mode = standard retries (throttling, ServiceFault/5xx, dropped connections,
            # timeouts) plus client-side rate limiting after throttling.
            retries={"mode": "adaptive", "max_attempts": settings.api_max_attempts},
            connect_timeout=10,
            read_timeout=settings.api_timeout_seconds,
        ),
        **kwargs,
    )
    log.info("crowd endpoint %s", url)
    hint = ""
    if settings.is_local():
        hint = (
            f"is the local marketplace running? start it with `turkops marketplace serve` "
            f"(turkops looks for it at TURKOPS_LOCAL_URL={url})"
        )
        _check_listening(url, hint)
    return MTurkGateway(client, unreachable_hint=hint)


def _check_listening(url: str, hint: str) -> None:
    """Fail at once when nothing listens at the local marketplace's address: botocore would
    retry a refused connection for ~17 s (10 attempts) before the user sees the hint. Later
    calls keep botocore's retries, so a marketplace restart during a run is still survived."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=5):
            pass
    except ConnectionRefusedError:
        raise ProviderError(f"nothing listens at {url}; {hint}") from None
    except OSError:
        pass  # slow or unusual networks: leave it to botocore's retries and timeouts
