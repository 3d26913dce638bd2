"""What a study costs on MTurk, and which design a budget should buy.

Cost model (METHOD.md, MTurk pricing): one HIT shows 15 inputs of one pair; each assignment
pays the $0.05 reward plus MTurk's fee of 20% of the reward (at least $0.01 per assignment), and
20% more when the HIT has MaxAssignments >= 10. A pair with n inputs and m raters per input
therefore costs ceil(n / 15) x m x (reward + fee): 180 inputs x 3 raters = 36 x $0.06 = $2.16.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class CostModel:
    """MTurk prices in USD (Decimal). large_hit_threshold: MaxAssignments from which the extra
    fee applies; images_per_task: inputs shown in one HIT."""

    reward: Decimal = Decimal("0.05")
    fee_rate: Decimal = Decimal("0.20")
    min_fee: Decimal = Decimal("0.01")
    large_hit_extra_rate: Decimal = Decimal("0.20")
    large_hit_threshold: int = 10
    images_per_task: int = 15

    def fee_per_assignment(self, max_assignments: int) -> Decimal:
        """MTurk's fee for one assignment of a HIT with this MaxAssignments, rounded to cents."""
        if max_assignments < 1:
            raise ValueError("max_assignments must be >= 1")
        rate = self.fee_rate
        if max_assignments >= self.large_hit_threshold:
            rate += self.large_hit_extra_rate
        return max(self.min_fee, (self.reward * rate).quantize(CENT, rounding=ROUND_HALF_UP))

    def cost_per_assignment(self, max_assignments: int) -> Decimal:
        """Reward + fee of one assignment (one rater doing one HIT)."""
        return self.reward + self.fee_per_assignment(max_assignments)

    def hits_per_pair(self, n_inputs: int) -> int:
        """HITs needed to show n_inputs inputs of one pair."""
        if n_inputs < 0:
            raise ValueError("n_inputs must be >= 0")
        return math.ceil(n_inputs / self.images_per_task)

    def cost_per_pair(self, n_inputs: int, n_raters: int) -> Decimal:
        """USD for one pair: every input rated by n_raters workers (MaxAssignments = n_raters)."""
        return self.hits_per_pair(n_inputs) * n_raters * self.cost_per_assignment(n_raters)

    def cost_per_rating(self, n_raters: int) -> Decimal:
        """USD per (input, rater) rating, for a full HIT ($0.004 at the defaults)."""
        return self.cost_per_assignment(n_raters) / self.images_per_task

    def max_inputs(self, budget_per_pair: Decimal, n_raters: int) -> int:
        """Most inputs (a multiple of images_per_task) one pair can have within the budget."""
        per_hit = n_raters * self.cost_per_assignment(n_raters)
        return int(budget_per_pair // per_hit) * self.images_per_task


def cost_per_pair(n_inputs: int, n_raters: int, model: CostModel | None = None) -> Decimal:
    """USD for one pair with n_inputs inputs and n_raters ratings per input (default prices)."""
    return (model or CostModel()).cost_per_pair(n_inputs, n_raters)


def study_cost(
    n_pairs: int, n_inputs: int, n_raters: int, model: CostModel | None = None
) -> Decimal:
    """USD for a whole study of n_pairs pairs."""
    return n_pairs * cost_per_pair(n_inputs, n_raters, model)


@dataclass(frozen=True, slots=True, eq=False)
class RceSurface:
    """Expected RCE of one strategy by (inputs shown per pair, raters per input).

    inputs: (D,) increasing distinct inputs per pair, the same for every rater count, or (D, R);
    raters: (R,); rce: (D, R). Between grid points RCE is interpolated linearly in log(inputs);
    beyond the largest, the variance part is scaled by sqrt(largest / n) above the floor
    estimate `floor` (R,) (NaN: assume the last value, which never promises too much).
    """

    inputs: FloatArray
    raters: tuple[int, ...]
    rce: FloatArray
    floor: FloatArray = field(default_factory=lambda: np.zeros(0))
    source: Literal["simulation", "pilot"] = "simulation"

    def at(self, n_inputs: float, n_raters: int) -> float:
        """Expected RCE with n_inputs distinct inputs and n_raters raters (a grid rater count)."""
        if n_raters not in self.raters:
            raise ValueError(f"no RCE for {n_raters} raters; known: {self.raters}")
        r = self.raters.index(n_raters)
        xs = self.inputs if self.inputs.ndim == 1 else self.inputs[:, r]
        ys = self.rce[:, r]
        if n_inputs <= xs[0]:
            return float(ys[0]) if n_inputs == xs[0] else float("inf")
        if n_inputs <= xs[-1]:
            return float(np.interp(np.log(n_inputs), np.log(xs), ys))
        floor = self.floor[r] if self.floor.size else np.nan
        last = float(ys[-1])
        if np.isnan(floor) or floor >= last:
            return last
        return float(floor + (last - floor) * math.sqrt(xs[-1] / n_inputs))


@dataclass(frozen=True, slots=True)
class Design:
    """A candidate study design and what it buys: cost in USD (Decimal) and expected RCE."""

    n_inputs: int
    n_raters: int
    cost_per_pair: Decimal
    total_cost: Decimal
    ratings_per_pair: int
    expected_rce: float


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    """best: the design with the lowest expected RCE within budget (None if none is affordable);
    candidates: the best design per rater count; siglip_only_rce: RCE of scoring with the cheap
    model alone (no ratings, $0); recommendation: "human" or "siglip-only"."""

    budget: Decimal
    n_pairs: int
    budget_per_pair: Decimal
    best: Design | None
    candidates: tuple[Design, ...]
    siglip_only_rce: float | None
    recommendation: Literal["human", "siglip-only"]
    source: str


def plan_budget(
    budget: Decimal,
    n_pairs: int,
    surface: RceSurface | Callable[[int, int], float],
    *,
    raters: Sequence[int] | None = None,
    siglip_only_rce: float | None = None,
    cost_model: CostModel | None = None,
) -> BudgetPlan:
    """Pick (inputs per pair, raters per input) that minimises expected RCE within a budget.

    budget: total USD (Decimal) for n_pairs pairs; surface: an RceSurface or any
    f(n_inputs, n_raters) -> expected RCE; raters: rater counts to consider (default: the
    surface's). For each rater count the design spends the most it can (whole HITs); SigLIP-only
    is recommended when its RCE is no worse than the best affordable human design.
    """
    if n_pairs < 1:
        raise ValueError("n_pairs must be >= 1")
    if budget < 0:
        raise ValueError("budget must be >= 0")
    model = cost_model or CostModel()
    per_pair = (Decimal(budget) / n_pairs).quantize(Decimal("0.0001"))
    if raters is None:
        if not isinstance(surface, RceSurface):
            raise ValueError("give raters when the surface is a plain function")
        raters = surface.raters
    rce_at = surface.at if isinstance(surface, RceSurface) else surface
    candidates = []
    for m in raters:
        n = model.max_inputs(per_pair, m)
        if n < model.images_per_task:
            continue
        cost = model.cost_per_pair(n, m)
        candidates.append(
            Design(
                n_inputs=n,
                n_raters=m,
                cost_per_pair=cost,
                total_cost=cost * n_pairs,
                ratings_per_pair=n * m,
                expected_rce=float(rce_at(n, m)),
            )
        )
    best = min(candidates, key=lambda d: d.expected_rce, default=None)
    human_rce = best.expected_rce if best is not None else float("inf")
    siglip_better = siglip_only_rce is not None and siglip_only_rce <= human_rce
    return BudgetPlan(
        budget=Decimal(budget),
        n_pairs=n_pairs,
        budget_per_pair=per_pair,
        best=best,
        candidates=tuple(candidates),
        siglip_only_rce=siglip_only_rce,
        recommendation="siglip-only" if siglip_better else "human",
        source=surface.source if isinstance(surface, RceSurface) else "function",
    )
