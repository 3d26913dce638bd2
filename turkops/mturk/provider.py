"""MTurk as a CrowdProvider: one HIT per task, over the existing MTurkGateway.

The MTurk launch/poll services keep using the gateway's finer HIT-level calls (HIT types,
reviewable lists); this adapter gives the neutral operations (balance, publish one HIT,
list, approve, reject, bonus, stop) so provider-neutral services can drive MTurk too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from turkops.crowd import PublishedWork, Rejection, Submission, SubmissionState, WorkSpec
from turkops.mturk.gateway import (
    DuplicateRequestError,
    HitTypeSpec,
    MTurkGateway,
    RemoteAssignment,
)
from turkops.mturk.questions import html_question

_STATES = {
    "Submitted": SubmissionState.AWAITING_REVIEW,
    "Approved": SubmissionState.APPROVED,
    "Rejected": SubmissionState.REJECTED,
}


class MTurkProvider:
    name = "mturk"
    hosts_task_pages = True

    def __init__(
        self,
        gateway: MTurkGateway | Callable[[], MTurkGateway],
        lifetime_seconds: int = 3 * 24 * 3600,
        qualifications: tuple[dict[str, object], ...] = (),
    ) -> None:
        # A factory is called on first use: building the provider (a dry run, a plan) must not
        # need the endpoint to answer.
        self._gateway = gateway
        self.lifetime_seconds = lifetime_seconds
        self.qualifications = qualifications
        self._hits_of: dict[str, str] = {}

    @property
    def gateway(self) -> MTurkGateway:
        if not isinstance(self._gateway, MTurkGateway):
            self._gateway = self._gateway()
        return self._gateway

    def balance(self) -> Decimal | None:
        return self.gateway.account_balance()

    def publish(self, work: WorkSpec) -> PublishedWork:
        if work.page_html is None:
            raise ValueError("an MTurk HIT needs page_html")
        hit_type_id = self.gateway.create_hit_type(
            HitTypeSpec(
                title=work.name,
                description=work.description,
                keywords="",
                reward=work.reward,
                assignment_duration_seconds=max(60, work.minutes * 60 * 4),
                auto_approval_delay_seconds=3 * 24 * 3600,
                qualification_requirements=self.qualifications,
            )
        )
        try:
            hit = self.gateway.create_hit(
                hit_type_id,
                html_question(work.page_html),
                work.places,
                self.lifetime_seconds,
                work.token,
            )
        except DuplicateRequestError as exc:
            found = self.gateway.get_hit(exc.hit_id) if exc.hit_id else None
            found = found or self.gateway.find_hit_by_annotation(work.token)
            if found is None:
                raise
            hit = found
        return PublishedWork(ref=hit.hit_id, status=hit.status)

    def find_published(self, token: str) -> PublishedWork | None:
        hit = self.gateway.find_hit_by_annotation(token)
        return None if hit is None else PublishedWork(ref=hit.hit_id, status=hit.status)

    def submissions(self, work_ref: str) -> Iterator[Submission]:
        for ra in self.gateway.assignments(work_ref):
            yield _submission(ra)

    def approve(self, work_ref: str, submission_ids: Sequence[str]) -> None:
        for assignment_id in submission_ids:
            self.gateway.approve(assignment_id)

    def reject(self, submission_id: str, rejection: Rejection) -> None:
        self.gateway.reject(submission_id, rejection.message)

    def create_bonus(
        self, work_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> str:
        # MTurk has no separate set-up step: SendBonus itself carries a UniqueRequestToken.
        return submission.submission_id

    def pay_bonus(
        self, bonus_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> None:
        self.gateway.send_bonus(submission.worker_id, bonus_ref, amount, reason, token[:64])

    def places_left(self, work_ref: str) -> int:
        return self.gateway.get_hit(work_ref).available

    def add_places(self, work_ref: str, extra: int) -> None:
        self.gateway.client.create_additional_assignments_for_hit(
            HITId=work_ref, NumberOfAdditionalAssignments=extra
        )

    def stop(self, work_ref: str) -> None:
        self.gateway.expire_hit(work_ref)


def _submission(ra: RemoteAssignment) -> Submission:
    return Submission(
        submission_id=ra.assignment_id,
        work_ref=ra.hit_id,
        worker_id=ra.worker_id,
        state=_STATES.get(ra.status, SubmissionState.OTHER),
        answer=ra.answer,
        submitted_at=ra.submitted_at,
        raw_status=ra.status,
    )
