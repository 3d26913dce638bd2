"""The simulator's state: studies, submissions, bonuses, money and fault knobs (in memory)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# Fields Prolific requires on a draft study (Create a draft study, API reference).
REQUIRED_STUDY_FIELDS = (
    "name",
    "description",
    "external_study_url",
    "prolific_id_option",
    "completion_codes",
    "total_available_places",
    "estimated_completion_time",
    "reward",
)
SUBMISSION_STATUSES = (
    "ACTIVE",
    "AWAITING REVIEW",
    "APPROVED",
    "REJECTED",
    "RETURNED",
    "TIMED-OUT",
)


class SimError(Exception):
    """An API error in Prolific's shape: {"error": {"status", "error_code", "title", "detail"}}."""

    def __init__(self, status: int, detail: str, title: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(
            status, "Error"
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "status": self.status,
                "error_code": self.status * 100,
                "title": self.title,
                "detail": self.detail,
            }
        }


@dataclass
class SimFaults:
    """Fault knobs: every `burst_every`-th API call starts `burst_len` answers of 429; a share
    `error_rate` of calls answers 500 (before doing anything); each call waits `delay` s;
    participants post a task form twice with probability `duplicate_submits`."""

    burst_every: int = 0
    burst_len: int = 3
    error_rate: float = 0.0
    delay: float = 0.0
    duplicate_submits: float = 0.0


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _oid() -> str:
    return secrets.token_hex(12)  # Prolific ids are 24 hex characters (Mongo ObjectIds)


@dataclass
class SimState:
    token: str
    balance_cents: int = 1_000_000
    page_size: int = 20
    faults: SimFaults = field(default_factory=SimFaults)
    studies: dict[str, dict[str, Any]] = field(default_factory=dict)
    submissions: dict[str, dict[str, Any]] = field(default_factory=dict)
    bonuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    bonus_payments: list[str] = field(default_factory=list)  # bonus ids, one per pay call
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, body)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _burst_left: int = 0
    _calls: int = 0

    # fault decisions -------------------------------------------------------------------
    def throttle(self) -> bool:
        """True when this call gets a 429 (inside a burst)."""
        with self.lock:
            self._calls += 1
            if self._burst_left > 0:
                self._burst_left -= 1
                return True
            every = self.faults.burst_every
            if every and self._calls % every == 0:
                self._burst_left = max(0, self.faults.burst_len - 1)
                return True
            return False

    # studies -----------------------------------------------------------------------------
    def create_study(self, body: dict[str, Any]) -> dict[str, Any]:
        missing = [f for f in REQUIRED_STUDY_FIELDS if f not in body]
        if missing:
            raise SimError(400, f"missing field(s): {', '.join(missing)}")
        if not isinstance(body["reward"], int) or body["reward"] < 1:
            raise SimError(400, "reward must be a positive integer (cents)")
        if (
            not isinstance(body["total_available_places"], int)
            or body["total_available_places"] < 1
        ):
            raise SimError(400, "total_available_places must be a positive integer")
        codes = body["completion_codes"]
        if not isinstance(codes, list) or not all(
            isinstance(c, dict) and c.get("code") and c.get("code_type") for c in codes
        ):
            raise SimError(400, "completion_codes: each needs code and code_type")
        with self.lock:
            study = dict(body)
            study.update(
                id=_oid(),
                status="UNPUBLISHED",
                date_created=_now(),
                places_taken=0,
                number_of_submissions=0,
                is_test=False,
            )
            self.studies[study["id"]] = study
            return dict(study)

    def study(self, study_id: str) -> dict[str, Any]:
        with self.lock:
            found = self.studies.get(study_id)
            if found is None:
                raise SimError(404, f"study {study_id} not found")
            return found

    def transition_study(self, study_id: str, action: str) -> dict[str, Any]:
        with self.lock:
            study = self.study(study_id)
            status = study["status"]
            if action == "PUBLISH" and status == "UNPUBLISHED":
                cost = study["reward"] * study["total_available_places"]
                if cost > self.balance_cents:
                    raise SimError(400, "insufficient balance to publish this study")
                study["status"] = "ACTIVE"
            elif action == "PAUSE" and status == "ACTIVE":
                study["status"] = "PAUSED"
            elif action == "START" and status == "PAUSED":
                study["status"] = "ACTIVE"
            elif action == "STOP" and status in ("ACTIVE", "PAUSED"):
                study["status"] = "AWAITING REVIEW" if self._awaiting(study_id) else "COMPLETED"
            else:
                raise SimError(400, f"cannot {action} a study that is {status}")
            return dict(study)

    def update_study(self, study_id: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            study = self.study(study_id)
            places = body.get("total_available_places")
            if set(body) - {"total_available_places", "internal_name", "description"}:
                raise SimError(400, "only places, internal_name and description can change")
            if places is not None:
                if not isinstance(places, int) or places < study["total_available_places"]:
                    raise SimError(400, "total_available_places can only increase")
                study["total_available_places"] = places
                if study["status"] == "COMPLETED":
                    study["status"] = "ACTIVE"
            return dict(study)

    def test_study(self, study_id: str) -> dict[str, Any]:
        with self.lock:
            study = self.study(study_id)
            if study["status"] != "UNPUBLISHED":
                raise SimError(400, "only a draft study can be tested")
            study["status"] = "ACTIVE"
            study["is_test"] = True
            return {"study_id": study_id, "status": "ACTIVE"}

    def _awaiting(self, study_id: str) -> bool:
        return any(
            s["study_id"] == study_id and s["status"] == "AWAITING REVIEW"
            for s in self.submissions.values()
        )

    # submissions -------------------------------------------------------------------------
    def start_submission(self, study_id: str, participant_id: str) -> dict[str, Any] | None:
        """A participant takes a place (None when the study is not active or full)."""
        with self.lock:
            study = self.study(study_id)
            taken = sum(
                1
                for s in self.submissions.values()
                # Prolific re-offers the places of returned, timed-out and rejected work.
                if s["study_id"] == study_id
                and s["status"] not in ("RETURNED", "TIMED-OUT", "REJECTED")
            )
            if study["status"] != "ACTIVE" or taken >= study["total_available_places"]:
                return None
            sub = {
                "id": _oid(),
                "study_id": study_id,
                "participant_id": participant_id,
                "status": "ACTIVE",
                "started_at": _now(),
                "completed_at": None,
                "study_code": None,
                "is_complete": False,
                "reward": study["reward"],
            }
            self.submissions[sub["id"]] = sub
            study["places_taken"] = taken + 1
            return dict(sub)

    def finish_submission(self, submission_id: str, status: str, code: str | None) -> None:
        with self.lock:
            sub = self.submissions[submission_id]
            if sub["status"] != "ACTIVE":
                return
            sub["status"] = status
            sub["study_code"] = code
            sub["completed_at"] = _now()
            sub["is_complete"] = status == "AWAITING REVIEW"
            study = self.studies[sub["study_id"]]
            if status == "AWAITING REVIEW":
                study["number_of_submissions"] = study.get("number_of_submissions", 0) + 1
                # Prolific's completion-code actions: AUTOMATICALLY_APPROVE approves at once.
                for c in study["completion_codes"]:
                    actions = [a.get("action") for a in c.get("actions", [])]
                    if c["code"] == code and "AUTOMATICALLY_APPROVE" in actions:
                        self._approve(sub)

    def study_submissions(self, study_id: str) -> list[dict[str, Any]]:
        with self.lock:
            self.study(study_id)
            return [dict(s) for s in self.submissions.values() if s["study_id"] == study_id]

    def _approve(self, sub: dict[str, Any]) -> None:
        sub["status"] = "APPROVED"
        self.balance_cents -= int(sub["reward"])

    def bulk_approve(self, ids: list[str]) -> None:
        if not isinstance(ids, list) or not ids:
            raise SimError(400, "submission_ids must be a non-empty list")
        if len(ids) > 1000:
            raise SimError(400, "at most 1000 submission_ids per request")
        with self.lock:
            for sid in ids:
                sub = self.submissions.get(sid)
                if sub is None:
                    raise SimError(400, f"submission {sid} not found")
            for sid in ids:
                sub = self.submissions[sid]
                if sub["status"] == "AWAITING REVIEW":
                    self._approve(sub)

    def transition_submission(self, sid: str, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            sub = self.submissions.get(sid)
            if sub is None:
                raise SimError(404, f"submission {sid} not found")
            action = body.get("action")
            if sub["status"] != "AWAITING REVIEW":
                raise SimError(400, f"cannot {action} a submission that is {sub['status']}")
            if action == "APPROVE":
                self._approve(sub)
            elif action == "REJECT":
                message = body.get("message") or ""
                if len(message) < 100:
                    raise SimError(400, "message: at least 100 characters are required")
                if not body.get("rejection_category"):
                    raise SimError(400, "rejection_category is required")
                sub["status"] = "REJECTED"
                sub["rejection_category"] = body["rejection_category"]
            else:
                raise SimError(400, f"unknown action {action!r}")
            return dict(sub)

    # bonuses -----------------------------------------------------------------------------
    def create_bonus(self, body: dict[str, Any]) -> dict[str, Any]:
        study_id, csv = body.get("study_id"), body.get("csv_bonuses")
        if not study_id or not isinstance(csv, str) or not csv.strip():
            raise SimError(400, "study_id and csv_bonuses are required")
        with self.lock:
            self.study(str(study_id))
            amount = Decimal("0")
            for line in csv.strip().splitlines():
                pid, _, value = line.partition(",")
                try:
                    amount += Decimal(value)
                except ArithmeticError:
                    raise SimError(400, f"bad bonus line {line!r}") from None
            cents = int(amount * 100)
            fees = int(round(cents * 0.333))
            bonus = {
                "id": _oid(),
                "study": study_id,
                "amount": cents,
                "fees": fees,
                "vat": 0,
                "total_amount": cents + fees,
                "csv_bonuses": csv,
            }
            self.bonuses[bonus["id"]] = bonus
            return dict(bonus)

    def pay_bonus(self, bonus_id: str) -> None:
        with self.lock:
            bonus = self.bonuses.get(bonus_id)
            if bonus is None:
                raise SimError(404, f"bulk bonus payment {bonus_id} not found")
            # Like Prolific: paying twice pays twice (the endpoint is not idempotent).
            self.bonus_payments.append(bonus_id)
            self.balance_cents -= int(bonus["total_amount"])
