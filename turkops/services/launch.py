"""`turkops launch`: pack samples into tasks, price them, and create HITs exactly once.

Crash safety: every HIT row (with its UniqueRequestToken) is committed before CreateHIT is
called, and the HIT id is committed right after. A re-run retries rows without a HIT id; MTurk
answers a reused token with an error, and we adopt the existing HIT instead of creating another.
MTurk forgets tokens after 24 hours, so a row first attempted longer ago is looked up by its
RequesterAnnotation (which carries the same token) before any retry; `attempted_at` keeps the
first attempt's time, never a later retry's.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import cast

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from turkops.costs import CostPlan
from turkops.crowd import CrowdProvider, SessionProvider, TaskPageProvider
from turkops.db.models import BlockedWorker, Hit, HitItem, HitType, Input, Pair, Sample, Study
from turkops.db.repository import Repository
from turkops.domain import BudgetError, ConfigError, ConflictError, InputError, StudyStatus
from turkops.services.images import image_url
from turkops.services.publish import PublishResult, SessionOptions, launch_sessions
from turkops.taskpage import TaskImage, render_task_html
from turkops.tasks import SampleItem, Task, pack_tasks, request_token
from turkops.wiring import Runtime

log = logging.getLogger(__name__)
TOKEN_MEMORY = timedelta(hours=23)  # MTurk keeps UniqueRequestTokens for 24 h


@dataclass(frozen=True, slots=True)
class LaunchOptions:
    raters: int = 3
    images_per_hit: int = 15
    reward: Decimal = Decimal("0.05")
    max_cost: Decimal | None = None
    dry_run: bool = False
    base_url: str | None = None
    # Providers that send workers to the task server (Prolific): sessions of several tasks.
    sessions: SessionOptions = field(default_factory=SessionOptions)


@dataclass(frozen=True, slots=True)
class LaunchResult:
    plan: CostPlan | None  # MTurk's per-assignment plan; None on a session provider
    created: int
    adopted: int
    already: int
    dry_run: bool
    provider: str = "mturk"
    sessions: PublishResult | None = None  # the session plan and published work (Prolific)


def launch_provider(rt: Runtime, study: Study, launched: bool) -> CrowdProvider:
    """The study's provider: TURKOPS_PROVIDER before launch, the recorded one afterwards."""
    wanted = rt.settings.provider
    if launched and study.provider != wanted:
        raise ConfigError(
            f"study {study.name!r} runs on {study.provider}; a study cannot switch provider "
            f"mid-way (set TURKOPS_PROVIDER={study.provider})"
        )
    return rt.provider(study.provider if launched else wanted)


def launch_study(
    rt: Runtime,
    name: str,
    options: LaunchOptions,
    progress: Callable[[int, int], None] | None = None,
) -> LaunchResult:
    if not 1 <= options.raters <= 100:
        raise InputError("--raters must be between 1 and 100")
    if not 1 <= options.images_per_hit <= 100:
        raise InputError("--images-per-hit must be between 1 and 100")
    with rt.transaction() as repo:
        study = repo.study(name)
        existing = repo.count(Hit, study.id)
        provider = launch_provider(rt, study, existing > 0)
    if not provider.hosts_task_pages:
        published = launch_sessions(
            rt,
            name,
            cast(SessionProvider, provider),  # sends workers to the task server
            options.raters,
            options.images_per_hit,
            options.sessions,
            options.max_cost,
            options.dry_run,
            options.base_url,
        )
        return LaunchResult(
            None, int(published.published), 0, existing, options.dry_run, provider.name, published
        )
    pages = cast(TaskPageProvider, provider)  # hosts_task_pages: it is one
    if options.reward < Decimal("0.01"):
        raise InputError("--reward must be at least $0.01 (MTurk's minimum)")
    with rt.transaction() as repo:
        study = repo.study(name)
        existing = repo.count(Hit, study.id)
        plan: CostPlan
        if existing:
            plan = _plan_of_existing(repo, study, pages)
        else:
            tasks = study_tasks(repo, study, options.images_per_hit)
            plan = pages.plan_cost(
                len(tasks), options.raters, options.reward, options.images_per_hit
            )
    pending = _pending_cost(rt, name, pages)
    if options.max_cost is not None and plan.total > options.max_cost:
        raise BudgetError(
            f"the study costs ${plan.total:.2f} ({plan.describe()}), more than --max-cost "
            f"${options.max_cost:.2f}"
        )
    if options.dry_run:
        return LaunchResult(plan, 0, 0, existing, True)
    to_commit = pending if existing else plan.total
    if to_commit > 0:
        balance = pages.balance()
        if balance is not None and to_commit > balance:
            raise BudgetError(
                f"launching needs ${to_commit:.2f} but the account balance is ${balance:.2f}"
            )
    if not existing:
        _record_hits(rt, name, options, plan, pages)
    created, adopted, already = _create_pending(rt, name, options, progress, pages)
    return LaunchResult(plan, created, adopted, already, False)


def study_tasks(repo: Repository, study: Study, images_per_hit: int) -> list[Task]:
    """The study's samples packed into tasks, deterministically from its sample seed."""
    rows = repo.session.execute(
        select(Sample.id, Pair.concept).join(Pair).where(Pair.study_id == study.id)
    ).all()
    if not rows:
        raise InputError(f"study {study.name!r} has no samples: run `turkops sample` first")
    items = [SampleItem(int(sid), concept) for sid, concept in rows]
    rng = np.random.default_rng([study.sample_seed or 0, 7919])
    return pack_tasks(items, images_per_hit, rng)


def _plan_of_existing(repo: Repository, study: Study, pages: TaskPageProvider) -> CostPlan:
    hits = repo.session.scalars(select(Hit).where(Hit.study_id == study.id)).all()
    per_hit = max(len(h.items) for h in hits) if hits else 0
    return pages.plan_cost(len(hits), hits[0].max_assignments, hits[0].reward, per_hit)


def _pending_cost(rt: Runtime, name: str, pages: TaskPageProvider) -> Decimal:
    with rt.transaction() as repo:
        study = repo.study(name)
        hits = repo.session.scalars(
            select(Hit).where(Hit.study_id == study.id, Hit.hit_id.is_(None))
        ).all()
        if not hits:
            return Decimal("0")
        return pages.plan_cost(len(hits), hits[0].max_assignments, hits[0].reward, 1).total


def _record_hits(
    rt: Runtime, name: str, options: LaunchOptions, plan: CostPlan, pages: TaskPageProvider
) -> None:
    hit_type_id, spec = pages.task_type(
        options.reward, options.images_per_hit, _blocked(rt, pages.name)
    )
    params = json.dumps(spec, sort_keys=True, default=str)
    params_hash = hashlib.sha256(params.encode()).hexdigest()
    with rt.transaction() as repo:
        # A write first, so a second launcher waits here (SQLite's write lock, PostgreSQL's row
        # lock) and then sees the first one's rows, instead of both inserting them.
        repo.session.execute(update(Study).where(Study.name == name).values(status=Study.status))
        study = repo.study(name)
        if repo.count(Hit, study.id):
            raise ConflictError(
                f"another `turkops launch {name}` recorded this study's HITs at the same moment "
                "and is creating them; run the command again when it ends (it resumes, never "
                "duplicating)"
            )
        hit_type = repo.session.scalar(
            select(HitType).where(HitType.study_id == study.id, HitType.params_hash == params_hash)
        )
        if hit_type is None:
            hit_type = HitType(
                study_id=study.id,
                params_hash=params_hash,
                hit_type_id=hit_type_id,
                reward=options.reward,
                params=json.loads(params),
            )
            repo.session.add(hit_type)
            repo.session.flush()
            repo.log(study.id, "hit_type.created", f"hit_type:{hit_type_id}")
        if options.base_url:
            # Persist where images live, so a resumed launch renders the same pages.
            for inp in repo.inputs(study.id):
                if not inp.url and inp.image_path:
                    inp.url = image_url(inp, options.base_url, allow_inline=False)
        tasks = study_tasks(repo, study, options.images_per_hit)
        uid = f"{study.name}|{study.created_at.isoformat()}|{study.id}"
        for task in tasks:
            hit = Hit(
                study_id=study.id,
                hit_type_row_id=hit_type.id,
                task_index=task.index,
                unique_request_token=request_token(uid, task),
                concept=task.concept,
                status="pending",
                max_assignments=options.raters,
                reward=options.reward,
            )
            repo.session.add(hit)
            repo.session.flush()
            repo.session.add_all(
                HitItem(hit_row_id=hit.id, position=pos, sample_id=sid)
                for pos, sid in enumerate(task.sample_ids)
            )
        study.status = StudyStatus.LAUNCHED
        repo.log(
            study.id,
            "launch.planned",
            f"study:{name}",
            hits=len(tasks),
            raters=options.raters,
            reward=str(options.reward),
            total=str(plan.total),
        )


def _blocked(rt: Runtime, provider: str) -> list[str]:
    """The provider's blocklisted workers, oldest first; its work type excludes them."""
    with rt.transaction() as repo:
        return list(
            repo.session.scalars(
                select(BlockedWorker.worker_id)
                .where(BlockedWorker.provider == provider)
                .order_by(BlockedWorker.id)
            ).all()
        )


def _create_pending(
    rt: Runtime,
    name: str,
    options: LaunchOptions,
    progress: Callable[[int, int], None] | None,
    pages: TaskPageProvider,
) -> tuple[int, int, int]:
    with rt.transaction() as repo:
        study = repo.study(name)
        study_id = study.id
        todo = repo.session.scalars(
            select(Hit.id).where(Hit.study_id == study_id, Hit.hit_id.is_(None)).order_by(Hit.id)
        ).all()
        total = repo.count(Hit, study_id)
        hit_type_id = repo.session.scalar(
            select(HitType.hit_type_id).where(HitType.study_id == study_id)
        )
    already = total - len(todo)
    created = adopted = 0
    if progress:
        progress(already, total)
    for done, hit_row_id in enumerate(todo, start=already + 1):
        with rt.transaction() as repo:
            hit = repo.session.get(Hit, hit_row_id, options=[selectinload(Hit.items)])
            assert hit is not None and hit_type_id is not None
            if hit.hit_id is not None:
                continue  # a concurrent launcher finished it
            page = _page(repo, hit, options, rt)
            token, previous_attempt = hit.unique_request_token, hit.attempted_at
            max_assignments = hit.max_assignments
            if previous_attempt is None:
                # Only the FIRST attempt counts: MTurk forgets the token 24 h after it first saw
                # it, so a retry in between must not make an old attempt look recent.
                hit.attempted_at = datetime.now(UTC)
        # The provider forgets tokens after a while (MTurk: 24 h after the first attempt), so
        # an attempt older than that is looked up before any retry.
        look_up = previous_attempt is not None and _older_than(previous_attempt, TOKEN_MEMORY)
        remote, was_adopted = pages.publish_task(hit_type_id, page, max_assignments, token, look_up)
        how = "adopted" if was_adopted else "created"
        with rt.transaction() as repo:
            row = repo.session.get(Hit, hit_row_id)
            assert row is not None
            row.hit_id = remote.ref
            row.status = remote.status or "Assignable"
            row.created_at = datetime.now(UTC)
            row.expires_at = remote.expires_at
            repo.log(study_id, f"hit.{how}", f"hit:{remote.ref}", token=token)
        created += how == "created"
        adopted += how == "adopted"
        log.info("HIT %s %s (%d/%d)", remote.ref, how, done, total)
        if progress:
            progress(done, total)
    return created, adopted, already


def _older_than(when: datetime, age: timedelta) -> bool:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC) - aware > age


def _page(repo: Repository, hit: Hit, options: LaunchOptions, rt: Runtime) -> str:
    sample_ids = [item.sample_id for item in hit.items]
    rows = repo.session.execute(
        select(Sample.id, Input)
        .join(Input, Sample.input_id == Input.id)
        .where(Sample.id.in_(sample_ids))
    ).all()
    by_sample = {sid: inp for sid, inp in rows}
    images = [
        TaskImage(
            url=image_url(by_sample[sid], options.base_url, allow_inline=rt.settings.is_local()),
            image=by_sample[sid].image,
        )
        for sid in sample_ids
    ]
    return render_task_html(hit.concept, images)
