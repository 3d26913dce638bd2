"""`turkops launch` on a provider that sends workers to our task server (Prolific).

The tasks are packed exactly as for MTurk (one Hit row per page, with a local hit_id), and
ONE provider work is published whose places are sessions of `tasks_per_session` tasks.
Crash safety: the Hit rows, the HitType params (codes, session size) and the attempt are
committed before the provider is called; a re-run looks the work up by its token (the
study's internal name) before creating another, so a crash cannot publish twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from turkops.costs import DEFAULT_HOURLY_RATE, SessionPlan
from turkops.crowd import SessionProvider, WorkSpec
from turkops.db.models import BlockedWorker, Hit, HitItem, HitType, Study
from turkops.domain import BudgetError, StudyStatus
from turkops.services.images import image_url
from turkops.tasks import request_token
from turkops.wiring import Runtime

LEASE_SECONDS = 900


@dataclass(frozen=True, slots=True)
class SessionOptions:
    tasks_per_session: int | None = None
    hourly_rate: Decimal = DEFAULT_HOURLY_RATE
    check_rate: float = 0.2
    test: bool = False


@dataclass(frozen=True, slots=True)
class PublishResult:
    plan: SessionPlan
    provider_ref: str | None
    published: bool  # False on a dry run or when it was already published


def launch_sessions(
    rt: Runtime,
    name: str,
    provider: SessionProvider,
    raters: int,
    images_per_hit: int,
    sessions: SessionOptions,
    max_cost: Decimal | None,
    dry_run: bool,
    base_url: str | None,
) -> PublishResult:
    from turkops.services.launch import study_tasks  # the same packing as on MTurk

    with rt.transaction() as repo:
        study = repo.study(name)
        hit_type = repo.session.scalar(select(HitType).where(HitType.study_id == study.id))
        if hit_type is not None:
            plan = plan_of(hit_type.params)
            ref = study.provider_ref
        else:
            tasks = study_tasks(repo, study, images_per_hit)
            plan = provider.plan_sessions(
                len(tasks),
                raters,
                sessions.tasks_per_session,
                sessions.hourly_rate,
                sessions.check_rate,
            )
            ref = None
    if max_cost is not None and plan.total > max_cost:
        raise BudgetError(
            f"the study costs ${plan.total:.2f} ({plan.describe()}), more than --max-cost "
            f"${max_cost:.2f}"
        )
    if dry_run or ref is not None:
        return PublishResult(plan, ref, False)
    if hit_type is None:
        balance = provider.balance()
        if balance is not None and plan.total > balance:
            raise BudgetError(
                f"launching needs ${plan.total:.2f} but the balance is ${balance:.2f}"
            )
        _record(rt, name, provider.name, plan, images_per_hit, base_url)
    ref = _publish(rt, name, provider, sessions.test)
    return PublishResult(plan, ref, True)


def plan_of(params: dict[str, Any]) -> SessionPlan:
    return SessionPlan(
        tasks=int(params["tasks"]),
        raters=int(params["raters"]),
        tasks_per_session=int(params["tasks_per_session"]),
        check_rate=float(params["check_rate"]),
        minutes=int(params["minutes"]),
        reward=Decimal(str(params["reward"])),
        hourly_rate=Decimal(str(params["hourly_rate"])),
        fee_rate=Decimal(str(params["fee_rate"])),
        vat_rate=Decimal(str(params["vat_rate"])),
    )


def _record(
    rt: Runtime,
    name: str,
    provider_name: str,
    plan: SessionPlan,
    images_per_hit: int,
    base_url: str | None,
) -> None:
    from turkops.services.launch import study_tasks

    with rt.transaction() as repo:
        study = repo.study(name)
        if repo.count(Hit, study.id):
            return  # another launcher got here first
        uid = f"{study.name}|{study.created_at.isoformat()}|{study.id}"
        params: dict[str, Any] = {
            # Keys the task server reads (contract): session size, codes, checks, lease.
            "tasks_per_session": plan.tasks_per_session,
            "completion_code": "C" + secrets.token_hex(4).upper(),
            "failed_check_code": "F" + secrets.token_hex(4).upper(),
            "check_rate": plan.check_rate,
            "lease_seconds": LEASE_SECONDS,
            # Our own: the price, so status and a resumed launch use the same numbers.
            "tasks": plan.tasks,
            "raters": plan.raters,
            "minutes": plan.minutes,
            "reward": str(plan.reward),
            "hourly_rate": str(plan.hourly_rate),
            "fee_rate": str(plan.fee_rate),
            "vat_rate": str(plan.vat_rate),
            "places": plan.places,
            "unit_cost": str(plan.paid_per_task()),
            "token": "turkops-" + hashlib.sha256(uid.encode()).hexdigest()[:40],
        }
        hit_type = HitType(
            study_id=study.id,
            params_hash=hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest(),
            hit_type_id=f"sessions-{study.id}",
            reward=plan.reward,
            params=params,
        )
        repo.session.add(hit_type)
        repo.session.flush()
        if base_url:
            for inp in repo.inputs(study.id):
                if not inp.url and inp.image_path:
                    inp.url = image_url(inp, base_url, allow_inline=False)
        # The participant's share of a session's reward per task (fees are in unit_cost).
        per_task = (plan.reward / plan.tasks_per_session).quantize(Decimal("0.0001"))
        for task in study_tasks(repo, study, images_per_hit):
            hit = Hit(
                study_id=study.id,
                hit_type_row_id=hit_type.id,
                task_index=task.index,
                unique_request_token=request_token(uid, task),
                hit_id=f"T{study.id}-{task.index}",
                concept=task.concept,
                status="Assignable",
                max_assignments=plan.raters,
                reward=per_task,
            )
            repo.session.add(hit)
            repo.session.flush()
            repo.session.add_all(
                HitItem(hit_row_id=hit.id, position=pos, sample_id=sid)
                for pos, sid in enumerate(task.sample_ids)
            )
        study.provider = provider_name
        study.status = StudyStatus.LAUNCHED
        repo.log(
            study.id,
            "launch.planned",
            f"study:{name}",
            provider=provider_name,
            tasks=plan.tasks,
            places=plan.places,
            tasks_per_session=plan.tasks_per_session,
            reward=str(plan.reward),
            total=str(plan.total),
        )


def _publish(rt: Runtime, name: str, provider: SessionProvider, test: bool) -> str:
    with rt.transaction() as repo:
        study = repo.study(name)
        if study.provider_ref:
            return study.provider_ref
        hit_type = repo.session.scalar(select(HitType).where(HitType.study_id == study.id))
        assert hit_type is not None
        params = dict(hit_type.params)
        attempted = bool(repo.events(study.id, "publish.attempted"))
        blocked = tuple(
            repo.session.scalars(
                select(BlockedWorker.worker_id).where(BlockedWorker.provider == provider.name)
            ).all()
        )
        url = provider.study_url(rt.settings.public_url, study.name)
        work = _work(rt, study, params, blocked, test, attempted, url)
        repo.log(study.id, "publish.attempted", f"study:{name}", token=work.token, test=test)
        study_id = study.id
    published = provider.publish(work)
    with rt.transaction() as repo:
        study = repo.study(name)
        study.provider_ref = published.ref
        repo.log(
            study_id,
            "study.published",
            f"work:{published.ref}",
            status=published.status,
            places=work.places,
            blocked=len(blocked),
            test=test,
        )
    return published.ref


def _work(
    rt: Runtime,
    study: Study,
    params: dict[str, Any],
    blocked: tuple[str, ...],
    test: bool,
    resume: bool,
    url: str,
) -> WorkSpec:
    s = rt.settings
    plan = plan_of(params)
    return WorkSpec(
        name=s.hit_title,
        description=(
            f"Look at sets of images and tick every image that contains a named concept "
            f"({plan.tasks_per_session} pages, about {plan.minutes} minutes)."
        ),
        reward=plan.reward,
        places=plan.places,
        minutes=plan.minutes,
        token=str(params["token"]),
        external_url=url,
        completion_code=str(params["completion_code"]),
        failed_check_code=str(params["failed_check_code"]),
        blocked_workers=blocked,
        test=test,
        resume=resume,
    )
