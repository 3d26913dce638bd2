"""Pooling per-pair estimates towards the cheap model's line (turkops/stats/pooling.py)."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.pooling import (
    MIN_POOL_PAIRS,
    group_design,
    pooled_points,
    robust_fay_herriot,
)


def _study(
    rng: np.random.Generator, k: int = 200, tau: float = 0.02, slope: float = 1.5
) -> tuple[np.ndarray, ...]:
    """True ρ on a line in ρ_model with spread tau, own estimates with se 0.05-0.12."""
    x = rng.uniform(0.0, 0.25, size=k)
    truth = 0.01 + slope * x + tau * rng.normal(size=k)
    se = rng.uniform(0.05, 0.12, size=k)
    y = truth + se * rng.normal(size=k)
    return x, truth, se, y


def test_the_fit_recovers_the_line_and_its_spread() -> None:
    rng = np.random.default_rng(0)
    x, truth, se, y = _study(rng, k=2000, tau=0.05)
    fit = robust_fay_herriot(y, se, np.stack([np.ones_like(x), x], axis=1))
    assert fit.beta == pytest.approx([0.01, 1.5], abs=0.03)
    # Huber's estimating equation is consistent for τ² at the normal: 0.05² = 0.0025.
    assert fit.tau2 == pytest.approx(0.0025, rel=0.3)
    # The pooled values are closer to the truth than the pairs' own estimates.
    own_err = np.mean(np.abs(y - truth))
    assert np.mean(np.abs(fit.prediction - truth)) < 0.6 * own_err


def test_a_line_that_holds_pulls_every_pair_onto_it() -> None:
    rng = np.random.default_rng(1)
    x, truth, se, y = _study(rng, tau=0.0)
    fit = robust_fay_herriot(y, se, np.stack([np.ones_like(x), x], axis=1))
    # τ² at the noise of its estimate (200 pairs with se 0.05-0.12), far below the se².
    assert fit.tau2 < 0.002
    line = fit.beta[0] + fit.beta[1] * x
    assert np.max(np.abs(fit.prediction - line)) < 0.03
    assert np.mean(np.abs(fit.prediction - truth)) < 0.3 * np.mean(np.abs(y - truth))


def test_a_cheap_model_that_predicts_nothing_leaves_pairs_near_their_own_estimates() -> None:
    rng = np.random.default_rng(2)
    k = 300
    truth = rng.uniform(-0.1, 0.5, size=k)  # unrelated to x: τ is the whole spread
    x = rng.uniform(0.0, 0.25, size=k)
    se = np.full(k, 0.03)
    y = truth + se * rng.normal(size=k)
    fit = robust_fay_herriot(y, se, np.stack([np.ones_like(x), x], axis=1))
    assert fit.tau2 > 0.02
    assert np.mean(np.abs(fit.prediction - y)) < 0.01


def test_one_wild_estimate_moves_neither_the_line_nor_itself_without_bound() -> None:
    rng = np.random.default_rng(3)
    x, truth, se, y = _study(rng, k=60, tau=0.01)
    design = np.stack([np.ones_like(x), x], axis=1)
    clean = robust_fay_herriot(y, se, design)
    y_bad = y.copy()
    y_bad[0] = -0.9  # a design variance that missed a cluster of false votes
    bad = robust_fay_herriot(y_bad, se, design)
    assert bad.beta == pytest.approx(clean.beta, abs=0.03)
    line0 = bad.beta[0] + bad.beta[1] * x[0]
    # Huber: at most c·τ²/s from the line, whatever the estimate.
    bound = 1.345 * bad.tau2 / np.sqrt(bad.tau2 + se[0] ** 2)
    assert abs(bad.prediction[0] - line0) <= bound + 1e-8
    assert abs(bad.prediction[0] - truth[0]) < 0.15


def test_points_stay_inside_their_intervals_and_small_studies_are_not_pooled() -> None:
    rng = np.random.default_rng(4)
    x, truth, se, y = _study(rng, k=40, tau=0.0)
    own = y + 0.01
    low, high = y - 1.0 * se, y + 1.0 * se  # narrow: the line often lies outside
    out = pooled_points(own, y, se, low, high, x)
    assert np.all((low <= out) & (out <= high))
    assert np.any(out == low) or np.any(out == high)
    few = MIN_POOL_PAIRS - 1
    alone = pooled_points(own[:few], y[:few], se[:few], low[:few], high[:few], x[:few])
    np.testing.assert_array_equal(alone, own[:few])
    # A pair without a usable estimate keeps its own point; the others still pool.
    y_nan = y.copy()
    y_nan[5] = np.nan
    part = pooled_points(own, y_nan, se, low, high, x)
    assert part[5] == own[5] and not np.allclose(part, own)


def test_each_method_gets_its_own_line() -> None:
    # Method B's explanations were picked by a model like the cheap one, so the cheap model
    # over-rates them: their true ρ is half what the shared line would say.
    rng = np.random.default_rng(5)
    x, truth, se, y = _study(rng, k=120, tau=0.0)
    b = np.arange(x.size) >= 60
    truth = np.where(b, truth / 2, truth)
    y = truth + se * rng.normal(size=x.size)
    wide = np.full(x.size, 1.0)
    groups = [["B"] if bb else ["A"] for bb in b]
    per_method = pooled_points(y, y, se, -wide, wide, x, groups)
    shared = pooled_points(y, y, se, -wide, wide, x)
    err = np.abs(per_method - truth)[b].mean()
    assert err < 0.7 * np.abs(shared - truth)[b].mean()
    assert err < 0.5 * np.abs(y - truth)[b].mean()


def test_group_design_shares_pairs_and_merges_small_groups() -> None:
    x = np.linspace(0, 0.2, 25)
    groups = [["A"]] * 12 + [["A", "B"]] + [["B"]] * 12
    d = group_design(x, groups)
    assert d.shape == (25, 4)
    np.testing.assert_allclose(d[12], [0.5, 0.5, 0.5 * x[12], 0.5 * x[12]])
    # A group below MIN_POOL_PAIRS joins a shared line with the other small ones ...
    small = [["A"]] * 12 + [["C"]] * 5 + [["D"]] * 8
    d2 = group_design(x, small)
    assert d2.shape == (25, 4) and np.all(d2[12:, 1] == 1.0)
    # ... and when those are too few, every pair shares one line.
    d3 = group_design(x, [["A"]] * 20 + [["C"]] * 5)
    assert d3.shape == (25, 2)
    with pytest.raises(ValueError):
        group_design(x, groups[:3])


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="se finite and > 0"):
        robust_fay_herriot([0.1, 0.2], [0.0, 0.1], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="share one shape"):
        pooled_points([0.1], [0.1, 0.2], [0.1], [0.0], [0.2], [0.1])


def test_a_degenerate_standard_error_does_not_set_the_line_alone() -> None:
    rng = np.random.default_rng(6)
    x, truth, se, y = _study(rng, k=60, tau=0.0)
    se_bad, y_bad = se.copy(), y.copy()
    se_bad[0], y_bad[0] = 1e-6, 0.6  # a variance estimate of ~0 far off the line
    wide = np.ones_like(x)
    clean = pooled_points(y, y, se, -wide, wide, x)
    bad = pooled_points(y_bad, y_bad, se_bad, -wide, wide, x)
    # Huber caps its weight and τ² absorbs it: the others still pool (measured error 0.021
    # against 0.014 without it and 0.072 for the own estimates).
    assert np.abs(bad - truth)[1:].mean() < 0.5 * np.abs(y - truth)[1:].mean()
    assert np.abs(bad - clean)[1:].mean() < 0.02


def test_a_cheap_model_with_no_spread_pools_towards_the_study_mean() -> None:
    # A constant prior gives ρ_model = 0 for every pair: the slope column carries nothing and
    # the line is the (robust) mean of the pairs.
    rng = np.random.default_rng(7)
    k = 50
    truth = np.full(k, 0.2)
    se = np.full(k, 0.08)
    y = truth + se * rng.normal(size=k)
    wide = np.ones(k)
    out = pooled_points(y, y, se, -wide, wide, np.zeros(k))
    assert np.all(np.isfinite(out)) and np.ptp(out) < 1e-6  # one value: the mean's
    # The mean of 50 estimates with se 0.08 errs by about 0.011 (measured 0.024, own 0.057).
    assert np.abs(out - truth).mean() < 0.6 * np.abs(y - truth).mean()
