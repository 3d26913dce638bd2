"""Cross-process work claims, so two pollers on a shared PostgreSQL do not review one HIT twice.

PostgreSQL: a session-level advisory lock on its own connection, which never conflicts with the
row locks the review's own transactions take. SQLite has no such locks; there, two pollers may
review the same HIT, which is safe because ingest is idempotent (unique keys) and MTurk refuses
a second approval; WAL + busy_timeout serialise their writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

_NAMESPACE = 0x7475726B  # "turk": keeps our keys apart from other users of advisory locks


@contextmanager
def claim(engine: Engine, key: int) -> Iterator[bool]:
    """Yield True when this process holds the claim on `key` (always True on SQLite)."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    with engine.connect() as conn:
        got = bool(
            conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": _NAMESPACE, "key": key}
            ).scalar()
        )
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"), {"ns": _NAMESPACE, "key": key}
                )
                conn.commit()
