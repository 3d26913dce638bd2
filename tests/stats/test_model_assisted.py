"""The model-assisted (difference) estimator and its variance."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.model_assisted import model_assisted_correlations
from turkops.stats.sampling import draw_indices, mg_is_proposal, zscore
from turkops.stats.synthetic import PopulationSetting, pearson_rows, simulate_population


def _population(k: int = 8) -> tuple:
    pop = simulate_population(
        PopulationSetting(n_inputs=3000, base_rate=(0.01, 0.05)), k, np.random.default_rng(0)
    )
    return pop, zscore(pop.activations), mg_is_proposal(pop.activations, pop.concept_probs)


def test_a_perfect_model_gives_the_true_correlation_with_no_error() -> None:
    pop, a_z, q = _population()
    idx = draw_indices(q, 50, np.random.default_rng(1))
    rows = np.arange(idx.shape[0])[:, None]
    c = pop.concept
    est = model_assisted_correlations(
        a_z, c, q, idx, c[rows, idx], np.zeros_like(c), np.ones_like(c)
    )
    np.testing.assert_allclose(est.rho, pearson_rows(pop.activations, c), atol=1e-9)
    np.testing.assert_allclose(est.se, 0.0, atol=1e-9)


def test_covariance_is_unbiased_even_with_an_uninformative_model() -> None:
    pop, a_z, q = _population(k=2)
    c = pop.concept
    flat = np.full_like(c, 0.03)  # knows nothing about which input has the concept
    rows = np.arange(2)[:, None]
    rng = np.random.default_rng(2)
    sums = []
    for _ in range(400):
        idx = draw_indices(q, 100, rng)
        est = model_assisted_correlations(
            a_z, flat, q, idx, c[rows, idx], np.zeros_like(c), np.ones_like(c)
        )
        sums.append(est.cov)
    truth_cov = (a_z * c).mean(-1)
    assert np.mean(sums, axis=0) == pytest.approx(truth_cov, rel=0.1)


def test_rejects_a_proposal_with_zeros() -> None:
    pop, a_z, q = _population(k=1)
    q0 = q.copy()
    q0[0, 0] = 0.0
    with pytest.raises(ValueError, match="proposal"):
        model_assisted_correlations(
            a_z,
            pop.concept_probs,
            q0,
            np.array([[1, 2]]),
            np.array([[0.0, 1.0]]),
            np.zeros_like(q),
            np.ones_like(q),
        )
