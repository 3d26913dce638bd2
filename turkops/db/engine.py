"""Engine and session factory, and the migration runner every command calls on first use."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from turkops.domain import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


# scheme://user:PASSWORD@host: what a URL that SQLAlchemy cannot parse may still carry.
_USERINFO_PASSWORD = re.compile(r"(?P<head>(?:^|//)[^/@:]*:)(?P<password>[^@/]*)@")


def masked_url(url: str) -> str:
    """The database URL as it may be shown: the password, if any, replaced by '***'."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _USERINFO_PASSWORD.sub(r"\g<head>***@", url)


def mask_password(text: str, url: str) -> str:
    """`text` (an error message) without the URL's password in any spelling it may have."""
    secrets: set[str] = set()
    for match in _USERINFO_PASSWORD.finditer(url):
        secrets.add(match["password"])
    try:
        if make_url(url).password:
            secrets.add(str(make_url(url).password))
    except (ArgumentError, ValueError):
        pass
    for secret in list(secrets):
        secrets.update({unquote(secret), quote(secret, safe="")})
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def make_engine(url: str) -> Engine:
    """An engine with the settings both dialects need for crash safety and concurrency."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # ValueError: e.g. a non-numeric port. Never echo the password (issue 10 item 9).
        raise ConfigError(
            f"TURKOPS_DATABASE_URL is not a database URL: {masked_url(url)!r} "
            f"({mask_password(str(exc), url)})"
        ) from None
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except ArgumentError as exc:  # NoSuchModuleError: an unknown dialect or driver
        raise ConfigError(
            f"TURKOPS_DATABASE_URL {masked_url(url)!r}: {mask_password(str(exc), url)}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets a poller write while `status` reads; busy_timeout makes two writers wait, not fail;
    # foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if engine is not None:
        # ConfigParser would choke on '%' in URLs (e.g. ?options=-csearch_path%3D...).
        cfg.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_database(engine: Engine) -> bool:
    """Apply pending migrations; returns True when something was applied."""
    try:
        if current_revision(engine) == head_revision():
            return False
        log.info("upgrading database %s", engine.url.render_as_string(hide_password=True))
        command.upgrade(alembic_config(engine), "head")
    except DBAPIError as exc:
        # Any driver refusal (unreachable, bad option, bad credentials) is a settings problem.
        full = engine.url.render_as_string(hide_password=False)
        first = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        raise ConfigError(
            f"cannot open database {engine.url.render_as_string(hide_password=True)}: "
            f"{mask_password(first, full)}"
        ) from None
    return True


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
