"""`turkops status` and `turkops expire`: where a launched study stands, and stopping it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import cast

from sqlalchemy import func, select

from turkops.crowd import TaskPageProvider
from turkops.db.models import Assignment, Hit, HitType
from turkops.domain import AssignmentStatus
from turkops.services.poll import DONE
from turkops.wiring import Runtime, task_fee


@dataclass(frozen=True, slots=True)
class StudyStatusReport:
    name: str
    status: str
    hits: dict[str, int]
    assignments: dict[str, int]
    expected_assignments: int
    paid: Decimal
    committed: Decimal  # still owed if every open assignment is approved
    provider: str = "mturk"
    provider_ref: str | None = None  # the provider's id of the published work (Prolific)
    spammers: int = 0  # workers the two-coin fit flags (turkops/services/spammers.py)

    @property
    def received(self) -> int:
        """Assignments that count towards the design: rejected work does not (on Prolific its
        task goes back to the pool and is rated again, so counting it would pass 100%)."""
        return sum(n for st, n in self.assignments.items() if st != AssignmentStatus.REJECTED)

    @property
    def submitted_share(self) -> float:
        got = self.received
        return got / self.expected_assignments if self.expected_assignments else 0.0


def study_status(rt: Runtime, name: str) -> StudyStatusReport:
    from turkops.services.spammers import flag_spammers

    flagged = len(flag_spammers(rt, name))  # logged once each; shown, never blocked here
    with rt.transaction() as repo:
        study = repo.study(name)
        hits = repo.session.scalars(select(Hit).where(Hit.study_id == study.id)).all()
        got = dict(
            repo.session.execute(
                select(Assignment.hit_row_id, func.count(Assignment.id))
                .join(Hit, Assignment.hit_row_id == Hit.id)
                .where(Hit.study_id == study.id)
                .group_by(Assignment.hit_row_id)
            ).all()
        )
        submitted = dict(
            repo.session.execute(
                select(Assignment.hit_row_id, func.count(Assignment.id))
                .join(Hit, Assignment.hit_row_id == Hit.id)
                .where(Hit.study_id == study.id, Assignment.status == AssignmentStatus.SUBMITTED)
                .group_by(Assignment.hit_row_id)
            ).all()
        )
        # Session providers record the all-in cost of one task (fee + VAT) as unit_cost.
        unit_costs = {
            ht.id: Decimal(str(ht.params["unit_cost"]))
            for ht in repo.session.scalars(select(HitType).where(HitType.study_id == study.id))
            if "unit_cost" in (ht.params or {})
        }
        committed = Decimal("0")
        for h in hits:
            unit = unit_costs.get(h.hit_type_row_id) or (
                h.reward + task_fee(study.provider, h.reward, h.max_assignments)
            )
            open_slots = 0 if h.status in DONE else h.max_assignments - got.get(h.id, 0)
            committed += unit * (open_slots + submitted.get(h.id, 0))
        return StudyStatusReport(
            name=study.name,
            status=study.status,
            hits=repo.hit_counts(study.id),
            assignments=repo.assignment_counts(study.id),
            expected_assignments=sum(h.max_assignments for h in hits),
            paid=repo.money_paid(study.id),
            committed=committed.quantize(Decimal("0.01")),
            provider=study.provider,
            provider_ref=study.provider_ref,
            spammers=flagged,
        )


def expire_study(rt: Runtime, name: str) -> int:
    """Expire every open HIT of the study now; submitted work can still be polled and paid.

    On a provider that publishes the study as one work (Prolific) that work is stopped."""
    with rt.transaction() as repo:
        study = repo.study(name)
        provider_name, ref = study.provider, study.provider_ref
    provider = rt.provider(provider_name)
    if not provider.hosts_task_pages:
        if ref is None:
            return 0
        provider.stop(ref)
        with rt.transaction() as repo:
            study = repo.study(name)
            repo.log(study.id, "work.stopped", f"work:{ref}", by="requester")
        return 1
    pages = cast(TaskPageProvider, provider)  # hosts_task_pages: it is one
    with rt.transaction() as repo:
        study = repo.study(name)
        study_id = study.id
        open_hits = repo.session.scalars(
            select(Hit.hit_id).where(
                Hit.study_id == study_id, Hit.hit_id.is_not(None), Hit.status.not_in(DONE)
            )
        ).all()
    for hit_id in open_hits:
        assert hit_id is not None
        pages.stop(hit_id)
        with rt.transaction() as repo:
            repo.log(study_id, "hit.expired", f"hit:{hit_id}", by="requester")
    return len(open_hits)
