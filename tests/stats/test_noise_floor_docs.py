"""The majority-vote noise floors quoted in docs/statistics.md, recomputed with label_moments
(the code the simulator uses for its closed-form floors)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize

from turkops.stats.aggregation import label_moments, majority_vote

ETA = 0.23
TARGET = 0.275


def _floor(m: int, base_rate: float) -> float:
    """1 - ρ(a, ĉ)/ρ(a, c) for a majority of m votes: ĉ depends on c only, so
    cov(a, ĉ) = (f1 - f0) cov(a, c) and the ratio is (f1 - f0) sd(c) / sd(ĉ)."""
    mom = label_moments(majority_vote, np.array([float(m)]), 1 - ETA, ETA)
    f0, f1 = float(mom.mean_absent[0]), float(mom.mean_present[0])
    b = base_rate
    mean = b * f1 + (1 - b) * f0
    var = b * float(mom.square_present[0]) + (1 - b) * float(mom.square_absent[0]) - mean**2
    return 1 - (f1 - f0) * np.sqrt(b * (1 - b)) / np.sqrt(var)


def test_at_a_base_rate_of_one_in_a_thousand_majority_needs_29_raters() -> None:
    reaching = [m for m in range(1, 61, 2) if _floor(m, 0.001) <= TARGET]
    assert reaching[0] == 29
    assert _floor(27, 0.001) == pytest.approx(0.2997, abs=1e-4)
    assert _floor(29, 0.001) == pytest.approx(0.2361, abs=1e-4)


def test_three_raters_reach_the_target_from_a_base_rate_of_40_5_percent() -> None:
    b = optimize.brentq(lambda x: _floor(3, x) - TARGET, 0.01, 0.5)
    assert b == pytest.approx(0.405, abs=5e-4)
    assert _floor(3, 0.40) > TARGET > _floor(3, 0.41)
