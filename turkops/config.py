"""Typed settings (TURKOPS_ prefix, environment and `.env`), read only when asked for.

AWS credentials are deliberately absent: boto3's own chain (environment, profile, instance role)
supplies them, so turkops never stores or logs a secret.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from turkops import defaults
from turkops.domain import ConfigError

SANDBOX_URL = "https://mturk-requester-sandbox.us-east-1.amazonaws.com"
PRODUCTION_URL = "https://mturk-requester.us-east-1.amazonaws.com"
LOCAL_URL = "http://127.0.0.1:8765"
PROLIFIC_URL = "https://api.prolific.com"
PRODUCTION_HOST = "mturk-requester.us-east-1.amazonaws.com"


def is_production_url(url: str) -> bool:
    """True when `url` reaches MTurk's production host, however it is spelt.

    DNS names are case-insensitive and a trailing dot, a port, a user part, a path or a query
    still reach the same host, so the parsed host is compared, not the string.
    """
    host = urlsplit(url.strip()).hostname or ""
    return host.rstrip(".").lower() == PRODUCTION_HOST


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TURKOPS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        "sqlite:///turkops.sqlite",
        description="SQLAlchemy URL; e.g. postgresql+psycopg://user@host:5432/db",
    )
    data_dir: Path = Field(
        Path("turkops_data"), description="Where study arrays and caches are stored."
    )
    endpoint: str = Field(
        "local", description="local | sandbox | production | an explicit http(s) URL"
    )
    allow_production: bool = Field(
        False, description="Must be true to spend real money on the production endpoint."
    )
    local_url: str = Field(LOCAL_URL, description="Where `endpoint=local` finds the marketplace.")
    aws_region: str = "us-east-1"
    api_timeout_seconds: float = Field(60, gt=0, description="Read timeout of one API call.")
    api_max_attempts: int = Field(10, ge=1, le=50, description="botocore attempts per call.")
    reward: Decimal = Field(Decimal(defaults.REWARD), description="USD per assignment (one task).")
    images_per_hit: int = Field(defaults.IMAGES_PER_HIT, ge=1, le=100)
    raters: int = Field(
        defaults.RATERS, ge=1, le=100, description="Assignments per HIT (raters per image)."
    )
    hit_title: str = "Select the images that contain a concept"
    hit_description: str = (
        "Look at 15 images and tick every image that contains the named concept (about 15 s)."
    )
    hit_keywords: str = "image, labeling, classification, research"
    assignment_duration_seconds: int = Field(600, ge=30)
    hit_lifetime_seconds: int = Field(3 * 24 * 3600, ge=60)
    auto_approval_delay_seconds: int = Field(3 * 24 * 3600, ge=0)
    qualification_locale: str = Field("US", description="Worker country; empty disables.")
    qualification_min_approved_hits: int = Field(10000, ge=0, description="0 disables.")
    qualification_min_approval_rate: int = Field(98, ge=0, le=100, description="0 disables.")
    frame_height: int = Field(0, ge=0, description="HTMLQuestion FrameHeight; 0 = auto.")
    poll_interval_seconds: int = Field(defaults.POLL_INTERVAL_SECONDS, ge=5)
    # The participant-facing task server (`turkops serve`).
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL participants reach the task server at."
    )
    prolific_complete_url: str = Field(
        "https://app.prolific.com/submissions/complete",
        description="Where a finished participant is sent, with ?cc=<completion code>.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="HMAC key of the task server's session tokens; unset: one is generated "
        "and kept in DATA_DIR/secret_key.",
    )
    lease_sweep_seconds: float = Field(
        30, gt=0, description="How often the task server returns expired leases to the pool."
    )
    # --- crowd provider (issue 11) -------------------------------------------------------
    provider: str = Field("mturk", description="mturk | prolific; a study keeps its provider.")
    # The token is a SecretStr so that repr(), logs and tracebacks show '**********'.
    prolific_token: SecretStr | None = Field(None, description="Prolific API token.")
    prolific_url: str = Field(PROLIFIC_URL, description="Prolific API base URL.")
    prolific_workspace: str | None = Field(
        None, description="Prolific workspace id, used to read the balance before a launch."
    )
    prolific_fee: Decimal = Field(
        Decimal("0.333"), ge=0, le=1, description="Prolific service fee share of rewards."
    )
    prolific_vat: Decimal = Field(Decimal("0"), ge=0, le=1, description="VAT on the fee.")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        v = value.strip().lower()
        if v in {"mturk", "prolific"}:
            return v
        raise ValueError("must be mturk or prolific")

    @field_validator("endpoint")
    @classmethod
    def _known_endpoint(cls, value: str) -> str:
        v = value.strip()
        if v in {"local", "sandbox", "production"} or v.startswith(("http://", "https://")):
            return v
        raise ValueError("must be local, sandbox, production or an http(s) URL")

    def endpoint_url(self) -> str:
        """The requester API URL; production only with the explicit opt-in."""
        if self.endpoint == "local":
            url = self.local_url
        elif self.endpoint == "sandbox":
            url = SANDBOX_URL
        elif self.endpoint == "production":
            url = PRODUCTION_URL
        else:
            url = self.endpoint
        # Checked on the final URL, so no spelling (and no TURKOPS_LOCAL_URL) skips the opt-in.
        if is_production_url(url):
            if not self.allow_production:
                raise ConfigError(
                    "the production endpoint spends real money: set TURKOPS_ALLOW_PRODUCTION=true"
                )
            return PRODUCTION_URL
        return url

    def is_local(self) -> bool:
        return self.endpoint == "local"


def load_settings(**overrides: object) -> Settings:
    """Read settings now (never at import time); bad values become one ConfigError line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"TURKOPS_{where.upper()}: {first['msg']}") from None
