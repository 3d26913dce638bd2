"""Alembic environment: uses the engine turkops passes in, or TURKOPS_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Engine

from turkops.db.engine import make_engine
from turkops.db.models import Base

config = context.config
target_metadata = Base.metadata


def _engine() -> Engine:
    given = config.attributes.get("engine")
    if given is not None:
        return given
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "TURKOPS_DATABASE_URL", "sqlite:///turkops.sqlite"
    )
    return make_engine(url)


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
