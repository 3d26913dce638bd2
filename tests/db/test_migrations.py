"""Migrations build the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from turkops.db.engine import current_revision, head_revision, make_engine, upgrade_database
from turkops.db.models import Base


def test_upgrade_empty_database_matches_models(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) is None
        assert upgrade_database(engine) is True
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations disagree: {diff}"
        assert {"studies", "ratings", "events", "hits"} <= set(inspect(engine).get_table_names())
        assert upgrade_database(engine) is False  # idempotent
    finally:
        engine.dispose()
