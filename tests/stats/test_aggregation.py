"""Mean, majority, BRAgg (fixed η, EM η, Beta error model) and their label moments."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turkops.stats.aggregation import (
    bragg_beta_posterior,
    bragg_posterior,
    estimate_eta_em,
    label_moments,
    majority_vote,
    mean_vote,
    model_prior,
)


def test_known_posteriors_of_method_md() -> None:
    post = bragg_posterior(np.arange(4), 3, eta=0.23, prior=0.05)
    np.testing.assert_allclose(post, [0.0014, 0.0155, 0.150, 0.664], atol=6e-4)


@settings(max_examples=100, deadline=None)
@given(
    m=st.integers(1, 15),
    eta=st.floats(0.0, 0.49),
    prior=st.floats(0.0, 1.0),
)
def test_posteriors_lie_in_unit_interval_and_grow_with_present_votes(m, eta, prior) -> None:
    alpha = np.arange(m + 1)
    for post in (
        bragg_posterior(alpha, m, eta, prior),
        bragg_beta_posterior(alpha, m, prior),
    ):
        assert np.all((post >= 0) & (post <= 1))
        assert np.all(np.diff(post) >= -1e-12)


@settings(max_examples=50, deadline=None)
@given(m=st.integers(1, 12), prior=st.floats(0.001, 0.999))
def test_bragg_with_no_error_is_the_majority_of_a_unanimous_vote(m, prior) -> None:
    unanimous = np.array([0, m])
    post = bragg_posterior(unanimous, m, eta=0.0, prior=prior)
    np.testing.assert_array_equal(post, majority_vote(unanimous, m))
    np.testing.assert_array_equal(post, [0.0, 1.0])


def test_certain_priors_are_never_overruled() -> None:
    np.testing.assert_array_equal(bragg_posterior([3, 0], 3, 0.23, [0.0, 1.0]), [0.0, 1.0])


def test_mean_and_majority() -> None:
    np.testing.assert_allclose(mean_vote([0, 1, 2], [2, 2, 2]), [0, 0.5, 1])
    np.testing.assert_array_equal(majority_vote([0, 1, 2], 2), [0, 0, 1])
    np.testing.assert_array_equal(majority_vote([1], 2, tie=0.5), [0.5])
    with pytest.raises(ValueError):
        mean_vote([1], [0])
    with pytest.raises(ValueError):
        bragg_posterior([4], 3)


def test_shapes_broadcast_over_pairs_and_inputs() -> None:
    alpha = np.array([[0, 1, 3], [2, 2, 0]])
    prior = np.array([[0.01, 0.5, 0.9], [0.2, 0.2, 0.2]])
    post = bragg_posterior(alpha, 3, 0.2, prior)
    assert post.shape == (2, 3)
    assert post[0, 2] == pytest.approx(float(bragg_posterior(3, 3, 0.2, 0.9)))


def test_beta_error_model_exact_and_binned_agree() -> None:
    alpha = np.arange(6)
    exact = bragg_beta_posterior(alpha, 5, 0.05)
    binned = bragg_beta_posterior(alpha, 5, 0.05, n_bins=100)
    np.testing.assert_allclose(exact, binned, atol=2e-3)
    # Per-input uncertainty about η makes a 3/3 vote less convincing than with a fixed η.
    assert bragg_beta_posterior(3, 3, 0.05) < bragg_posterior(3, 3, 0.23, 0.05)


def test_model_prior_is_clipped() -> None:
    np.testing.assert_allclose(model_prior([0.0, 0.5, 1.0]), [0.001, 0.5, 0.999])


def _simulated_counts(eta: float, n: int, m: int, base: float, seed: int):
    rng = np.random.default_rng(seed)
    c = rng.uniform(size=n) < base
    rate = np.where(c, 1 - eta, eta)
    return (rng.uniform(size=(n, m)) < rate[:, None]).sum(1), c


def test_em_recovers_eta_and_its_likelihood_never_falls() -> None:
    alpha, _ = _simulated_counts(0.23, 20_000, 3, 0.3, seed=0)
    fit = estimate_eta_em(alpha, 3, 0.3)
    assert fit.eta == pytest.approx(0.23, abs=0.01)
    assert fit.converged and fit.n_iter >= 1
    assert np.all(np.diff(fit.log_likelihood_history) >= -1e-9)
    fitted_prior = estimate_eta_em(alpha, 3, 0.5, estimate_prior=True)
    assert fitted_prior.prior == pytest.approx(0.3, abs=0.03)
    assert fitted_prior.eta == pytest.approx(0.23, abs=0.015)


def test_label_moments_match_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    m, eta, prior = 3, 0.23, np.array([0.01, 0.3])
    mom = label_moments(
        lambda k, mm: bragg_posterior(k, mm, eta, prior), np.full(2, 3.0), 1 - eta, eta
    )
    for c, mean in ((0, mom.mean_absent), (1, mom.mean_present)):
        rate = 1 - eta if c else eta
        votes = (rng.uniform(size=(200_000, 2, m)) < rate).sum(-1)
        mc = bragg_posterior(votes, m, eta, prior).mean(0)
        np.testing.assert_allclose(mean, mc, atol=3e-3)
    assert np.all(mom.square_present <= mom.mean_present + 1e-12)
