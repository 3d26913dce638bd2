"""initial study store

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:10:04.757142
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_inputs", sa.Integer(), nullable=False),
        sa.Column("n_neurons", sa.Integer(), nullable=False),
        sa.Column("data_dir", sa.Text(), nullable=False),
        sa.Column("sample_strategy", sa.String(length=16), nullable=True),
        sa.Column("sample_per_pair", sa.Integer(), nullable=True),
        sa.Column("sample_gamma", sa.Float(), nullable=True),
        sa.Column("sample_seed", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_studies")),
        sa.UniqueConstraint("name", name=op.f("uq_studies_name")),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        sa.UniqueConstraint("worker_id", name=op.f("uq_workers_worker_id")),
    )
    op.create_table(
        "array_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("shape", sa.JSON(), nullable=False),
        sa.Column("dtype", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_array_files_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_array_files")),
        sa.UniqueConstraint("study_id", "kind", name=op.f("uq_array_files_study_id_kind")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("entity", sa.String(length=96), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_events_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_study_at", ["study_id", "at"], unique=False)

    op.create_table(
        "hit_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("hit_type_id", sa.String(length=64), nullable=False),
        sa.Column("reward", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_hit_types_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hit_types")),
        sa.UniqueConstraint(
            "study_id", "params_hash", name=op.f("uq_hit_types_study_id_params_hash")
        ),
    )
    op.create_table(
        "inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("row_index", sa.Integer(), nullable=False),
        sa.Column("input_id", sa.String(length=255), nullable=False),
        sa.Column("image", sa.Text(), nullable=False),
        sa.Column("image_path", sa.Text(), nullable=True),
        sa.Column("image_sha256", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_inputs_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inputs")),
        sa.UniqueConstraint("study_id", "input_id", name=op.f("uq_inputs_study_id_input_id")),
        sa.UniqueConstraint("study_id", "row_index", name=op.f("uq_inputs_study_id_row_index")),
    )
    op.create_table(
        "pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("neuron", sa.Integer(), nullable=False),
        sa.Column("concept", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_pairs_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pairs")),
        sa.UniqueConstraint(
            "study_id", "neuron", "concept", name=op.f("uq_pairs_study_id_neuron_concept")
        ),
    )
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("neuron", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=128), nullable=False),
        sa.Column("concept", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["pairs.id"],
            name=op.f("fk_explanations_pair_id_pairs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["studies.id"],
            name=op.f("fk_explanations_study_id_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_explanations")),
        sa.UniqueConstraint(
            "study_id", "neuron", "method", name=op.f("uq_explanations_study_id_neuron_method")
        ),
    )
    op.create_table(
        "hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("hit_type_row_id", sa.Integer(), nullable=False),
        sa.Column("task_index", sa.Integer(), nullable=False),
        sa.Column("unique_request_token", sa.String(length=64), nullable=False),
        sa.Column("hit_id", sa.String(length=64), nullable=True),
        sa.Column("concept", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("max_assignments", sa.Integer(), nullable=False),
        sa.Column("reward", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["hit_type_row_id"], ["hit_types.id"], name=op.f("fk_hits_hit_type_row_id_hit_types")
        ),
        sa.ForeignKeyConstraint(
            ["study_id"], ["studies.id"], name=op.f("fk_hits_study_id_studies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hits")),
        sa.UniqueConstraint("hit_id", name=op.f("uq_hits_hit_id")),
        sa.UniqueConstraint("study_id", "task_index", name=op.f("uq_hits_study_id_task_index")),
        sa.UniqueConstraint("unique_request_token", name=op.f("uq_hits_unique_request_token")),
    )
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hits_study_id"), ["study_id"], unique=False)

    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("input_id", sa.Integer(), nullable=False),
        sa.Column("proposal_prob", sa.Float(), nullable=False),
        sa.Column("draw_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["input_id"], ["inputs.id"], name=op.f("fk_samples_input_id_inputs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"], ["pairs.id"], name=op.f("fk_samples_pair_id_pairs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.UniqueConstraint("pair_id", "input_id", name=op.f("uq_samples_pair_id_input_id")),
    )
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_samples_pair_id"), ["pair_id"], unique=False)

    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_row_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.String(length=64), nullable=False),
        sa.Column("worker_row_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("answer_raw", sa.Text(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("paid", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.ForeignKeyConstraint(
            ["hit_row_id"],
            ["hits.id"],
            name=op.f("fk_assignments_hit_row_id_hits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_row_id"], ["workers.id"], name=op.f("fk_assignments_worker_row_id_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint("assignment_id", name=op.f("uq_assignments_assignment_id")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_hit_row_id"), ["hit_row_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assignments_worker_row_id"), ["worker_row_id"], unique=False
        )

    op.create_table(
        "hit_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hit_row_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hit_row_id"],
            ["hits.id"],
            name=op.f("fk_hit_items_hit_row_id_hits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"],
            ["samples.id"],
            name=op.f("fk_hit_items_sample_id_samples"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hit_items")),
        sa.UniqueConstraint(
            "hit_row_id", "position", name=op.f("uq_hit_items_hit_row_id_position")
        ),
    )
    with op.batch_alter_table("hit_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hit_items_sample_id"), ["sample_id"], unique=False)

    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assignment_row_id", sa.Integer(), nullable=False),
        sa.Column("hit_item_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_row_id"],
            ["assignments.id"],
            name=op.f("fk_ratings_assignment_row_id_assignments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["hit_item_id"],
            ["hit_items.id"],
            name=op.f("fk_ratings_hit_item_id_hit_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
        sa.UniqueConstraint(
            "assignment_row_id",
            "hit_item_id",
            name=op.f("uq_ratings_assignment_row_id_hit_item_id"),
        ),
    )
    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ratings_hit_item_id"), ["hit_item_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ratings_hit_item_id"))

    op.drop_table("ratings")
    with op.batch_alter_table("hit_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hit_items_sample_id"))

    op.drop_table("hit_items")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_worker_row_id"))
        batch_op.drop_index(batch_op.f("ix_assignments_hit_row_id"))

    op.drop_table("assignments")
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_samples_pair_id"))

    op.drop_table("samples")
    with op.batch_alter_table("hits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hits_study_id"))

    op.drop_table("hits")
    op.drop_table("explanations")
    op.drop_table("pairs")
    op.drop_table("inputs")
    op.drop_table("hit_types")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_study_at")

    op.drop_table("events")
    op.drop_table("array_files")
    op.drop_table("workers")
    op.drop_table("studies")
