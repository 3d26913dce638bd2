"""The provider-neutral crowd interface the services use (MTurk and Prolific implement it).

Words: a *work* is what a provider lists for workers (an MTurk HIT; a Prolific study), a
*submission* is one worker's finished part of it (an MTurk assignment; a Prolific
submission). Statuses are mapped to SubmissionState, so a service never needs to know
which provider answered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from turkops.costs import CostPlan, SessionPlan
from turkops.domain import ProviderError


class SubmissionState(StrEnum):
    """A submission's state in provider-neutral words."""

    ACTIVE = "active"  # the worker is still on it
    AWAITING_REVIEW = "awaiting_review"  # finished, waits for our approve/reject
    APPROVED = "approved"
    REJECTED = "rejected"
    RETURNED = "returned"  # the worker gave it back unfinished
    TIMED_OUT = "timed_out"
    OTHER = "other"  # a state turkops does not act on (e.g. Prolific SCREENED OUT)


@dataclass(frozen=True, slots=True)
class WorkSpec:
    """What to publish. A provider that hosts task pages (MTurk) takes `page_html` and
    creates one work per task; one that sends workers to an external URL (Prolific) takes
    `external_url` and publishes one work with `places` places."""

    name: str
    description: str
    reward: Decimal  # per place, in the provider's currency unit (USD, GBP), not cents
    places: int
    minutes: int  # estimated completion time of one place
    token: str  # idempotency token / internal name: how a retried publish finds its work
    external_url: str | None = None
    page_html: str | None = None
    completion_code: str = ""
    failed_check_code: str = ""
    blocked_workers: tuple[str, ...] = ()
    test: bool = False  # publish in the provider's test mode (no real workers, no money)
    resume: bool = False  # an earlier publish may have created it: look it up by token first


@dataclass(frozen=True, slots=True)
class Submission:
    submission_id: str
    work_ref: str
    worker_id: str
    state: SubmissionState
    code: str | None = None  # the completion code the worker came back with (Prolific)
    answer: str = ""  # the answer document (MTurk); empty where the task server holds it
    submitted_at: datetime | None = None
    raw_status: str = ""  # the provider's own word, for the event log


@dataclass(frozen=True, slots=True)
class Rejection:
    """A rejection the worker can read; `category` is the provider's reason code if any."""

    message: str
    category: str = "OTHER"


@dataclass(frozen=True, slots=True)
class PublishedWork:
    ref: str  # the provider's id of the work (HIT id, Prolific study id)
    status: str
    extra: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    """One submitted task page read back: one 0/1 per position, or why it is unusable."""

    values: tuple[int, ...] | None  # one 0/1 per task position, None when unusable
    consent: bool
    problem: str | None
    extra_fields: tuple[str, ...] = ()


class NotActionableError(ProviderError):
    """The provider refused a state change because the object is no longer in that state."""


class CrowdProvider(Protocol):
    """Publish work, list finished work, approve, reject, pay a bonus, stop, balance."""

    name: str  # stored in studies.provider
    hosts_task_pages: bool  # True: the provider shows our HTML; False: it sends workers to us

    def balance(self) -> Decimal | None:
        """Spendable balance, or None when the provider's API cannot tell."""
        ...

    def publish(self, work: WorkSpec) -> PublishedWork: ...
    def find_published(self, token: str) -> PublishedWork | None:
        """The work an earlier (maybe crashed) publish with this token created, if any."""
        ...

    def submissions(self, work_ref: str) -> Iterator[Submission]:
        """Every submission of the work, all pages."""
        ...

    def approve(self, work_ref: str, submission_ids: Sequence[str]) -> None: ...
    def reject(self, submission_id: str, rejection: Rejection) -> None: ...
    def create_bonus(
        self, work_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> str:
        """Set a bonus up (not paid yet); returns the provider's bonus id."""
        ...

    def pay_bonus(
        self, bonus_ref: str, submission: Submission, amount: Decimal, reason: str, token: str
    ) -> None:
        """Pay a bonus that create_bonus set up (same arguments); never call twice for one."""
        ...

    def places_left(self, work_ref: str) -> int:
        """Places not yet taken by a worker (returned/timed-out places count as free)."""
        ...

    def add_places(self, work_ref: str, extra: int) -> None:
        """Offer `extra` more places (work we approved but excluded must be redone)."""
        ...

    def stop(self, work_ref: str) -> None: ...


class TaskPageProvider(CrowdProvider, Protocol):
    """A provider that shows our task page itself, one work per task (MTurk's HITs).

    The services keep the crash-safety bookkeeping (rows committed before any remote call);
    these are the remote calls, with the provider's own rules (fees, tokens) inside."""

    def plan_cost(self, tasks: int, raters: int, reward: Decimal, per_task: int) -> CostPlan: ...
    def fee(self, reward: Decimal, places: int) -> Decimal:
        """The provider's fee on one submission of a work with `places` places."""
        ...

    def task_type(
        self, reward: Decimal, images_per_task: int, blocked_workers: Sequence[str]
    ) -> tuple[str, dict[str, object]]:
        """Register the kind of work (MTurk HIT type) that excludes `blocked_workers`;
        returns its id and the parameters it was made from (recorded, hashed)."""
        ...

    def publish_task(
        self, type_ref: str, page_html: str, places: int, token: str, look_up_first: bool
    ) -> tuple[PublishedWork, bool]:
        """Publish one task page exactly once per token; returns the work and whether an
        earlier attempt's work was adopted (found by token) instead of created now.
        `look_up_first`: the provider may have forgotten the token, look the work up first."""
        ...

    def finished_works(self, type_ref: str) -> Iterator[str]:
        """Works of this type whose submissions await review (all pages)."""
        ...

    def submission(self, submission_id: str) -> Submission: ...
    def decide(self, submission_id: str, approve: bool, feedback: str | None) -> None:
        """Approve (optional feedback) or reject (feedback required) one submission; raises
        NotActionableError when it was decided already."""
        ...

    def mark_reviewed(self, work_ref: str) -> None:
        """Take a reviewed work off the provider's to-review list."""
        ...

    def parse_answer(self, answer: str, n_items: int) -> ParsedAnswer: ...


class SessionProvider(CrowdProvider, Protocol):
    """A provider that sends workers to the task server in sessions of tasks (Prolific)."""

    def plan_sessions(
        self,
        tasks: int,
        raters: int,
        tasks_per_session: int | None,
        hourly_rate: Decimal,
        check_rate: float,
    ) -> SessionPlan: ...
    def study_url(self, public_url: str, study: str) -> str:
        """The external URL of `study` on the task server, with the provider's placeholders."""
        ...
