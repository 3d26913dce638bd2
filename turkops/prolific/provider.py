"""Prolific as a CrowdProvider: one Prolific study per turkops study, sessions as places."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal

from turkops.costs import SessionPlan
from turkops.crowd import PublishedWork, Rejection, Submission, WorkSpec
from turkops.prolific.client import ProlificClient
from turkops.prolific.pricing import plan_sessions
from turkops.prolific.shapes import draft_study, study_url, submission


class ProlificProvider:
    name = "prolific"
    hosts_task_pages = False

    def __init__(
        self,
        client: ProlificClient,
        workspace: str | None = None,
        fee_rate: Decimal = Decimal("0.333"),
        vat_rate: Decimal = Decimal("0"),
    ) -> None:
        self.client = client
        self.workspace = workspace
        self.fee_rate = fee_rate
        self.vat_rate = vat_rate

    def balance(self) -> Decimal | None:
        if not self.workspace:
            return None  # Prolific reads balances per workspace only
        raw = self.client.workspace_balance(self.workspace)
        cents = raw.get("available_balance", raw.get("total_balance"))
        return None if cents is None else Decimal(int(cents)) / 100

    def publish(self, work: WorkSpec) -> PublishedWork:
        """Create the draft (or reuse the one a crashed publish left) and publish it."""
        found = self.find_published(work.token) if work.resume else None
        study = found.extra if found else None
        study_id = found.ref if found else str(self.client.create_study(draft_study(work))["id"])
        status = (study or {}).get("status", "UNPUBLISHED")
        if status == "UNPUBLISHED":
            if work.test:
                self.client.test_study(study_id)
                status = "ACTIVE"
            else:
                status = str(self.client.transition_study(study_id, "PUBLISH").get("status", ""))
        return PublishedWork(ref=study_id, status=status or "ACTIVE")

    def find_published(self, token: str) -> PublishedWork | None:
        for raw in self.client.studies():
            if raw.get("internal_name") == token:
                status = str(raw.get("status", ""))
                return PublishedWork(ref=str(raw["id"]), status=status, extra={"status": status})
        return None

    def submissions(self, work_ref: str) -> Iterator[Submission]:
        for raw in self.client.submissions(work_ref):
            yield submission(raw, work_ref)

    def approve(self, work_ref: str, submission_ids: Sequence[str]) -> None:
        if submission_ids:
            self.client.bulk_approve(list(submission_ids))

    def reject(self, submission_id: str, rejection: Rejection) -> None:
        self.client.reject(submission_id, rejection.message, rejection.category)

    def create_bonus(
        self, work_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> str:
        raw = self.client.create_bonus(work_ref, f"{submission.worker_id},{amount:.2f}\n")
        return str(raw["id"])

    def pay_bonus(
        self, bonus_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> None:
        self.client.pay_bonus(bonus_ref)

    def places_left(self, work_ref: str) -> int:
        study = self.client.get_study(work_ref)
        return max(0, int(study["total_available_places"]) - int(study.get("places_taken", 0)))

    def add_places(self, work_ref: str, extra: int) -> None:
        self.client.add_places(work_ref, extra)

    def stop(self, work_ref: str) -> None:
        self.client.transition_study(work_ref, "STOP")

    # SessionProvider: Prolific's pricing rules and its external-URL placeholders.

    def plan_sessions(
        self,
        tasks: int,
        raters: int,
        tasks_per_session: int | None,
        hourly_rate: Decimal,
        check_rate: float,
    ) -> SessionPlan:
        return plan_sessions(
            tasks, raters, tasks_per_session, hourly_rate, self.fee_rate, self.vat_rate, check_rate
        )

    def study_url(self, public_url: str, study: str) -> str:
        return study_url(public_url, study)
