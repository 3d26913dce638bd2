"""MTurk's price list as a cost plan (Decimal money).

Fee: 20% of the reward with a $0.01 minimum per assignment, plus another 20% of the reward for
HITs with 10 or more assignments (MTurk pricing page), which is why turkops keeps raters < 10.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
MIN_FEE = Decimal("0.01")
BASE_FEE_RATE = Decimal("0.20")
MANY_ASSIGNMENTS_RATE = Decimal("0.20")
MANY_ASSIGNMENTS = 10


def fee_per_assignment(reward: Decimal, max_assignments: int) -> Decimal:
    rate = BASE_FEE_RATE + (MANY_ASSIGNMENTS_RATE if max_assignments >= MANY_ASSIGNMENTS else 0)
    return max((reward * rate).quantize(Decimal("0.0001"), ROUND_HALF_UP), MIN_FEE)


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


def plan_cost(hits: int, raters: int, reward: Decimal, images_per_hit: int) -> CostPlan:
    return CostPlan(hits, raters, images_per_hit, reward, fee_per_assignment(reward, raters))
