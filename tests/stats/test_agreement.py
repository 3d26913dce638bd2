"""Fleiss' kappa, also with a varying number of ratings per item."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.agreement import fleiss_kappa, fleiss_kappa_binary

# Fleiss (1971), as reproduced on Wikipedia: 10 items, 14 raters, 5 categories, kappa 0.210.
FLEISS_1971 = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)


def test_the_published_example() -> None:
    res = fleiss_kappa(FLEISS_1971)
    assert res.kappa == pytest.approx(0.210, abs=5e-4)
    assert res.observed == pytest.approx(0.378, abs=5e-4)
    assert res.expected == pytest.approx(0.213, abs=5e-4)
    assert (res.n_items, res.n_ratings) == (10, 140)


def test_varying_raters_follow_the_documented_formula() -> None:
    counts = np.array([[3, 0], [1, 1], [0, 2], [1, 0], [2, 1]])  # item 4 has one rating: left out
    res = fleiss_kappa(counts)
    p_i = np.array([1.0, 0.0, 1.0, (4 + 1 - 3) / 6])
    shares = np.array([6, 4]) / 10
    pe = (shares**2).sum()
    assert res.kappa == pytest.approx((p_i.mean() - pe) / (1 - pe))
    assert res.n_items == 4


def test_missing_assignments_do_not_change_a_constant_agreement() -> None:
    full = fleiss_kappa_binary([3, 0, 3, 0], [3, 3, 3, 3])
    partial = fleiss_kappa_binary([2, 0, 3, 0], [2, 3, 3, 2])
    assert full.kappa == pytest.approx(1.0) and partial.kappa == pytest.approx(1.0)


def test_chance_agreement_is_near_zero() -> None:
    rng = np.random.default_rng(0)
    alpha = rng.binomial(5, 0.3, size=5000)
    assert abs(fleiss_kappa_binary(alpha, np.full(5000, 5)).kappa) < 0.02


def test_undefined_and_invalid_inputs() -> None:
    assert np.isnan(fleiss_kappa(np.array([[3, 0], [2, 0]])).kappa)
    with pytest.raises(ValueError):
        fleiss_kappa(np.array([[1, 0]]))
    with pytest.raises(ValueError):
        fleiss_kappa_binary([4], [3])
