"""The one place that builds adapters from Settings and hands them to services."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from turkops.config import Settings
from turkops.db.engine import make_engine, session_factory, upgrade_database
from turkops.db.repository import Repository
from turkops.domain import ConfigError

if TYPE_CHECKING:
    from turkops.crowd import CrowdProvider
    from turkops.mturk.gateway import CrowdGateway


@dataclass
class Runtime:
    """Settings plus the database; the crowd gateway is built on first use (it may need AWS)."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    _gateway: Any = field(default=None, repr=False)
    _providers: dict[str, Any] = field(default_factory=dict, repr=False)

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
        self._providers.pop("mturk", None)  # the MTurk provider wraps the gateway

    def provider(self, name: str | None = None) -> CrowdProvider:
        """The crowd provider `name` (a study's recorded provider), default TURKOPS_PROVIDER."""
        key = name or self.settings.provider
        if key not in self._providers:
            self._providers[key] = build_provider(self.settings, key, self)
        provider: CrowdProvider = self._providers[key]
        return provider

    def use_provider(self, provider: CrowdProvider) -> None:
        """Inject a provider (tests); it serves studies recorded with provider.name."""
        self._providers[provider.name] = provider

    def close(self) -> None:
        for provider in self._providers.values():
            http = getattr(getattr(provider, "client", None), "http", None)
            if http is not None:
                http.close()
        self.engine.dispose()


def build_provider(settings: Settings, name: str, rt: Runtime | None = None) -> CrowdProvider:
    """The CrowdProvider `name` built from settings (its HTTP/boto3 client inside)."""
    if name == "prolific":
        from turkops.prolific.client import ProlificClient, build_http
        from turkops.prolific.provider import ProlificProvider

        token = settings.prolific_token.get_secret_value() if settings.prolific_token else ""
        http = build_http(settings.prolific_url, token, settings.api_timeout_seconds)
        return ProlificProvider(
            ProlificClient(http, max_attempts=settings.api_max_attempts),
            settings.prolific_workspace,
            settings.prolific_fee,
            settings.prolific_vat,
        )
    if name == "mturk":
        from turkops.mturk.gateway import MTurkGateway
        from turkops.mturk.provider import MTurkProvider
        from turkops.mturk.qualifications import qualification_requirements

        def gateway() -> MTurkGateway:  # on first remote call: dry runs need no endpoint
            built = rt.gateway() if rt is not None else None
            if not isinstance(built, MTurkGateway):
                from turkops.mturk.gateway import build_gateway

                built = build_gateway(settings)
            return built

        return MTurkProvider(
            gateway,
            settings.hit_lifetime_seconds,
            qualification_requirements(settings),
            settings,
        )
    raise ConfigError(f"unknown crowd provider {name!r} (mturk | prolific)")


def task_fee(provider: str, reward: Decimal, places: int) -> Decimal:
    """The provider's fee on one submission, without building its client (no network):
    `turkops status` works offline. Session providers record their all-in cost instead."""
    if provider == "mturk":
        from turkops.mturk.pricing import fee_per_assignment

        return fee_per_assignment(reward, places)
    return Decimal("0")


def open_runtime(settings: Settings) -> Runtime:
    """Connect and upgrade an empty/old database, so every command works on first use."""
    engine = make_engine(settings.database_url)
    upgrade_database(engine)
    return Runtime(settings=settings, engine=engine, sessions=session_factory(engine))
