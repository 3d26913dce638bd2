"""Cost plans the services show and record, whatever provider priced them.

The pricing rules (MTurk's fee schedule, Prolific's hourly minimum and service fee) live with
each provider (turkops.mturk.pricing, turkops.prolific.pricing); these are their results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MANY_ASSIGNMENTS = 10  # MTurk charges another 20% from 10 assignments per HIT
DEFAULT_HOURLY_RATE = Decimal("12.00")  # what a session pays per hour unless --hourly-rate


@dataclass(frozen=True, slots=True)
class CostPlan:
    hits: int
    raters: int
    images_per_hit: int
    reward: Decimal  # per assignment
    fee: Decimal  # per assignment

    @property
    def assignments(self) -> int:
        return self.hits * self.raters

    @property
    def rewards(self) -> Decimal:
        return (self.reward * self.assignments).quantize(CENT, ROUND_HALF_UP)

    @property
    def fees(self) -> Decimal:
        return (self.fee * self.assignments).quantize(CENT, ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees

    @property
    def many_assignments_surcharge(self) -> bool:
        return self.raters >= MANY_ASSIGNMENTS

    def describe(self) -> str:
        return (
            f"{self.hits} HITs x {self.raters} assignments at ${self.reward:.2f} + "
            f"${self.fee:.4f} fee"
        )


@dataclass(frozen=True, slots=True)
class SessionPlan:
    tasks: int  # distinct tasks (pages)
    raters: int  # raters per task
    tasks_per_session: int
    check_rate: float
    minutes: int  # estimated completion time of one session, whole minutes
    reward: Decimal  # per session (place)
    hourly_rate: Decimal
    fee_rate: Decimal
    vat_rate: Decimal

    @property
    def places(self) -> int:
        """Sessions needed so every task gets `raters` ratings."""
        return math.ceil(self.tasks * self.raters / self.tasks_per_session)

    @property
    def rewards(self) -> Decimal:
        return (self.reward * self.places).quantize(CENT, ROUND_HALF_UP)

    @property
    def fees(self) -> Decimal:
        return (self.rewards * self.fee_rate).quantize(CENT, ROUND_HALF_UP)

    @property
    def vat(self) -> Decimal:
        return (self.fees * self.vat_rate).quantize(CENT, ROUND_HALF_UP)

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees + self.vat

    @property
    def reward_cents(self) -> int:
        return int(self.reward * 100)

    def paid_per_task(self) -> Decimal:
        """What one submitted task costs with fee and VAT (for `paid` of its Assignment)."""
        per_session = self.reward + self.reward * self.fee_rate * (1 + self.vat_rate)
        return (per_session / self.tasks_per_session).quantize(Decimal("0.0001"), ROUND_HALF_UP)

    def describe(self) -> str:
        return (
            f"{self.places} places x ${self.reward:.2f} ({self.tasks_per_session} tasks, "
            f"{self.minutes} min) + {self.fee_rate:.1%} fee"
        )
