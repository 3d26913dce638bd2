"""Pricing a study on Prolific: sessions of several tasks, paid by a target hourly rate.

Prolific refuses rewards below its minimum hourly rate ($8 / £6 per hour, researcher help
"Prolific's payment principles") computed from `estimated_completion_time` in whole
minutes, so the reward is derived from the rounded-up minutes. Prolific adds its service fee
(33.3% academic, 42.8% for companies) to rewards, and VAT on the fee where it applies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from turkops.domain import InputError

CENT = Decimal("0.01")
MIN_HOURLY_RATE = Decimal("8.00")  # USD; GBP studies: £6
DEFAULT_HOURLY_RATE = Decimal("12.00")
SECONDS_PER_TASK = 15  # the paper's estimate for one page of 15 images
SESSION_TARGET_SECONDS = 300  # about 5 minutes per session
DEFAULT_CHECK_RATE = 0.2  # attention-check tasks per real task


def default_tasks_per_session(seconds_per_task: int = SECONDS_PER_TASK) -> int:
    return max(1, SESSION_TARGET_SECONDS // seconds_per_task)


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


def plan_sessions(
    tasks: int,
    raters: int,
    tasks_per_session: int | None = None,
    hourly_rate: Decimal = DEFAULT_HOURLY_RATE,
    fee_rate: Decimal = Decimal("0.333"),
    vat_rate: Decimal = Decimal("0"),
    check_rate: float = DEFAULT_CHECK_RATE,
    seconds_per_task: int = SECONDS_PER_TASK,
) -> SessionPlan:
    """Price `tasks` x `raters` ratings in sessions; refuses a rate below Prolific's minimum."""
    per_session = tasks_per_session or default_tasks_per_session(seconds_per_task)
    if per_session < 1:
        raise InputError("--tasks-per-session must be at least 1")
    if hourly_rate < MIN_HOURLY_RATE:
        raise InputError(
            f"--hourly-rate ${hourly_rate:.2f}/h is below Prolific's minimum of "
            f"${MIN_HOURLY_RATE:.2f}/h (£6/h)"
        )
    if not 0 <= check_rate <= 1:
        raise InputError("--check-rate must be between 0 and 1")
    shown = per_session + math.ceil(per_session * check_rate)  # checks take time too
    minutes = max(1, math.ceil(shown * seconds_per_task / 60))
    reward = (hourly_rate * minutes / 60).quantize(CENT, ROUND_CEILING)
    return SessionPlan(
        tasks=tasks,
        raters=raters,
        tasks_per_session=per_session,
        check_rate=check_rate,
        minutes=minutes,
        reward=reward,
        hourly_rate=hourly_rate,
        fee_rate=fee_rate,
        vat_rate=vat_rate,
    )


def task_cost(
    tasks_per_session: int | None = None,
    hourly_rate: Decimal = DEFAULT_HOURLY_RATE,
    fee_rate: Decimal = Decimal("0.333"),
    vat_rate: Decimal = Decimal("0"),
    check_rate: float = DEFAULT_CHECK_RATE,
) -> Decimal:
    """What one rater doing one task costs on Prolific, with fee and VAT (for planning)."""
    plan = plan_sessions(1, 1, tasks_per_session, hourly_rate, fee_rate, vat_rate, check_rate)
    return plan.paid_per_task()
