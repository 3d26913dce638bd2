"""MTurk cost model (Decimal money) and budget planning."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from turkops.stats.planning import (
    CostModel,
    RceSurface,
    cost_per_pair,
    plan_budget,
    study_cost,
)


def test_paper_study_costs_216_per_pair() -> None:
    assert cost_per_pair(180, 3) == Decimal("2.16")
    assert study_cost(1000, 180, 3) == Decimal("2160.00")
    assert CostModel().cost_per_rating(3) == Decimal("0.004")


def test_fees_minimum_and_large_hit_surcharge() -> None:
    model = CostModel()
    assert model.fee_per_assignment(9) == Decimal("0.01")
    assert model.fee_per_assignment(10) == Decimal("0.02")  # +20% at MaxAssignments >= 10
    assert CostModel(reward=Decimal("0.02")).fee_per_assignment(1) == Decimal("0.01")  # minimum
    assert cost_per_pair(15, 10) == Decimal("0.70")
    assert cost_per_pair(16, 1) == Decimal("0.12")  # a 16th image needs a second HIT
    assert all(isinstance(x, Decimal) for x in (cost_per_pair(30, 2), model.cost_per_rating(1)))


def test_max_inputs_spends_whole_hits_only() -> None:
    model = CostModel()
    assert model.max_inputs(Decimal("2.16"), 3) == 180
    assert model.max_inputs(Decimal("2.15"), 3) == 165
    assert model.max_inputs(Decimal("0.05"), 1) == 0


def _surface() -> RceSurface:
    inputs = np.array([15.0, 60, 240, 960])
    raters = (1, 3, 5)
    # Error falls with inputs; more raters lower the floor but cost more per input.
    rce = np.array([[0.9, 0.8, 0.8], [0.6, 0.45, 0.45], [0.45, 0.25, 0.22], [0.4, 0.15, 0.1]])
    return RceSurface(inputs=inputs, raters=raters, rce=rce, floor=np.array([0.38, 0.1, 0.05]))


def test_surface_interpolates_in_log_inputs_and_extrapolates_towards_the_floor() -> None:
    s = _surface()
    assert s.at(60, 3) == pytest.approx(0.45)
    assert s.at(120, 3) == pytest.approx(0.35)  # halfway in log(inputs)
    assert s.at(3840, 3) == pytest.approx(0.1 + 0.05 * 0.5)
    assert s.at(10, 3) == float("inf")
    with pytest.raises(ValueError):
        s.at(60, 2)


def test_plan_picks_the_lowest_expected_rce_within_budget() -> None:
    plan = plan_budget(Decimal("216"), 100, _surface())
    assert plan.budget_per_pair == Decimal("2.16")
    assert plan.best is not None
    assert plan.best.total_cost <= Decimal("216")
    best_by_hand = min(plan.candidates, key=lambda d: d.expected_rce)
    assert plan.best == best_by_hand and plan.best.n_raters == 3
    assert {d.n_raters for d in plan.candidates} == {1, 3, 5}
    assert plan.recommendation == "human"


def test_siglip_only_wins_when_the_budget_is_tiny() -> None:
    plan = plan_budget(Decimal("10"), 100, _surface(), siglip_only_rce=0.5)
    assert plan.recommendation == "siglip-only"
    nothing = plan_budget(Decimal("1"), 100, _surface(), siglip_only_rce=0.5)
    assert nothing.best is None and nothing.recommendation == "siglip-only"


def test_plan_accepts_any_error_function() -> None:
    plan = plan_budget(
        Decimal("50"), 10, lambda n, m: 1.0 / np.sqrt(n) + 0.3 / min(m, 3), raters=(1, 2, 3, 4)
    )
    assert plan.best is not None and plan.best.n_raters == 3
    with pytest.raises(ValueError):
        plan_budget(Decimal("50"), 10, lambda n, m: 0.1)
