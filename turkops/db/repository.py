"""Queries and writes over one Session; services own the transaction boundaries."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from turkops.db.models import (
    ArrayFile,
    Assignment,
    Event,
    Explanation,
    Hit,
    HitItem,
    Input,
    Pair,
    Rating,
    Sample,
    Study,
    Worker,
)
from turkops.domain import NotFoundError


class Repository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # studies -------------------------------------------------------------
    def study(self, name: str) -> Study:
        found = self.session.scalar(select(Study).where(Study.name == name))
        if found is None:
            names = self.session.scalars(select(Study.name).order_by(Study.name)).all()
            hint = f" (known: {', '.join(names[:10])})" if names else " (no studies yet)"
            raise NotFoundError(f"no study named {name!r}{hint}")
        return found

    def study_exists(self, name: str) -> bool:
        return self.session.scalar(select(Study.id).where(Study.name == name)) is not None

    def studies(self) -> Sequence[Study]:
        return self.session.scalars(select(Study).order_by(Study.created_at, Study.id)).all()

    def array_file(self, study_id: int, kind: str) -> ArrayFile | None:
        return self.session.scalar(
            select(ArrayFile).where(ArrayFile.study_id == study_id, ArrayFile.kind == kind)
        )

    def inputs(self, study_id: int) -> Sequence[Input]:
        return self.session.scalars(
            select(Input).where(Input.study_id == study_id).order_by(Input.row_index)
        ).all()

    def pairs(self, study_id: int) -> Sequence[Pair]:
        return self.session.scalars(
            select(Pair).where(Pair.study_id == study_id).order_by(Pair.neuron, Pair.id)
        ).all()

    def explanations(self, study_id: int) -> Sequence[Explanation]:
        return self.session.scalars(
            select(Explanation)
            .where(Explanation.study_id == study_id)
            .order_by(Explanation.neuron, Explanation.method)
        ).all()

    def worker(self, worker_id: str) -> Worker:
        found = self.session.scalar(select(Worker).where(Worker.worker_id == worker_id))
        if found is None:
            found = Worker(worker_id=worker_id)
            self.session.add(found)
            self.session.flush()
        return found

    # events ----------------------------------------------------------------
    def log(
        self, study_id: int | None, kind: str, entity: str | None = None, **detail: object
    ) -> None:
        """Append to the event log (never updated or deleted)."""
        self.session.add(Event(study_id=study_id, kind=kind, entity=entity, detail=detail))

    def events(self, study_id: int, kind: str | None = None) -> Sequence[Event]:
        q = select(Event).where(Event.study_id == study_id)
        if kind is not None:
            q = q.where(Event.kind == kind)
        return self.session.scalars(q.order_by(Event.id)).all()

    # counts ------------------------------------------------------------------
    def count(self, model: Any, study_id: int) -> int:
        """Rows of a study-owned table (any model with a study_id column)."""
        total = self.session.scalar(
            select(func.count()).select_from(model).where(model.study_id == study_id)
        )
        return int(total or 0)

    def sample_count(self, study_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count(Sample.id)).join(Pair).where(Pair.study_id == study_id)
            )
            or 0
        )

    def assignment_counts(self, study_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(Assignment.status, func.count(Assignment.id))
            .join(Hit, Assignment.hit_row_id == Hit.id)
            .where(Hit.study_id == study_id)
            .group_by(Assignment.status)
        ).all()
        return {status: int(n) for status, n in rows}

    def hit_counts(self, study_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(Hit.status, func.count(Hit.id))
            .where(Hit.study_id == study_id)
            .group_by(Hit.status)
        ).all()
        return {status: int(n) for status, n in rows}

    def money_paid(self, study_id: int) -> Decimal:
        total = self.session.scalar(
            select(func.coalesce(func.sum(Assignment.paid), 0))
            .join(Hit, Assignment.hit_row_id == Hit.id)
            .where(Hit.study_id == study_id)
        )
        return Decimal(str(total or 0))

    def rating_count(self, study_id: int) -> int:
        return int(
            self.session.scalar(
                select(func.count(Rating.id))
                .join(HitItem, Rating.hit_item_id == HitItem.id)
                .join(Hit, HitItem.hit_row_id == Hit.id)
                .where(Hit.study_id == study_id)
            )
            or 0
        )
