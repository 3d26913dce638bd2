"""Use cases of the participant-facing task server: sessions, leases, submissions, expiry.

Concurrency: every write transaction here starts by locking the participant's session row,
so a double click or two tabs are serialised. Tasks are handed out under a row lock on the
task (PostgreSQL `FOR UPDATE SKIP LOCKED`: concurrent participants skip a task another one
is being given and take the next). SQLite has one writer: the transaction starts with
`BEGIN IMMEDIATE`, so the count-then-insert of a lease cannot interleave with another.
Rule kept: for every task, leases leased + submitted <= max_assignments, and a session holds
a task at most once (unique (session, task)).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from turkops.db.models import (
    Assignment,
    BlockedWorker,
    Hit,
    HitItem,
    HitType,
    Input,
    Rating,
    Sample,
    Study,
    TaskLease,
    TaskSession,
    utcnow,
)
from turkops.db.repository import Repository
from turkops.domain import AssignmentStatus, InputError, NotFoundError
from turkops.services.checks import (
    MAX_FAILED_CHECKS,
    CheckPool,
    build_check_pool,
    check_page,
    check_positions,
    grade_check,
)
from turkops.services.images import image_url, inline_data_url
from turkops.services.leases import (
    LeaseStatus,
    SessionStatus,
    begin_write,
    held_task,
    lease_task,
    lock_session,
    release_session,
)
from turkops.taskpage import TaskImage
from turkops.wiring import Runtime

log = logging.getLogger(__name__)

PROVIDER = "prolific"  # the crowd whose participants arrive through the task server
DEFAULT_TASKS_PER_SESSION = 20
DEFAULT_CHECK_RATE = 0.2
DEFAULT_LEASE_SECONDS = 900


@dataclass(frozen=True, slots=True)
class StudyParams:
    """What launch stored in the HitType's params (keys of the P1/P2 contract)."""

    tasks_per_session: int = DEFAULT_TASKS_PER_SESSION
    completion_code: str = "COMPLETED"
    failed_check_code: str = "FAILED_ATTENTION_CHECK"
    check_rate: float = DEFAULT_CHECK_RATE
    lease_seconds: int = DEFAULT_LEASE_SECONDS


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    study_id: int
    study_name: str
    participant_id: str
    status: str
    consented: bool
    completion_code: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """A page to show: key 'h<hit row id>' (real task) or 'c<check number>' (attention check)."""

    key: str
    concept: str
    images: tuple[TaskImage, ...]
    number: int  # 1-based position in the session
    total: int


@dataclass(frozen=True, slots=True)
class Done:
    """The session has nothing more to show: `code` is the completion code, None if none."""

    status: str
    code: str | None
    tasks_done: int


class NotEligibleError(InputError):
    """The participant is on the blocklist of this provider."""


class NeedsConsent:
    """Marker: the participant has not consented yet."""


@dataclass(frozen=True, slots=True)
class StudyFacts:
    """What a launched study fixes for good: session settings, page size, check pool."""

    study_id: int
    params: StudyParams
    page_size: int
    pool: CheckPool | None

    @property
    def session_pages(self) -> int:
        """Pages of a full session: its tasks plus its attention checks."""
        n = self.params.tasks_per_session
        return n + len(check_positions(0, n, self.params.check_rate, self.pool is not None))


class StudyCache:
    """Per-process cache of each launched study's fixed facts (scores are read once).

    Safe because launch writes them before the first participant arrives and nothing
    changes them afterwards; it saves several queries on every page.
    """

    def __init__(self) -> None:
        self._facts: dict[int, StudyFacts] = {}

    def get(self, repo: Repository, study_id: int) -> StudyFacts:
        if study_id not in self._facts:
            study = repo.session.get(Study, study_id)
            assert study is not None
            page_size = _page_size(repo, study_id)
            self._facts[study_id] = StudyFacts(
                study_id,
                study_params(repo, study_id),
                page_size,
                build_check_pool(repo, study, page_size),
            )
        return self._facts[study_id]


# --- reading ---------------------------------------------------------------------------


def study_params(repo: Repository, study_id: int) -> StudyParams:
    params = repo.session.scalar(
        select(HitType.params).where(HitType.study_id == study_id).order_by(HitType.id).limit(1)
    )
    p = params or {}
    d = StudyParams()
    return StudyParams(
        tasks_per_session=max(1, int(str(p.get("tasks_per_session", d.tasks_per_session)))),
        completion_code=str(p.get("completion_code", d.completion_code)),
        failed_check_code=str(p.get("failed_check_code", d.failed_check_code)),
        check_rate=max(0.0, float(str(p.get("check_rate", d.check_rate)))),
        lease_seconds=max(1, int(str(p.get("lease_seconds", d.lease_seconds)))),
    )


def _info(session: TaskSession, study_name: str) -> SessionInfo:
    return SessionInfo(
        session.id,
        session.study_id,
        study_name,
        session.participant_id,
        session.status,
        session.consented,
        session.completion_code,
    )


def _open_study(repo: Repository, name: str) -> Study:
    study = repo.session.scalar(select(Study).where(Study.name == name))
    if study is None or study.provider != PROVIDER:
        raise NotFoundError("no such study")
    return study


def session_info(rt: Runtime, session_id: int) -> SessionInfo:
    with rt.transaction() as repo:
        session = repo.session.get(TaskSession, session_id)
        if session is None:
            raise NotFoundError("no such session")
        study = repo.session.get(Study, session.study_id)
        assert study is not None
        return _info(session, study.name)


# --- use cases -------------------------------------------------------------------------


def start_session(
    rt: Runtime,
    study_name: str,
    participant_id: str,
    provider_study_id: str | None,
    provider_session_id: str | None,
) -> SessionInfo:
    """The participant's session of this study, created on first arrival (a reload resumes)."""
    for attempt in range(2):
        try:
            with rt.transaction() as repo:
                begin_write(repo)
                study = _open_study(repo, study_name)
                found = repo.session.scalar(
                    select(TaskSession).where(
                        TaskSession.study_id == study.id,
                        TaskSession.participant_id == participant_id,
                    )
                )
                if found is None:
                    if _blocked(repo, participant_id):
                        # Prolific's blocklist filter should keep them out; this is the
                        # second fence, for links shared outside Prolific.
                        raise NotEligibleError("this study is not open to you")
                    repo.worker(participant_id)
                    found = TaskSession(
                        study_id=study.id,
                        participant_id=participant_id,
                        provider_study_id=provider_study_id,
                        provider_session_id=provider_session_id,
                        status=SessionStatus.ACTIVE,
                    )
                    repo.session.add(found)
                    repo.session.flush()
                    repo.log(study.id, "session.started", f"session:{found.id}")
                return _info(found, study.name)
        except IntegrityError:
            # The same participant (or worker id) arrived twice at once: the other won; reuse.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _blocked(repo: Repository, participant_id: str) -> bool:
    return (
        repo.session.scalar(
            select(BlockedWorker.id).where(
                BlockedWorker.provider == PROVIDER, BlockedWorker.worker_id == participant_id
            )
        )
        is not None
    )


def give_consent(rt: Runtime, session_id: int) -> None:
    with rt.transaction() as repo:
        session = lock_session(repo, session_id)
        if not session.consented:
            session.consented = True
            session.updated_at = utcnow()


def current_page(
    rt: Runtime, session_id: int, studies: StudyCache, now: datetime | None = None
) -> Page | Done | NeedsConsent:
    """What the participant sees now; leases the next task if it holds none."""
    now = now or utcnow()
    with rt.transaction() as repo:
        return _page_now(repo, lock_session(repo, session_id), studies, now)


def _page_now(
    repo: Repository,
    session: TaskSession,
    studies: StudyCache,
    now: datetime,
    images: bool = True,
) -> Page | Done | NeedsConsent:
    """The session's current page (leasing a task if needed); images=False skips the URLs."""
    if session.status != SessionStatus.ACTIVE:
        return Done(session.status, session.completion_code, session.tasks_done)
    if not session.consented:
        return NeedsConsent()
    facts = studies.get(repo, session.study_id)
    params, pool = facts.params, facts.pool
    checks = check_positions(
        session.id, params.tasks_per_session, params.check_rate, pool is not None
    )
    total = params.tasks_per_session + len(checks)
    pos = session.tasks_done + session.checks_passed + session.checks_failed
    if pos >= total:
        return _complete(repo, session, params)
    if pos in checks:
        assert pool is not None
        number = checks.index(pos)
        cp = check_page(pool, session.id, number)
        shown = _check_images(repo, [k.input_row_id for k in cp.items]) if images else ()
        return Page(f"c{number}", cp.concept, shown, pos + 1, total)
    hit = held_task(repo, session) or lease_task(
        repo, session, session.study_id, params.lease_seconds, now
    )
    if hit is None:
        if session.tasks_done > 0:
            return _complete(repo, session, params)
        return Done("full", None, 0)
    shown = _task_images(repo, hit.id) if images else ()
    return Page(f"h{hit.id}", hit.concept, shown, pos + 1, total)


def submit_page(
    rt: Runtime,
    session_id: int,
    key: str,
    answers: list[int],
    studies: StudyCache,
    now: datetime | None = None,
) -> tuple[str, Page | Done | NeedsConsent]:
    """Record one page's answers and hand out the next page, in one transaction.

    Returns (outcome, next page); outcome is recorded|duplicate|stale: a resubmit or double
    click of a recorded page is 'duplicate' and changes nothing; a page that is no longer the
    participant's (lease expired, session ended) is 'stale'.
    """
    now = now or utcnow()
    if any(a not in (0, 1) for a in answers):
        raise InputError("answers must be 0 or 1")
    with rt.transaction() as repo:
        session = lock_session(repo, session_id)
        outcome = "stale"
        if session.status == SessionStatus.ACTIVE and session.consented:
            facts = studies.get(repo, session.study_id)
            if key.startswith("c") and key[1:].isdigit():
                outcome = _submit_check(repo, session, facts, int(key[1:]), answers)
            elif key.startswith("h") and key[1:].isdigit():
                outcome = _submit_task(repo, session, int(key[1:]), answers, now)
            else:
                raise InputError("unknown task")
        return outcome, _page_now(repo, session, studies, now, images=False)


# --- helpers ---------------------------------------------------------------------------


def _page_size(repo: Repository, study_id: int) -> int:
    first = repo.session.scalar(
        select(Hit.id).where(Hit.study_id == study_id).order_by(Hit.task_index).limit(1)
    )
    if first is None:
        return 15
    return int(
        repo.session.scalar(select(func.count(HitItem.id)).where(HitItem.hit_row_id == first)) or 15
    )


def _complete(repo: Repository, session: TaskSession, params: StudyParams) -> Done:
    session.status = SessionStatus.COMPLETED
    session.completion_code = params.completion_code
    session.updated_at = utcnow()
    repo.log(
        session.study_id, "session.completed", f"session:{session.id}", tasks=session.tasks_done
    )
    return Done(session.status, session.completion_code, session.tasks_done)


def _task_images(repo: Repository, hit_id: int) -> tuple[TaskImage, ...]:
    rows = repo.session.scalars(
        select(Input)
        .join(Sample, Sample.input_id == Input.id)
        .join(HitItem, HitItem.sample_id == Sample.id)
        .where(HitItem.hit_row_id == hit_id)
        .order_by(HitItem.position)
    ).all()
    return tuple(TaskImage(url=_url(inp), image=inp.image) for inp in rows)


def _check_images(repo: Repository, input_row_ids: list[int]) -> tuple[TaskImage, ...]:
    rows = {i.id: i for i in repo.session.scalars(select(Input).where(Input.id.in_(input_row_ids)))}
    return tuple(TaskImage(url=_url(rows[i]), image=rows[i].image) for i in input_row_ids)


def _url(inp: Input) -> str:
    if not inp.url and inp.image_path:
        return _inline(inp.image_path)
    return image_url(inp, None, allow_inline=True)


@lru_cache(maxsize=4096)
def _inline(path: str) -> str:
    # Every participant sees the same images: read and encode each file once per process.
    return inline_data_url(Path(path))


def _submit_task(
    repo: Repository, session: TaskSession, hit_id: int, answers: list[int], now: datetime
) -> str:
    lease = repo.session.scalar(
        select(TaskLease).where(
            TaskLease.session_row_id == session.id, TaskLease.hit_row_id == hit_id
        )
    )
    if lease is None:
        raise InputError("this task is not yours")
    if lease.status == LeaseStatus.SUBMITTED:
        return "duplicate"
    if lease.status != LeaseStatus.LEASED:
        return "stale"
    items = repo.session.scalars(
        select(HitItem).where(HitItem.hit_row_id == hit_id).order_by(HitItem.position)
    ).all()
    if len(answers) != len(items):
        raise InputError(f"expected {len(items)} answers, got {len(answers)}")
    worker = repo.worker(session.participant_id)
    assignment = Assignment(
        hit_row_id=hit_id,
        assignment_id=f"ps-{session.id}-{hit_id}",
        worker_row_id=worker.id,
        status=AssignmentStatus.SUBMITTED,
        answer_raw=json.dumps({f"item_{k}": str(a) for k, a in enumerate(answers)}),
        submitted_at=now,
    )
    repo.session.add(assignment)
    repo.session.flush()
    repo.session.add_all(
        Rating(assignment_row_id=assignment.id, hit_item_id=item.id, value=a)
        for item, a in zip(items, answers, strict=True)
    )
    lease.status = LeaseStatus.SUBMITTED
    lease.submitted_at = now
    session.tasks_done += 1
    session.updated_at = now
    return "recorded"


def _submit_check(
    repo: Repository,
    session: TaskSession,
    facts: StudyFacts,
    number: int,
    answers: list[int],
) -> str:
    done = session.checks_passed + session.checks_failed
    if number < done:
        return "duplicate"
    params, pool = facts.params, facts.pool
    checks = check_positions(
        session.id, params.tasks_per_session, params.check_rate, pool is not None
    )
    pos = session.tasks_done + done
    if pool is None or number > done or number >= len(checks) or checks[number] != pos:
        return "stale"
    page = check_page(pool, session.id, number)
    if len(answers) != len(page.items):
        raise InputError(f"expected {len(page.items)} answers, got {len(answers)}")
    if grade_check(page, answers):
        session.checks_passed += 1
    else:
        session.checks_failed += 1
    session.updated_at = utcnow()
    if session.checks_failed >= MAX_FAILED_CHECKS:
        _fail_session(repo, session, params)
    return "recorded"


def _fail_session(repo: Repository, session: TaskSession, params: StudyParams) -> None:
    """Failed attention checks: exclude the ratings and give the tasks' slots back."""
    submitted = repo.session.scalars(
        select(TaskLease.hit_row_id).where(
            TaskLease.session_row_id == session.id, TaskLease.status == LeaseStatus.SUBMITTED
        )
    ).all()
    ids = [f"ps-{session.id}-{h}" for h in submitted]
    if ids:
        repo.session.execute(
            update(Assignment)
            .where(Assignment.assignment_id.in_(ids))
            .values(valid=False, problem="failed attention check")
        )
        repo.session.execute(
            update(TaskLease)
            .where(
                TaskLease.session_row_id == session.id,
                TaskLease.status == LeaseStatus.SUBMITTED,
            )
            .values(status=LeaseStatus.RELEASED)
        )
    release_session(repo, session, SessionStatus.FAILED_CHECK)
    session.completion_code = params.failed_check_code
    repo.log(
        session.study_id,
        "session.failed_check",
        f"session:{session.id}",
        checks_passed=session.checks_passed,
        checks_failed=session.checks_failed,
        excluded_assignments=ids,
    )
