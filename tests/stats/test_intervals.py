"""Intervals from bootstrap replicates: percentile, BCa (with jackknife acceleration), Fisher z."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.correlation import correlation_intervals, weighted_correlations
from turkops.stats.intervals import interval_from_replicates, jackknife_acceleration


def test_percentile_is_the_quantile_and_bca_without_bias_or_skew_equals_it() -> None:
    rng = np.random.default_rng(0)
    reps = rng.normal(0.2, 0.05, size=(999, 3))
    point = np.median(reps, axis=0)  # z0 = 0
    lo, hi = interval_from_replicates(point, reps, method="percentile")
    np.testing.assert_allclose(lo, np.quantile(reps, 0.025, axis=0))
    np.testing.assert_allclose(hi, np.quantile(reps, 0.975, axis=0))
    blo, bhi = interval_from_replicates(point, reps, method="bca", acceleration=np.zeros(3))
    np.testing.assert_allclose(blo, lo, atol=1e-3)
    np.testing.assert_allclose(bhi, hi, atol=1e-3)


def test_bca_moves_towards_the_side_the_replicates_are_biased_away_from() -> None:
    rng = np.random.default_rng(1)
    reps = rng.normal(0.0, 0.1, size=(2000, 1))
    # The estimate sits above most replicates: the bootstrap is biased low, so BCa shifts up.
    lo_p, hi_p = interval_from_replicates(np.array([0.05]), reps, method="percentile")
    lo_b, hi_b = interval_from_replicates(np.array([0.05]), reps, method="bca")
    assert lo_b[0] > lo_p[0] and hi_b[0] > hi_p[0]


def test_intervals_are_clipped_to_the_range_of_a_correlation() -> None:
    reps = np.array([[0.99], [1.3], [0.95], [1.1]])
    for method in ("percentile", "bca", "fisher-z"):
        lo, hi = interval_from_replicates(np.array([0.98]), reps, method=method)  # type: ignore[arg-type]
        assert -1.0 <= lo[0] <= hi[0] <= 1.0, method


def test_fisher_z_interval_is_symmetric_on_the_z_scale() -> None:
    rng = np.random.default_rng(2)
    reps = np.tanh(rng.normal(np.arctanh(0.6), 0.1, size=(500, 1)))
    lo, hi = interval_from_replicates(np.array([0.6]), reps, method="fisher-z")
    assert np.arctanh(0.6) - np.arctanh(lo[0]) == pytest.approx(np.arctanh(hi[0]) - np.arctanh(0.6))


def test_jackknife_acceleration_matches_leave_one_out_by_hand() -> None:
    rng = np.random.default_rng(3)
    n = 40
    a = rng.normal(size=n)
    y = (rng.uniform(size=n) < 0.3).astype(float)
    w = rng.uniform(0.5, 2.0, size=n)
    counts = rng.integers(1, 3, size=n).astype(float)
    draws_a, draws_y, draws_w = (np.repeat(x, counts.astype(int)) for x in (a, y, w))
    theta = np.array(
        [
            weighted_correlations(
                np.delete(draws_a, i), np.delete(draws_y, i), np.delete(draws_w, i)
            ).rho[0]
            for i in range(draws_a.size)
        ]
    )
    d = theta.mean() - theta
    expected = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    got = jackknife_acceleration(a, y, w, counts)
    assert got[0] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_correlation_intervals_default_to_bca_and_accept_the_other_methods() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=(5, 60))
    y = (a + rng.normal(size=a.shape) > 1).astype(float)
    w = np.ones_like(a)
    for method in ("bca", "percentile", "fisher-z"):
        ci = correlation_intervals(
            a, y, w, None, np.random.default_rng(0), n_boot=300, method=method
        )
        assert np.all(ci.low <= ci.rho) and np.all(ci.rho <= ci.high)
        assert np.all(ci.low >= -1) and np.all(ci.high <= 1)
