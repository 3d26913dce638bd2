"""MTurk as a CrowdProvider: one HIT per task, over the MTurkGateway.

Besides the neutral operations (balance, publish, list, approve, reject, bonus, stop) it is a
TaskPageProvider: the HIT-level calls the launch/poll services make (HIT types with the
blocklist qualification, CreateHIT with UniqueRequestToken and adopt-on-duplicate, reviewable
lists, per-assignment decisions), with MTurk's fee schedule and answer format inside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal

from turkops.config import Settings
from turkops.costs import CostPlan
from turkops.crowd import (
    ParsedAnswer,
    PublishedWork,
    Rejection,
    Submission,
    SubmissionState,
    WorkSpec,
)
from turkops.mturk.answers import parse_answer
from turkops.mturk.gateway import (
    DuplicateRequestError,
    HitTypeSpec,
    MTurkGateway,
    RemoteAssignment,
    RemoteHit,
)
from turkops.mturk.pricing import fee_per_assignment, plan_cost
from turkops.mturk.qualifications import (
    BLOCK_QUALIFICATION,
    blocklist_requirement,
    qualification_requirements,
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
        settings: Settings | None = None,
    ) -> None:
        # A factory defers connecting (and checking that the endpoint listens) to the first
        # remote call, so `launch --dry-run` and pricing work with no marketplace running.
        self._gateway = gateway if isinstance(gateway, MTurkGateway) else None
        self._make_gateway = None if isinstance(gateway, MTurkGateway) else gateway
        self.lifetime_seconds = lifetime_seconds
        self.qualifications = qualifications
        self.settings = settings
        self._hits_of: dict[str, str] = {}

    @property
    def gateway(self) -> MTurkGateway:
        if self._gateway is None:
            assert self._make_gateway is not None
            self._gateway = self._make_gateway()
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

    # TaskPageProvider: the HIT-level calls of the launch and poll services.

    def plan_cost(self, tasks: int, raters: int, reward: Decimal, per_task: int) -> CostPlan:
        return plan_cost(tasks, raters, reward, per_task)

    def fee(self, reward: Decimal, places: int) -> Decimal:
        return fee_per_assignment(reward, places)

    def task_type(
        self, reward: Decimal, images_per_task: int, blocked_workers: Sequence[str]
    ) -> tuple[str, dict[str, object]]:
        s = self._settings()
        spec = HitTypeSpec(
            title=s.hit_title,
            description=s.hit_description.replace("15 images", f"{images_per_task} images"),
            keywords=s.hit_keywords,
            reward=reward,
            assignment_duration_seconds=s.assignment_duration_seconds,
            auto_approval_delay_seconds=s.auto_approval_delay_seconds,
            qualification_requirements=qualification_requirements(s),
        )
        spec = self.with_blocklist(spec, blocked_workers)
        params: dict[str, object] = {
            "title": spec.title,
            "description": spec.description,
            "keywords": spec.keywords,
            "reward": str(spec.reward),
            "duration": spec.assignment_duration_seconds,
            "auto_approval": spec.auto_approval_delay_seconds,
            "qualifications": list(spec.qualification_requirements),
        }
        return self.gateway.create_hit_type(spec), params

    def with_blocklist(self, spec: HitTypeSpec, blocked_workers: Sequence[str]) -> HitTypeSpec:
        """Blocked workers hold our block qualification; the HIT type excludes them."""
        if not blocked_workers:
            return spec
        qid = self.gateway.ensure_qualification_type(
            BLOCK_QUALIFICATION, "Workers whose earlier turkops work could not be accepted."
        )
        for worker_id in blocked_workers:
            self.gateway.grant_qualification(qid, worker_id)
        return replace(
            spec,
            qualification_requirements=(
                *spec.qualification_requirements,
                blocklist_requirement(qid),
            ),
        )

    def publish_task(
        self, type_ref: str, page_html: str, places: int, token: str, look_up_first: bool
    ) -> tuple[PublishedWork, bool]:
        s = self._settings()
        remote: RemoteHit | None = None
        adopted = False
        if look_up_first:
            # MTurk forgets a UniqueRequestToken 24 h after first seeing it: the HIT's
            # RequesterAnnotation carries the same token, so look for it before retrying.
            remote = self.gateway.find_hit_by_annotation(token)
            adopted = True
        if remote is None:
            try:
                remote = self.gateway.create_hit(
                    type_ref,
                    html_question(page_html, s.frame_height),
                    places,
                    s.hit_lifetime_seconds,
                    token,
                )
                adopted = False
            except DuplicateRequestError as exc:
                remote = (
                    self.gateway.get_hit(exc.hit_id)
                    if exc.hit_id
                    else self.gateway.find_hit_by_annotation(token)
                )
                if remote is None:
                    raise
                adopted = True
        work = PublishedWork(ref=remote.hit_id, status=remote.status, expires_at=remote.expiration)
        return work, adopted

    def finished_works(self, type_ref: str) -> Iterator[str]:
        return self.gateway.reviewable_hit_ids(type_ref)

    def submission(self, submission_id: str) -> Submission:
        return _submission(self.gateway.get_assignment(submission_id))

    def decide(self, submission_id: str, approve: bool, feedback: str | None) -> None:
        if approve:
            self.gateway.approve(submission_id, feedback)
        else:
            self.gateway.reject(submission_id, feedback or "")

    def mark_reviewed(self, work_ref: str) -> None:
        self.gateway.mark_reviewed(work_ref)

    def parse_answer(self, answer: str, n_items: int) -> ParsedAnswer:
        return parse_answer(answer, n_items)

    def _settings(self) -> Settings:
        if self.settings is None:
            raise ValueError("this MTurkProvider was built without settings")
        return self.settings


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
