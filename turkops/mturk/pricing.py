"""MTurk's price list as a cost plan (Decimal money).

Fee: 20% of the reward with a $0.01 minimum per assignment, plus another 20% of the reward for
HITs with 10 or more assignments (MTurk pricing page), which is why turkops keeps raters < 10.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from turkops.costs import MANY_ASSIGNMENTS, CostPlan

__all__ = ["CostPlan", "fee_per_assignment", "plan_cost"]

MIN_FEE = Decimal("0.01")
BASE_FEE_RATE = Decimal("0.20")
MANY_ASSIGNMENTS_RATE = Decimal("0.20")


def fee_per_assignment(reward: Decimal, max_assignments: int) -> Decimal:
    rate = BASE_FEE_RATE + (MANY_ASSIGNMENTS_RATE if max_assignments >= MANY_ASSIGNMENTS else 0)
    return max((reward * rate).quantize(Decimal("0.0001"), ROUND_HALF_UP), MIN_FEE)


def plan_cost(hits: int, raters: int, reward: Decimal, images_per_hit: int) -> CostPlan:
    return CostPlan(hits, raters, images_per_hit, reward, fee_per_assignment(reward, raters))
