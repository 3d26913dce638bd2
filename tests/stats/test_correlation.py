"""The importance-weighted correlation, its bootstrap interval and the RCE."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from turkops.stats.aggregation import mean_vote
from turkops.stats.correlation import (
    correlation_interval,
    correlation_intervals,
    effective_sample_size,
    mean_relative_error,
    noise_corrected_correlation,
    relative_correlation_error,
    weighted_correlation,
    weighted_correlations,
)
from turkops.stats.sampling import draw_indices, mg_is_proposal, zscore

finite = st.floats(-10, 10, allow_nan=False, width=64)
positive = st.floats(0.01, 100, allow_nan=False, width=64)


def _spread(x: np.ndarray) -> bool:
    return float(np.ptp(x)) > 1e-3


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(5, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite),
            arrays(np.float64, n, elements=st.floats(0, 1, width=64)),
            arrays(np.float64, n, elements=positive),
        )
    ),
    scale=st.floats(1e-3, 1e3),
)
def test_self_normalised_estimate_ignores_the_scale_of_the_weights(data, scale) -> None:
    a, y, w = data
    if not (_spread(a) and _spread(y)):
        return
    one = weighted_correlation(a, y, w, self_normalised=True)
    scaled = weighted_correlation(a, y, w * scale, self_normalised=True)
    assert scaled.rho == pytest.approx(one.rho, rel=1e-7, abs=1e-9)
    assert scaled.ess == pytest.approx(one.ess, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    data=st.integers(3, 40).flatmap(
        lambda n: st.tuples(
            arrays(np.float64, n, elements=finite), arrays(np.float64, n, elements=finite)
        )
    ),
    weight=positive,
)
def test_uniform_weights_give_numpys_pearson(data, weight) -> None:
    x, y = data
    if not (_spread(x) and _spread(y)):
        return
    expected = np.corrcoef(x, y)[0, 1]
    a = zscore(x)  # z-scored over the sample itself, as it is when the sample is all of D
    plain = weighted_correlation(a, y, np.ones_like(x))
    normalised = weighted_correlation(a, y, np.full_like(x, weight), self_normalised=True)
    assert plain.rho == pytest.approx(expected, abs=1e-9)
    assert normalised.rho == pytest.approx(expected, abs=1e-9)
    assert plain.ess == pytest.approx(x.size)


def test_counts_equal_repeated_draws() -> None:
    rng = np.random.default_rng(0)
    a, y, w = rng.normal(size=6), rng.uniform(size=6), rng.uniform(0.5, 2, size=6)
    counts = np.array([1, 3, 1, 2, 1, 1])
    merged = weighted_correlation(a, y, w, counts)
    expanded = weighted_correlation(
        np.repeat(a, counts), np.repeat(y, counts), np.repeat(w, counts)
    )
    assert merged.rho == pytest.approx(expanded.rho)
    assert merged.ess == pytest.approx(expanded.ess)
    assert merged.n_draws == 9 and merged.n_unique == 6


def test_no_positive_drawn_is_degenerate_not_nan() -> None:
    est = weighted_correlation(np.array([0.1, -1.0, 2.0]), np.zeros(3), np.ones(3))
    assert est.degenerate and est.rho == 0.0


def test_batched_equals_one_by_one_with_padding() -> None:
    rng = np.random.default_rng(1)
    a, y, w = rng.normal(size=(4, 8)), rng.uniform(size=(4, 8)), rng.uniform(0.5, 2, (4, 8))
    counts = rng.integers(1, 3, (4, 8))
    counts[2, 5:] = 0  # pair 2 has only 5 inputs
    batch = weighted_correlations(a, y, w, counts)
    for k in range(4):
        keep = counts[k] > 0
        one = weighted_correlation(a[k][keep], y[k][keep], w[k][keep], counts[k][keep])
        got = batch.at(k)
        assert (got.n_draws, got.n_unique, got.degenerate) == (
            one.n_draws,
            one.n_unique,
            one.degenerate,
        )
        for field in ("rho", "mu_c", "sigma_c", "ess"):
            assert getattr(got, field) == pytest.approx(getattr(one, field), rel=1e-12)


def test_effective_sample_size() -> None:
    assert effective_sample_size(np.ones(10)) == pytest.approx(10)
    assert effective_sample_size(np.array([1.0, 0.0, 0.0])) == pytest.approx(1)
    assert effective_sample_size(np.array([2.0, 1.0]), np.array([1, 2])) == pytest.approx(16 / 6)


def _population(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = (rng.uniform(size=n) < 0.02).astype(float)
    a = 3.0 * c + rng.standard_t(4, n)
    model = np.clip(0.8 * c + 0.1 * rng.uniform(size=n), 0, 1)
    return a, c, model


def test_importance_sampled_moments_are_unbiased_over_many_seeds() -> None:
    a, c, model = _population()
    n_pop = a.size
    a_z = zscore(a)
    q = mg_is_proposal(a, model)
    true_cross = float(np.mean(a_z * c))  # E_p[ā c] = cov(ā, c)
    true_mu = float(c.mean())
    reps, n = 3000, 60
    idx = draw_indices(np.tile(q, (reps, 1)), n, np.random.default_rng(42))
    w = 1.0 / (n_pop * q[idx])
    cross = (w * a_z[idx] * c[idx]).mean(axis=1)
    mu = (w * c[idx]).mean(axis=1)
    for est, truth in ((cross, true_cross), (mu, true_mu)):
        se = est.std(ddof=1) / np.sqrt(reps)
        assert abs(est.mean() - truth) < 4 * se
    # ρ̂ is a ratio, unbiased only up to O(1/n): check it against its own standard error plus
    # a small allowance, with a sample large enough for that term to be small.
    n = 400
    idx = draw_indices(np.tile(q, (reps, 1)), n, np.random.default_rng(43))
    est = weighted_correlations(a_z[idx], c[idx], 1.0 / (n_pop * q[idx])).rho
    truth = np.corrcoef(a, c)[0, 1]
    se = est.std(ddof=1) / np.sqrt(reps)
    assert abs(est.mean() - truth) < 4 * se + 0.01 * abs(truth)


def test_noise_correction_removes_the_attenuation_of_noisy_labels() -> None:
    a, c, _ = _population(n=200_000, seed=3)
    rng = np.random.default_rng(4)
    eta, m = 0.2, 3
    votes = (rng.uniform(size=(c.size, m)) < np.where(c[:, None] > 0, 1 - eta, eta)).sum(1)
    labels = mean_vote(votes, m)
    a_z = zscore(a)
    w = np.ones_like(a)
    truth = np.corrcoef(a, c)[0, 1]
    naive = weighted_correlation(a_z, labels, w).rho
    corrected = noise_corrected_correlation(a_z, labels, eta, 1 - eta, w).rho[0]
    assert naive < 0.5 * truth  # rare concept: the noise floor is large
    assert corrected == pytest.approx(truth, rel=0.1)


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible() -> None:
    a, c, model = _population(seed=5)
    q = mg_is_proposal(a, model)
    idx = np.unique(draw_indices(q, 300, np.random.default_rng(6)), return_counts=True)
    keep, counts = idx
    a_z = zscore(a)[keep]
    w = 1.0 / (a.size * q[keep])
    one = correlation_interval(a_z, c[keep], w, counts, np.random.default_rng(9), n_boot=400)
    again = correlation_interval(a_z, c[keep], w, counts, np.random.default_rng(9), n_boot=400)
    assert one == again
    assert one.low <= one.rho <= one.high
    assert one.se > 0 and one.high - one.low < 1.0


def test_bootstrap_interval_covers_the_truth_about_as_often_as_it_claims() -> None:
    a, c, model = _population(seed=7)
    q = mg_is_proposal(a, model)
    truth = np.corrcoef(a, c)[0, 1]
    reps = 200
    idx = draw_indices(np.tile(q, (reps, 1)), 200, np.random.default_rng(8))
    w = 1.0 / (a.size * q[idx])
    ci = correlation_intervals(
        zscore(a)[idx], c[idx], w, None, np.random.default_rng(10), n_boot=300, level=0.9
    )
    coverage = np.mean((ci.low <= truth) & (truth <= ci.high))
    assert 0.75 <= coverage <= 0.98


def test_batched_interval_groups_pairs_by_sample_size() -> None:
    rng = np.random.default_rng(11)
    a, y, w = rng.normal(size=(3, 12)), rng.uniform(size=(3, 12)), rng.uniform(0.5, 2, (3, 12))
    counts = np.ones((3, 12), dtype=int)
    counts[1, 8:] = 0
    ci = correlation_intervals(a, y, w, counts, np.random.default_rng(0), n_boot=200)
    assert np.all(ci.low <= ci.rho + 1e-12) and np.all(ci.rho <= ci.high + 1e-12)
    np.testing.assert_allclose(ci.rho, weighted_correlations(a, y, w, counts).rho)


def test_relative_correlation_error() -> None:
    assert relative_correlation_error([0.1, 0.5], [0.2, 0.4]) == pytest.approx(0.2 / 0.6)
    assert mean_relative_error([0.1, 0.5], [0.2, 0.4]) == pytest.approx((0.5 + 0.25) / 2)
    with pytest.raises(ValueError):
        relative_correlation_error([0.1], [0.0])
