"""The one place that builds adapters from Settings and hands them to services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from turkops.config import Settings
from turkops.db.engine import make_engine, session_factory, upgrade_database
from turkops.db.repository import Repository

if TYPE_CHECKING:
    from turkops.mturk.gateway import CrowdGateway


@dataclass
class Runtime:
    """Settings plus the database; the crowd gateway is built on first use (it may need AWS)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _gateway: Any = field(default=None, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Repository]:
        """A repository in one transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield Repository(session)

    def gateway(self) -> CrowdGateway:
        if self._gateway is None:
            from turkops.mturk.gateway import build_gateway

            self._gateway = build_gateway(self.settings)
        return self._gateway

    def use_gateway(self, gateway: CrowdGateway | None) -> None:
        """Inject a gateway (tests, other providers); None rebuilds it from settings."""
        self._gateway = gateway

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings) -> Runtime:
    """Connect and upgrade an empty/old database, so every command works on first use."""
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    return Runtime(settings=settings, engine=engine, sessions=session_factory(engine))
