"""Settings of the local marketplace: where it listens, its database, its crowd and its faults."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
DB_ENV_VAR = "TURKOPS_MARKETPLACE_DB"

DropMode = Literal["after", "before"]


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Remote faults the server injects into requester API calls (never into admin/browser pages).

    Counters are 1-based over the API calls that match `operations` (all when empty): with
    throttle_every_n=3 the 3rd, 6th, ... matching call is throttled. 0 disables a knob.
    drop_mode "after" runs the operation and then closes the socket without a response (the
    ambiguous case UniqueRequestToken exists for); "before" drops without running it.
    delay_seconds sleeps before answering every matching call, or only every Nth one when
    delay_every_n is set (with a short client read_timeout this is a timeout).
    malformed_every_n makes every Nth simulated submission malformed (missing field, extra
    field, value other than 0/1, huge payload, not XML, in turn).
    nul_every_n makes every Nth simulated submission carry a NUL byte (U+0000) in an extra
    field, raw, as a careless or hostile client could send it (PostgreSQL refuses it in text).
    """

    throttle_every_n: int = 0
    throttle_burst: int = 0
    service_fault_every_n: int = 0
    drop_every_n: int = 0
    drop_mode: DropMode = "after"
    delay_seconds: float = 0.0
    delay_every_n: int = 0
    malformed_every_n: int = 0
    nul_every_n: int = 0
    operations: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for name in (
            "throttle_every_n",
            "throttle_burst",
            "service_fault_every_n",
            "drop_every_n",
            "delay_every_n",
            "malformed_every_n",
            "nul_every_n",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.delay_seconds < 0:
            raise ValueError("delay_seconds must be >= 0")
        if self.drop_mode not in ("after", "before"):
            raise ValueError("drop_mode must be 'after' or 'before'")

    def to_json(self) -> dict[str, object]:
        return {
            "throttle_every_n": self.throttle_every_n,
            "throttle_burst": self.throttle_burst,
            "service_fault_every_n": self.service_fault_every_n,
            "drop_every_n": self.drop_every_n,
            "drop_mode": self.drop_mode,
            "delay_seconds": self.delay_seconds,
            "delay_every_n": self.delay_every_n,
            "malformed_every_n": self.malformed_every_n,
            "nul_every_n": self.nul_every_n,
            "operations": sorted(self.operations),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object], base: FaultConfig | None = None) -> FaultConfig:
        """`base` with the keys present in `data` replaced; unknown keys raise ValueError."""
        current = (base or cls()).to_json()
        unknown = set(data) - set(current)
        if unknown:
            raise ValueError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        current.update(data)
        ops = current["operations"]
        if not isinstance(ops, list | tuple | set | frozenset) or not all(
            isinstance(o, str) for o in ops
        ):
            raise ValueError("operations must be a list of operation names")
        mode = current["drop_mode"]
        if mode not in ("after", "before"):
            raise ValueError("drop_mode must be 'after' or 'before'")
        return cls(
            throttle_every_n=_as_int(current, "throttle_every_n"),
            throttle_burst=_as_int(current, "throttle_burst"),
            service_fault_every_n=_as_int(current, "service_fault_every_n"),
            drop_every_n=_as_int(current, "drop_every_n"),
            drop_mode=mode,
            delay_seconds=_as_float(current, "delay_seconds"),
            delay_every_n=_as_int(current, "delay_every_n"),
            malformed_every_n=_as_int(current, "malformed_every_n"),
            nul_every_n=_as_int(current, "nul_every_n"),
            operations=frozenset(ops),
        )


def _as_int(data: Mapping[str, object], name: str) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    return value


def _as_float(data: Mapping[str, object], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    return float(value)


@dataclass(frozen=True, slots=True)
class MarketplaceConfig:
    """Everything `start_marketplace` needs.

    port 0 picks a free ephemeral port. db_path None means `$TURKOPS_MARKETPLACE_DB` or
    ~/.turkops/marketplace.sqlite. pace_seconds is the mean time a simulated worker spends on
    an assignment (exponential; 0 = submit at once). truth maps (image reference, concept) to
    presence; None (or a missing pair) makes workers answer at random. error_rate_concentration
    None gives every worker exactly error_rate; a number k draws each worker's rate from
    Beta(error_rate*k, (1-error_rate)*k). initial_balance only seeds a new database.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    db_path: Path | None = None
    n_workers: int = 50
    error_rate: float = 0.23
    spammer_share: float = 0.1
    error_rate_concentration: float | None = None
    seed: int | None = None
    pace_seconds: float = 0.0
    truth: Mapping[tuple[str, str], bool] | None = None
    initial_balance: Decimal = Decimal("10000.00")
    faults: FaultConfig = field(default_factory=FaultConfig)
    allow_remote: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")
        if self.n_workers < 1:
            raise ValueError("n_workers must be >= 1")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be in [0, 1]")
        if not 0.0 <= self.spammer_share <= 1.0:
            raise ValueError("spammer_share must be in [0, 1]")
        if self.error_rate_concentration is not None and self.error_rate_concentration <= 0:
            raise ValueError("error_rate_concentration must be > 0")
        if self.pace_seconds < 0:
            raise ValueError("pace_seconds must be >= 0")
        if isinstance(self.initial_balance, float):
            raise TypeError("initial_balance must be a Decimal (money is never a float)")
        object.__setattr__(self, "initial_balance", Decimal(self.initial_balance))
        if not self.initial_balance.is_finite() or self.initial_balance < 0:
            raise ValueError("initial_balance must be a finite amount >= 0")
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(
                f"host {self.host!r} is not a loopback address; pass allow_remote=True "
                "(--allow-remote) to listen on other interfaces"
            )

    def resolved_db_path(self) -> Path:
        return self.db_path if self.db_path is not None else default_db_path()


def default_db_path() -> Path:
    """$TURKOPS_MARKETPLACE_DB, else ~/.turkops/marketplace.sqlite (read when called)."""
    env = os.environ.get(DB_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".turkops" / "marketplace.sqlite"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
