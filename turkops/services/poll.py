"""`turkops poll`: one pass that ingests finished HITs, pays workers and records everything.

A pass asks the provider only for Reviewable HITs (one paginated list per HIT type), so when
nothing changed it costs one call; each changed HIT costs one ListAssignmentsForHIT, one call
per decision and one UpdateHITReviewStatus, which moves it out of the Reviewable list.
Ingesting is idempotent (unique assignment id and (assignment, item) keys), and MTurk itself
refuses a second approval, so two pollers or a re-run after a crash cannot pay twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from turkops.crowd import NotActionableError, Submission, TaskPageProvider
from turkops.db.locks import claim
from turkops.db.models import Assignment, Hit, HitType, Rating
from turkops.db.repository import Repository
from turkops.domain import AssignmentStatus, InputError, StudyStatus
from turkops.wiring import Runtime

log = logging.getLogger(__name__)
DONE = frozenset({"Reviewing", "Disposed"})


@dataclass(frozen=True, slots=True)
class ReviewPolicy:
    approve: bool = True  # approve submitted work (valid or not) unless reject_invalid says no
    reject_invalid: bool = False
    reject_feedback: str = ""
    approve_feedback: str | None = None

    def __post_init__(self) -> None:
        if self.reject_invalid and not self.reject_feedback.strip():
            raise InputError("rejecting needs feedback for the worker: pass --reject-feedback")


@dataclass
class PollResult:
    hits_changed: int = 0
    ingested: int = 0
    invalid: int = 0
    approved: int = 0
    rejected: int = 0
    changed_behind_our_back: int = 0
    hits_done: int = 0
    hits_total: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.hits_total > 0 and self.hits_done == self.hits_total


def poll_study(
    rt: Runtime,
    name: str,
    policy: ReviewPolicy | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PollResult:
    """One pass; progress(reviewed, to_review) after each listing and each reviewed HIT."""
    policy = policy or ReviewPolicy()
    with rt.transaction() as repo:
        provider_name = repo.study(name).provider
    provider = rt.provider(provider_name)
    if not provider.hosts_task_pages:
        from turkops.services.review import review_sessions

        return review_sessions(rt, name, provider, policy)
    pages = cast(TaskPageProvider, provider)  # hosts_task_pages: it is one
    reviewed = to_review = 0
    result = PollResult()
    with rt.transaction() as repo:
        study = repo.study(name)
        study_id = study.id
        hit_type_ids = repo.session.scalars(
            select(HitType.hit_type_id).where(HitType.study_id == study_id)
        ).all()
    if not hit_type_ids:
        raise InputError(f"study {name!r} has not been launched: run `turkops launch {name}`")
    for hit_type_id in hit_type_ids:
        reviewable = list(pages.finished_works(hit_type_id))
        with rt.transaction() as repo:
            ours = dict(
                repo.session.execute(
                    select(Hit.hit_id, Hit.id).where(
                        Hit.study_id == study_id, Hit.hit_id.in_(reviewable)
                    )
                ).all()
            )
        to_review += len(ours)
        if progress is not None:
            progress(reviewed, to_review)
        for hit_id in reviewable:
            if hit_id not in ours:
                continue
            with claim(rt.engine, ours[hit_id]) as mine:
                if mine:  # else another poller is reviewing it right now
                    _review_hit(rt, pages, study_id, ours[hit_id], hit_id, policy, result)
            reviewed += 1
            if progress is not None:
                progress(reviewed, to_review)
    with rt.transaction() as repo:
        statuses = repo.hit_counts(study_id)
        result.hits_total = sum(statuses.values())
        result.hits_done = sum(n for s, n in statuses.items() if s in DONE)
        study = repo.study(name)
        if result.complete and study.status != StudyStatus.COMPLETE:
            study.status = StudyStatus.COMPLETE
            repo.log(study_id, "study.complete", f"study:{name}")
    return result


def _review_hit(
    rt: Runtime,
    pages: TaskPageProvider,
    study_id: int,
    hit_row_id: int,
    hit_id: str,
    policy: ReviewPolicy,
    result: PollResult,
) -> None:
    remote = list(pages.submissions(hit_id))
    result.hits_changed += 1
    for ra in remote:
        _ingest(rt, pages, study_id, hit_row_id, ra, result)
    undecided = 0
    for ra in remote:
        if ra.raw_status != AssignmentStatus.SUBMITTED:
            continue
        with rt.transaction() as repo:
            local = _assignment(repo, ra.submission_id)
            if local is None or local.status != AssignmentStatus.SUBMITTED:
                continue
            valid = local.valid
        if not policy.approve and not (policy.reject_invalid and not valid):
            undecided += 1
            continue
        if policy.reject_invalid and not valid:
            _decide(
                rt, pages, study_id, ra, AssignmentStatus.REJECTED, policy.reject_feedback, result
            )
        else:
            _decide(
                rt, pages, study_id, ra, AssignmentStatus.APPROVED, policy.approve_feedback, result
            )
    if undecided == 0:
        # Local state first: if we die before the remote call, the HIT is still Reviewable and
        # the next pass reviews it again (idempotently); the reverse order could leave a HIT
        # Reviewing remotely but open locally, and ListReviewableHITs would never show it again.
        with rt.transaction() as repo:
            hit = repo.session.get(Hit, hit_row_id)
            assert hit is not None
            if hit.status != "Reviewing":
                hit.status = "Reviewing"
                repo.log(study_id, "hit.reviewed", f"hit:{hit_id}", assignments=len(remote))
        try:
            pages.mark_reviewed(hit_id)
        except NotActionableError:
            pass  # another poller moved it to Reviewing first


def _assignment(repo: Repository, assignment_id: str) -> Assignment | None:
    return repo.session.scalar(select(Assignment).where(Assignment.assignment_id == assignment_id))


def _ingest(
    rt: Runtime,
    pages: TaskPageProvider,
    study_id: int,
    hit_row_id: int,
    ra: Submission,
    result: PollResult,
) -> None:
    """Store a remote assignment and its ratings once; later passes only sync its status."""
    try:
        with rt.transaction() as repo:
            local = _assignment(repo, ra.submission_id)
            if local is not None:
                _sync_status(repo, pages, study_id, local, ra, result)
                return
            hit = repo.session.get(Hit, hit_row_id, options=[selectinload(Hit.items)])
            assert hit is not None
            parsed = pages.parse_answer(ra.answer, len(hit.items))
            worker = repo.worker(ra.worker_id)
            local = Assignment(
                hit_row_id=hit_row_id,
                assignment_id=ra.submission_id,
                worker_row_id=worker.id,
                status=ra.raw_status,
                valid=parsed.values is not None,
                problem=parsed.problem,
                answer_raw=storable_text(ra.answer[:65536]),
                submitted_at=ra.submitted_at,
            )
            if ra.raw_status == AssignmentStatus.APPROVED:
                local.paid = hit.reward + pages.fee(hit.reward, hit.max_assignments)
                local.decided_at = datetime.now(UTC)
            repo.session.add(local)
            repo.session.flush()
            if parsed.values is not None:
                repo.session.add_all(
                    Rating(assignment_row_id=local.id, hit_item_id=item.id, value=v)
                    for item, v in zip(hit.items, parsed.values, strict=True)
                )
            repo.log(
                study_id,
                "assignment.ingested",
                f"assignment:{ra.submission_id}",
                hit=ra.work_ref,
                status=ra.raw_status,
                valid=parsed.values is not None,
                problem=parsed.problem,
                extra_fields=list(parsed.extra_fields),
            )
            result.ingested += 1
            result.invalid += parsed.values is None
    except IntegrityError:
        # Another poller stored it between our check and insert: theirs is the same data.
        log.info("assignment %s was ingested concurrently", ra.submission_id)


def storable_text(text: str) -> str:
    """`text` with NUL bytes replaced by U+FFFD: PostgreSQL text columns refuse U+0000, and a
    worker's answer is untrusted input that must be recorded, not crash every later poll."""
    return text.replace("\x00", "\ufffd")


def _sync_status(
    repo: Repository,
    pages: TaskPageProvider,
    study_id: int,
    local: Assignment,
    ra: Submission,
    result: PollResult,
) -> None:
    if local.status == ra.raw_status:
        return
    if not moves_forward(AssignmentStatus(local.status), AssignmentStatus(ra.raw_status)):
        # A list read before another poller decided (two `monitor`s): it is older than what we
        # hold, so it must not undo a decision that MTurk has already made.
        log.info(
            "assignment %s: ignoring stale remote status %s (recorded %s)",
            ra.submission_id,
            ra.raw_status,
            local.status,
        )
        return
    hit = repo.session.get(Hit, local.hit_row_id)
    assert hit is not None
    if ra.raw_status == AssignmentStatus.APPROVED:
        local.paid = hit.reward + pages.fee(hit.reward, hit.max_assignments)
    else:
        local.paid = Decimal("0")
    local.decided_at = local.decided_at or datetime.now(UTC)
    repo.log(
        study_id,
        "assignment.changed_remotely",
        f"assignment:{ra.submission_id}",
        was=local.status,
        now=ra.raw_status,
    )
    local.status = ra.raw_status
    result.changed_behind_our_back += 1


def moves_forward(was: AssignmentStatus, now: AssignmentStatus) -> bool:
    """Whether MTurk can take an assignment from `was` to `now`.

    Submitted -> Approved/Rejected, and Rejected -> Approved (ApproveAssignment with
    OverrideRejection). Approved is final; nothing goes back to Submitted.
    """
    if was == AssignmentStatus.SUBMITTED:
        return now in AssignmentStatus.final()
    return was == AssignmentStatus.REJECTED and now == AssignmentStatus.APPROVED


def _decide(
    rt: Runtime,
    pages: TaskPageProvider,
    study_id: int,
    ra: Submission,
    decision: AssignmentStatus,
    feedback: str | None,
    result: PollResult,
) -> None:
    try:
        pages.decide(ra.submission_id, decision == AssignmentStatus.APPROVED, feedback)
    except NotActionableError as exc:
        # Decided elsewhere (auto-approval, another poller): record what the provider says.
        log.info("assignment %s already decided: %s", ra.submission_id, exc)
        now = pages.submission(ra.submission_id)
        with rt.transaction() as repo:
            local = _assignment(repo, ra.submission_id)
            assert local is not None
            _sync_status(repo, pages, study_id, local, now, result)
        return
    with rt.transaction() as repo:
        local = _assignment(repo, ra.submission_id)
        assert local is not None
        hit = repo.session.get(Hit, local.hit_row_id)
        assert hit is not None
        local.status = decision
        local.decided_at = datetime.now(UTC)
        local.feedback = feedback
        if decision == AssignmentStatus.APPROVED:
            local.paid = hit.reward + pages.fee(hit.reward, hit.max_assignments)
            result.approved += 1
        else:
            local.paid = Decimal("0")
            result.rejected += 1
        repo.log(
            study_id,
            f"assignment.{decision.lower()}",
            f"assignment:{ra.submission_id}",
            paid=str(local.paid),
            feedback=feedback,
        )
