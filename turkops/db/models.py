"""SQLAlchemy 2.0 typed models of the study store.

Large numeric arrays live in files (ArrayFile records their shape, dtype and sha256); the
database holds identities, samples, HITs, ratings and the append-only event log. Unique
constraints make every ingest idempotent, so a re-run after a crash can insert blindly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Deterministic constraint names keep Alembic autogenerate and both dialects in agreement.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Money = Numeric(12, 4)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="created")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    n_inputs: Mapped[int] = mapped_column(Integer)
    n_neurons: Mapped[int] = mapped_column(Integer)
    data_dir: Mapped[str] = mapped_column(Text)
    sample_strategy: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sample_per_pair: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sample_gamma: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Which crowd runs the study (mturk | prolific); fixed at launch, never switched mid-way.
    provider: Mapped[str] = mapped_column(String(16), default="mturk", server_default="mturk")
    # The provider's own id of the published work (Prolific study id); None on MTurk.
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ArrayFile(Base):
    """A numeric array stored beside the database; refused if its bytes no longer match."""

    __tablename__ = "array_files"
    __table_args__ = (UniqueConstraint("study_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(Text)
    shape: Mapped[list[int]] = mapped_column(JSON)
    dtype: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Input(Base):
    __tablename__ = "inputs"
    __table_args__ = (
        UniqueConstraint("study_id", "input_id"),
        UniqueConstraint("study_id", "row_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    row_index: Mapped[int] = mapped_column(Integer)
    input_id: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(Text)  # exactly as in inputs.csv
    image_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # resolved local file
    image_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)  # published (e.g. presigned S3)


class Pair(Base):
    """One (neuron, concept) to evaluate; methods that propose the same concept share it."""

    __tablename__ = "pairs"
    __table_args__ = (UniqueConstraint("study_id", "neuron", "concept"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    neuron: Mapped[int] = mapped_column(Integer)
    concept: Mapped[str] = mapped_column(Text)
    explanations: Mapped[list[Explanation]] = relationship(back_populates="pair")


class Explanation(Base):
    __tablename__ = "explanations"
    __table_args__ = (UniqueConstraint("study_id", "neuron", "method"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"))
    neuron: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(128))
    concept: Mapped[str] = mapped_column(Text)
    pair: Mapped[Pair] = relationship(back_populates="explanations")


class Sample(Base):
    """An input drawn for a pair: its proposal probability q_i and how often it was drawn."""

    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("pair_id", "input_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    input_id: Mapped[int] = mapped_column(ForeignKey("inputs.id", ondelete="CASCADE"))
    proposal_prob: Mapped[float] = mapped_column(Float)
    draw_count: Mapped[int] = mapped_column(Integer)


class HitType(Base):
    __tablename__ = "hit_types"
    __table_args__ = (UniqueConstraint("study_id", "params_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    params_hash: Mapped[str] = mapped_column(String(64))
    hit_type_id: Mapped[str] = mapped_column(String(64))
    reward: Mapped[Decimal] = mapped_column(Money)
    params: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Hit(Base):
    """A task; its row (with the token) is committed before CreateHIT is called."""

    __tablename__ = "hits"
    __table_args__ = (UniqueConstraint("study_id", "task_index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    hit_type_row_id: Mapped[int] = mapped_column(ForeignKey("hit_types.id"))
    task_index: Mapped[int] = mapped_column(Integer)
    unique_request_token: Mapped[str] = mapped_column(String(64), unique=True)
    hit_id: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    concept: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    max_assignments: Mapped[int] = mapped_column(Integer)
    reward: Mapped[Decimal] = mapped_column(Money)
    attempted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    items: Mapped[list[HitItem]] = relationship(back_populates="hit", order_by="HitItem.position")


class HitItem(Base):
    __tablename__ = "hit_items"
    __table_args__ = (UniqueConstraint("hit_row_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_row_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    hit: Mapped[Hit] = relationship(back_populates="items")


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(64), unique=True)


class Assignment(Base):
    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hit_row_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"), index=True)
    assignment_id: Mapped[str] = mapped_column(String(64), unique=True)
    worker_row_id: Mapped[int] = mapped_column(ForeignKey("workers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    problem: Mapped[str | None] = mapped_column(Text, nullable=True)
    answer_raw: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))


class Rating(Base):
    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("assignment_row_id", "hit_item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_row_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"))
    hit_item_id: Mapped[int] = mapped_column(
        ForeignKey("hit_items.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[int] = mapped_column(Integer)


class Event(Base):
    """Append-only log: what happened to which entity, when and why."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_study_at", "study_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("studies.id", ondelete="CASCADE"), nullable=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(48))
    entity: Mapped[str | None] = mapped_column(String(96), nullable=True)
    detail: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)


class TaskSession(Base):
    """A participant's visit to the turkops task server (one Prolific submission).

    A participant takes a study once, so (study, participant) is unique; the session's
    signed token and completion code come from it.
    """

    __tablename__ = "task_sessions"
    __table_args__ = (UniqueConstraint("study_id", "participant_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[str] = mapped_column(String(64))  # PROLIFIC_PID
    provider_study_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # STUDY_ID
    provider_session_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # active | completed | failed_check | returned | timed_out | rejected
    status: Mapped[str] = mapped_column(String(24), default="active")
    consented: Mapped[bool] = mapped_column(Boolean, default=False)
    checks_passed: Mapped[int] = mapped_column(Integer, default=0)
    checks_failed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_done: Mapped[int] = mapped_column(Integer, default=0)
    completion_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class TaskLease(Base):
    """A task (a Hit row) held by one session; released leases return the slot to the pool.

    (session, hit) is unique: a participant never gets the same task twice. The number of
    leased + submitted leases of a hit never exceeds its max_assignments.
    """

    __tablename__ = "task_leases"
    __table_args__ = (
        UniqueConstraint("session_row_id", "hit_row_id"),
        Index("ix_task_leases_hit_status", "hit_row_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_row_id: Mapped[int] = mapped_column(
        ForeignKey("task_sessions.id", ondelete="CASCADE"), index=True
    )
    hit_row_id: Mapped[int] = mapped_column(ForeignKey("hits.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="leased")  # leased|submitted|released
    leased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Bonus(Base):
    """A bonus recorded before it is paid: paying is not idempotent on Prolific."""

    __tablename__ = "bonuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    worker_row_id: Mapped[int] = mapped_column(ForeignKey("workers.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(Text)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="recorded")  # recorded|created|paid
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BlockedWorker(Base):
    """A worker/participant kept out of every later study on that provider."""

    __tablename__ = "blocked_workers"
    __table_args__ = (UniqueConstraint("provider", "worker_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    worker_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
