"""`turkops poll` on a provider that sends workers to our task server (Prolific).

One pass lists every submission of the published work (all pages) and matches each to the
task-server session of that participant:
- finished with our completion code and a completed session -> approved in bulk, and the
  session's Assignments become Approved (paid = its share of the session reward + fees);
- finished with the failed-attention-check code -> Prolific's policy (researcher help,
  "Prolific's attention and comprehension check policy"): rejection is fair only after two
  failed checks, so we reject (FAILED_CHECK, a message the participant can read) when the
  session failed at least two, else approve; either way its ratings stay excluded, its
  task slots go back to the pool (and places are added for approved ones), and a
  rejected participant joins the blocklist (blocked_workers) for later studies;
- returned / timed out -> the session's open leases are released (services.leases).
Remote first, local after: a crash in between is repaired by the next pass, which sees the
provider's APPROVED/REJECTED state and records it (nothing is decided twice).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from turkops.crowd import CrowdProvider, Rejection, Submission, SubmissionState
from turkops.db.models import Assignment, BlockedWorker, Hit, HitType, TaskLease, TaskSession
from turkops.db.repository import Repository
from turkops.domain import AssignmentStatus, InputError, ProviderError, StudyStatus
from turkops.services.leases import (
    LeaseStatus,
    SessionStatus,
    exclude_session_work,
    release_session,
)
from turkops.services.poll import PollResult, ReviewPolicy
from turkops.services.publish import plan_of
from turkops.wiring import Runtime

log = logging.getLogger(__name__)
REJECT_AFTER_FAILED_CHECKS = 2
FAILED_CHECK_MESSAGE = (
    "Thank you for taking part. This session answered {failed} of the attention-check "
    "images wrongly; their answers are unambiguous (the concept is plainly present or "
    "absent), so under Prolific's attention-check policy we cannot accept this submission."
)


def review_sessions(
    rt: Runtime, name: str, provider: CrowdProvider, policy: ReviewPolicy
) -> PollResult:
    result = PollResult()
    with rt.transaction() as repo:
        study = repo.study(name)
        study_id, ref = study.id, study.provider_ref
        hit_type = repo.session.scalar(select(HitType).where(HitType.study_id == study_id))
        if ref is None or hit_type is None:
            raise InputError(f"study {name!r} has not been launched: run `turkops launch {name}`")
        params = dict(hit_type.params)
    code, failed_code = str(params["completion_code"]), str(params["failed_check_code"])
    per_task = plan_of(params).paid_per_task()
    submissions = list(provider.submissions(ref))
    approve: list[tuple[Submission, int]] = []
    for sub in submissions:
        with rt.transaction() as repo:
            session = _session(repo, study_id, sub.worker_id)
            session_id = None if session is None else session.id
            if sub.state in (SubmissionState.RETURNED, SubmissionState.TIMED_OUT):
                if session is not None:
                    status = (
                        SessionStatus.RETURNED
                        if sub.state == SubmissionState.RETURNED
                        else SessionStatus.TIMED_OUT
                    )
                    result.hits_changed += release_session(repo, session, status) > 0
                    # A returned session withdrew: its submitted tasks are not used (nor
                    # paid), and their slots go back to the pool.
                    _exclude(repo, study_id, session, sub, None, problem=sub.raw_status.lower())
                continue
            if sub.state in (SubmissionState.APPROVED, SubmissionState.REJECTED):
                if session is not None:
                    result.changed_behind_our_back += _record(
                        repo, study_id, session, sub, per_task
                    )
                    if sub.state == SubmissionState.REJECTED:
                        # Rejected work never counts (also when a pass died between the
                        # remote rejection and recording it): exclude, free slots, block.
                        failed = session.status == SessionStatus.FAILED_CHECK
                        _exclude(
                            repo,
                            study_id,
                            session,
                            sub,
                            provider.name if failed else None,
                            problem="failed attention check" if failed else "rejected",
                        )
                continue
            if sub.state != SubmissionState.AWAITING_REVIEW:
                continue
            if session is None:
                result.problems.append(
                    f"submission {sub.submission_id}: no task-server session for its participant"
                )
                continue
            failed = session.status == SessionStatus.FAILED_CHECK or sub.code == failed_code
            done = session.status == SessionStatus.COMPLETED and sub.code == code
            checks_failed = session.checks_failed
        if failed:
            reject = checks_failed >= REJECT_AFTER_FAILED_CHECKS
            if reject and policy.approve:
                message = FAILED_CHECK_MESSAGE.format(failed=checks_failed)
                provider.reject(sub.submission_id, Rejection(message, "FAILED_CHECK"))
                result.rejected += 1
            elif policy.approve:
                approve.append((sub, -1))  # approved, ratings excluded, places topped up
            with rt.transaction() as repo:
                session = repo.session.get(TaskSession, session_id)
                assert session is not None
                _exclude(repo, study_id, session, sub, provider.name if reject else None)
                if reject and policy.approve:
                    rejected = Submission(
                        sub.submission_id,
                        sub.work_ref,
                        sub.worker_id,
                        SubmissionState.REJECTED,
                        sub.code,
                        raw_status="REJECTED",
                    )
                    _record(repo, study_id, session, rejected, per_task)
        elif done and policy.approve:
            approve.append((sub, 1))
        elif not done:
            result.problems.append(
                f"submission {sub.submission_id}: code {sub.code!r} does not match a finished "
                "session; review it on Prolific"
            )
    if approve:
        provider.approve(ref, [s.submission_id for s, _ in approve])
        for sub, _ in approve:
            with rt.transaction() as repo:
                session = _session(repo, study_id, sub.worker_id)
                assert session is not None
                approved = Submission(
                    sub.submission_id,
                    sub.work_ref,
                    sub.worker_id,
                    SubmissionState.APPROVED,
                    sub.code,
                    raw_status="APPROVED",
                )
                _record(repo, study_id, session, approved, per_task)
                result.approved += 1
    _settle(rt, name, study_id, provider, ref, result)
    if not result.complete:
        _top_up(rt, study_id, provider, ref, int(str(params["tasks_per_session"])))
    return result


def _top_up(
    rt: Runtime, study_id: int, provider: CrowdProvider, ref: str, per_session: int
) -> None:
    """Offer more places when the free ones cannot cover the unheld task slots: excluded
    work must be redone, and the last sessions of a study get fewer tasks than a full
    session (a participant never rates the same task twice)."""
    with rt.transaction() as repo:
        held = dict(
            repo.session.execute(
                select(TaskLease.hit_row_id, func.count(TaskLease.id))
                .join(Hit, TaskLease.hit_row_id == Hit.id)
                .where(
                    Hit.study_id == study_id,
                    TaskLease.status.in_((LeaseStatus.LEASED, LeaseStatus.SUBMITTED)),
                )
                .group_by(TaskLease.hit_row_id)
            ).all()
        )
        hits = repo.session.scalars(select(Hit).where(Hit.study_id == study_id)).all()
        unheld = sum(max(0, h.max_assignments - held.get(h.id, 0)) for h in hits)
        # A session can rate at most one slot per task, so the fullest task bounds it too.
        widest = max((h.max_assignments - held.get(h.id, 0) for h in hits), default=0)
    if unheld == 0:
        return
    needed = max(math.ceil(unheld / per_session), widest)
    extra = needed - provider.places_left(ref)
    if extra > 0:
        provider.add_places(ref, extra)
        with rt.transaction() as repo:
            repo.log(study_id, "work.places_added", f"work:{ref}", extra=extra, unheld=unheld)


def _session(repo: Repository, study_id: int, participant_id: str) -> TaskSession | None:
    return repo.session.scalar(
        select(TaskSession).where(
            TaskSession.study_id == study_id, TaskSession.participant_id == participant_id
        )
    )


def _assignments(repo: Repository, session: TaskSession) -> list[Assignment]:
    # Assignment ids of task-server work are "ps-<session id>-<hit row id>" (contract).
    return list(
        repo.session.scalars(
            select(Assignment).where(Assignment.assignment_id.like(f"ps-{session.id}-%"))
        ).all()
    )


def _record(
    repo: Repository, study_id: int, session: TaskSession, sub: Submission, per_task: Decimal
) -> int:
    """The provider's decision on the session's Assignments; returns how many changed."""
    status = (
        AssignmentStatus.APPROVED
        if sub.state == SubmissionState.APPROVED
        else AssignmentStatus.REJECTED
    )
    changed = 0
    for a in _assignments(repo, session):
        if a.status == status:
            continue
        a.status = status
        a.decided_at = datetime.now(UTC)
        a.paid = per_task if status == AssignmentStatus.APPROVED else Decimal("0")
        changed += 1
    if changed:
        repo.log(
            study_id,
            f"submission.{status.lower()}",
            f"submission:{sub.submission_id}",
            session=session.id,
            assignments=changed,
            provider_status=sub.raw_status,
        )
    if status == AssignmentStatus.REJECTED and session.status == SessionStatus.ACTIVE:
        release_session(repo, session, SessionStatus.REJECTED)
    return changed


def _exclude(
    repo: Repository,
    study_id: int,
    session: TaskSession,
    sub: Submission,
    block_on: str | None,
    problem: str = "failed attention check",
) -> None:
    """Failed attention checks: ratings excluded and recorded, slots freed; a rejected
    participant is also blocked from later studies on provider `block_on`."""
    changed = 0
    for a in _assignments(repo, session):
        if a.valid:
            a.valid = False
            a.problem = problem
            changed += 1
    changed += exclude_session_work(repo, session)
    blocked = repo.session.scalar(
        select(BlockedWorker).where(
            BlockedWorker.provider == block_on, BlockedWorker.worker_id == sub.worker_id
        )
    )
    if block_on is not None and blocked is None:
        repo.session.add(
            BlockedWorker(
                provider=block_on, worker_id=sub.worker_id, reason="failed attention check"
            )
        )
        changed += 1
    if changed:  # a later pass over the same submission logs nothing again
        repo.log(
            study_id,
            "submission.excluded",
            f"submission:{sub.submission_id}",
            session=session.id,
            problem=problem,
            checks_failed=session.checks_failed,
        )


def _settle(
    rt: Runtime,
    name: str,
    study_id: int,
    provider: CrowdProvider,
    ref: str,
    result: PollResult,
) -> None:
    """Hits with enough approved, valid ratings are done; a done study is stopped."""
    with rt.transaction() as repo:
        approved = dict(
            repo.session.execute(
                select(Assignment.hit_row_id, func.count(Assignment.id))
                .join(Hit, Assignment.hit_row_id == Hit.id)
                .where(
                    Hit.study_id == study_id,
                    Assignment.status == AssignmentStatus.APPROVED,
                    Assignment.valid.is_(True),
                )
                .group_by(Assignment.hit_row_id)
            ).all()
        )
        hits = repo.session.scalars(select(Hit).where(Hit.study_id == study_id)).all()
        for hit in hits:
            if hit.status != "Reviewing" and approved.get(hit.id, 0) >= hit.max_assignments:
                hit.status = "Reviewing"
                repo.log(study_id, "hit.reviewed", f"hit:{hit.hit_id}")
        result.hits_total = len(hits)
        result.hits_done = sum(h.status == "Reviewing" for h in hits)
        study = repo.study(name)
        finished = result.complete and study.status != StudyStatus.COMPLETE
    if finished:
        try:
            provider.stop(ref)
        except ProviderError as exc:
            log.info("stopping %s: %s", ref, exc)  # already stopped/completed
        with rt.transaction() as repo:
            study = repo.study(name)
            study.status = StudyStatus.COMPLETE
            repo.log(study_id, "study.complete", f"study:{name}", work=ref)
