"""providers, task-server sessions and leases, bonuses, blocklist

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(
            sa.Column("provider", sa.String(length=16), server_default="mturk", nullable=False)
        )
        batch.add_column(sa.Column("provider_ref", sa.String(length=64), nullable=True))
    op.create_table(
        "task_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.String(length=64), nullable=False),
        sa.Column("provider_study_id", sa.String(length=64), nullable=True),
        sa.Column("provider_session_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("checks_passed", sa.Integer(), nullable=False),
        sa.Column("checks_failed", sa.Integer(), nullable=False),
        sa.Column("tasks_done", sa.Integer(), nullable=False),
        sa.Column("completion_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"],
            name=op.f("fk_task_sessions_study_id_studies"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_sessions")),
        sa.UniqueConstraint(
            "study_id", "participant_id", name=op.f("uq_task_sessions_study_id_participant_id")
        ),
    )
    op.create_index(
        op.f("ix_task_sessions_study_id"), "task_sessions", ["study_id"], unique=False
    )
    op.create_table(
        "task_leases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_row_id", sa.Integer(), nullable=False),
        sa.Column("hit_row_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("leased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hit_row_id"], ["hits.id"],
            name=op.f("fk_task_leases_hit_row_id_hits"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_row_id"], ["task_sessions.id"],
            name=op.f("fk_task_leases_session_row_id_task_sessions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_leases")),
        sa.UniqueConstraint(
            "session_row_id", "hit_row_id", name=op.f("uq_task_leases_session_row_id_hit_row_id")
        ),
    )
    op.create_index(
        "ix_task_leases_hit_status", "task_leases", ["hit_row_id", "status"], unique=False
    )
    op.create_index(
        op.f("ix_task_leases_session_row_id"), "task_leases", ["session_row_id"], unique=False
    )
    op.create_table(
        "bonuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("worker_row_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"],
            name=op.f("fk_bonuses_study_id_studies"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_row_id"], ["workers.id"], name=op.f("fk_bonuses_worker_row_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bonuses")),
        sa.UniqueConstraint("token", name=op.f("uq_bonuses_token")),
    )
    op.create_index(op.f("ix_bonuses_study_id"), "bonuses", ["study_id"], unique=False)
    op.create_table(
        "blocked_workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocked_workers")),
        sa.UniqueConstraint(
            "provider", "worker_id", name=op.f("uq_blocked_workers_provider_worker_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("blocked_workers")
    op.drop_index(op.f("ix_bonuses_study_id"), table_name="bonuses")
    op.drop_table("bonuses")
    op.drop_index(op.f("ix_task_leases_session_row_id"), table_name="task_leases")
    op.drop_index("ix_task_leases_hit_status", table_name="task_leases")
    op.drop_table("task_leases")
    op.drop_index(op.f("ix_task_sessions_study_id"), table_name="task_sessions")
    op.drop_table("task_sessions")
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("provider_ref")
        batch.drop_column("provider")
