"""Pricing a study on Prolific: sessions of several tasks, paid by a target hourly rate.

Prolific refuses rewards below its minimum hourly rate ($8 / £6 per hour, researcher help
"Prolific's payment principles") computed from `estimated_completion_time` in whole
minutes, so the reward is derived from the rounded-up minutes. Prolific adds its service fee
(33.3% academic, 42.8% for companies) to rewards, and VAT on the fee where it applies.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, Decimal

from turkops.costs import CENT, DEFAULT_HOURLY_RATE, SessionPlan
from turkops.domain import InputError

__all__ = ["DEFAULT_HOURLY_RATE", "SessionPlan", "plan_sessions", "task_cost"]

MIN_HOURLY_RATE = Decimal("8.00")  # USD; GBP studies: £6
SECONDS_PER_TASK = 15  # the paper's estimate for one page of 15 images
SESSION_TARGET_SECONDS = 300  # about 5 minutes per session
DEFAULT_CHECK_RATE = 0.2  # attention-check tasks per real task


def default_tasks_per_session(seconds_per_task: int = SECONDS_PER_TASK) -> int:
    return max(1, SESSION_TARGET_SECONDS // seconds_per_task)


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
