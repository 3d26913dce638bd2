"""Prolific pricing: sessions, the minimum hourly rate, fee and VAT (Decimal money)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turkops.domain import InputError
from turkops.prolific.pricing import (
    MIN_HOURLY_RATE,
    default_tasks_per_session,
    plan_sessions,
    task_cost,
)


def test_defaults_make_a_five_minute_session_of_twenty_tasks() -> None:
    assert default_tasks_per_session() == 20
    plan = plan_sessions(100, 3, check_rate=0.0)
    assert plan.tasks_per_session == 20 and plan.minutes == 5
    assert plan.reward == Decimal("1.00")  # $12/h x 5 min
    assert plan.places == 15
    assert plan.rewards == Decimal("15.00")
    assert plan.fees == Decimal("5.00")  # 33.3%
    assert plan.total == Decimal("20.00")


def test_vat_applies_to_the_fee_and_checks_take_time() -> None:
    plan = plan_sessions(40, 3, 20, Decimal("12"), Decimal("0.333"), Decimal("0.2"), check_rate=0.2)
    assert plan.minutes == 6  # 24 pages x 15 s
    assert plan.vat == (plan.fees * Decimal("0.2")).quantize(Decimal("0.01"))
    assert plan.total == plan.rewards + plan.fees + plan.vat


def test_below_the_minimum_rate_is_refused() -> None:
    with pytest.raises(InputError, match="minimum"):
        plan_sessions(10, 3, hourly_rate=Decimal("7.99"))


@given(
    tasks=st.integers(1, 5000),
    raters=st.integers(1, 20),
    per_session=st.integers(1, 60),
    cents=st.integers(800, 5000),
    check=st.sampled_from([0.0, 0.1, 0.2, 0.5]),
)
def test_reward_never_falls_below_the_minimum_on_the_stated_minutes(
    tasks: int, raters: int, per_session: int, cents: int, check: float
) -> None:
    rate = Decimal(cents) / 100
    plan = plan_sessions(tasks, raters, per_session, rate, check_rate=check)
    assert plan.reward * 60 / plan.minutes >= MIN_HOURLY_RATE
    assert plan.places * plan.tasks_per_session >= tasks * raters
    assert plan.places == math.ceil(tasks * raters / per_session)
    assert isinstance(plan.total, Decimal)


def test_task_cost_is_the_all_in_share_of_a_session() -> None:
    per_task = task_cost(20, Decimal("12"), Decimal("0.333"), check_rate=0.0)
    assert per_task == Decimal("0.0667")  # ($1.00 + 33.3%) / 20


def test_plan_prices_designs_on_either_provider() -> None:
    from typer.testing import CliRunner

    from turkops.cli import app

    args = ["plan", "--budget", "300", "--pairs", "10", "--sim-pairs", "4", "--inputs", "500",
            "--max-raters", "2", "--aggregators", "majority"]  # fmt: skip
    runner = CliRunner()
    mturk = runner.invoke(app, [*args, "--provider", "mturk"])
    prolific = runner.invoke(app, [*args, "--provider", "prolific"])
    assert mturk.exit_code == prolific.exit_code == 0, mturk.output + prolific.output

    def inputs_with_one_rater(text: str) -> int:
        for line in text.splitlines():
            cells = [c for c in line.replace("│", " ").split() if c]
            if cells[:2] == ["majority", "1"]:
                return int(cells[2])
        raise AssertionError(text)

    # $30 per pair: MTurk $0.06 per 15-image task; Prolific: 20 tasks + 4 checks = 6 min,
    # $1.20 at $12/h, + 33.3% = $1.5996 per session, $0.08 per task.
    assert inputs_with_one_rater(mturk.output) == 30 // Decimal("0.06") * 15 == 7500
    assert inputs_with_one_rater(prolific.output) == 30 // Decimal("0.08") * 15 == 5625
