"""One-coin Dawid-Skene: per-worker errors, spammers, prior regression, real crowd data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from turkops.stats.aggregation import bragg_posterior, estimate_eta_em, majority_vote
from turkops.stats.dawid_skene import dawid_skene_one_coin

CROWD = Path(__file__).parents[1] / "data" / "crowd"


def _crowd(n_items: int, m: int, etas: np.ndarray, base: float, seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(size=n_items) < base
    workers = np.stack([rng.choice(etas.size, m, replace=False) for _ in range(n_items)])
    wrong = rng.uniform(size=(n_items, m)) < etas[workers]
    values = (truth[:, None] ^ wrong).astype(int)
    items = np.repeat(np.arange(n_items), m)
    return items, workers.ravel(), values.ravel(), truth


def test_spammers_are_found_and_discounted() -> None:
    etas = np.array([0.1] * 14 + [0.5] * 6)
    items, workers, values, truth = _crowd(3000, 5, etas, 0.3, seed=0)
    fit = dawid_skene_one_coin(items, workers, values, 0.3)
    assert np.all(fit.worker_eta[14:] > 0.4) and np.all(fit.worker_eta[:14] < 0.15)
    assert np.all(np.diff(fit.log_likelihood_history) >= -1e-6)
    alpha = np.bincount(items, weights=values)
    shared = estimate_eta_em(alpha, 5, 0.3)
    err_ds = np.abs(fit.posterior - truth).mean()
    err_shared = np.abs(shared.posterior - truth).mean()
    assert err_ds < 0.8 * err_shared


def test_equal_workers_reduce_to_bragg() -> None:
    etas = np.full(8, 0.2)
    items, workers, values, _ = _crowd(8000, 3, etas, 0.4, seed=1)
    fit = dawid_skene_one_coin(items, workers, values, 0.4)
    np.testing.assert_allclose(fit.worker_eta, 0.2, atol=0.04)
    alpha = np.bincount(items, weights=values)
    expected = bragg_posterior(alpha, 3, float(fit.worker_eta.mean()), 0.4)
    np.testing.assert_allclose(fit.posterior, expected, atol=0.1)
    assert np.abs(fit.posterior - expected).mean() < 0.02


def test_prior_regression_learns_a_covariate_per_group() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    groups = np.repeat([0, 1], n // 2)
    x = rng.normal(size=n)
    slope = np.where(groups == 0, 2.0, 0.0)
    truth = rng.uniform(size=n) < 1 / (1 + np.exp(-(slope * x - 1.0)))
    wrong = rng.uniform(size=n) < 0.2
    values = (truth ^ wrong).astype(int)
    fit = dawid_skene_one_coin(
        np.arange(n),
        np.zeros(n, dtype=int),
        values,
        0.5,
        covariates=np.stack([np.ones(n), x], 1),
        groups=groups,
        covariate_penalty=0.01,
    )
    assert fit.coefficients is not None
    assert fit.coefficients[0, 1] == pytest.approx(2.0, abs=0.6)
    assert abs(fit.coefficients[1, 1]) < 0.4
    assert np.all(np.diff(fit.log_likelihood_history) >= -1e-6)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        dawid_skene_one_coin([0, 1], [0], [1, 0])
    with pytest.raises(ValueError):
        dawid_skene_one_coin([0], [0], [2])


def _load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(item codes, worker codes, 0/1 values, gold per item code) of a real crowd dataset."""
    if not CROWD.is_dir():
        raise FileNotFoundError(
            f"real crowd data missing: {CROWD} (tests/data/crowd is part of the repository)"
        )
    if name == "rte":
        rows = np.loadtxt(CROWD / "rte.txt", dtype=int)
        gold = np.loadtxt(CROWD / "rte_truth.txt", dtype=int)
        item, worker, value = rows[:, 0], rows[:, 1], rows[:, 2] - 1
        gold_item, gold_value = gold[:, 0], gold[:, 1] - 1
    else:
        with open(CROWD / "bluebirds_answer.csv") as f:
            rows = np.array([[int(v) for v in r.values()] for r in csv.DictReader(f)])
        with open(CROWD / "bluebirds_truth.csv") as f:
            gold = np.array([[int(v) for v in r.values()] for r in csv.DictReader(f)])
        item, worker, value = rows[:, 0], rows[:, 1], rows[:, 2]
        gold_item, gold_value = gold[:, 0], gold[:, 1]
    items, item_code = np.unique(item, return_inverse=True)
    _, worker_code = np.unique(worker, return_inverse=True)
    truth = np.full(items.size, -1)
    truth[np.searchsorted(items, gold_item)] = gold_value
    assert np.all(truth >= 0)
    return item_code, worker_code, value, truth


@pytest.mark.parametrize(
    ("name", "majority_ref", "ds_ref"), [("rte", 0.838, 0.865), ("bluebirds", 0.521, 0.532)]
)
def test_real_crowds_majority_reproduces_and_dawid_skene_matches_or_beats(
    name: str, majority_ref: float, ds_ref: float
) -> None:
    items, workers, values, truth = _load(name)
    alpha = np.bincount(items, weights=values)
    totals = np.bincount(items)
    corr = lambda x: float(np.corrcoef(x, truth)[0, 1])  # noqa: E731
    assert corr(majority_vote(alpha, totals)) == pytest.approx(majority_ref, abs=5e-4)
    fit = dawid_skene_one_coin(items, workers, values, 0.5)
    assert round(corr(fit.posterior), 3) >= ds_ref
    # Per-worker errors are what helps: one shared η does no better than the majority here.
    shared = estimate_eta_em(alpha, totals, 0.5)
    assert corr(fit.posterior) > corr(shared.posterior)


def test_activation_aware_posterior_removes_the_attenuation_of_bragg() -> None:
    from turkops.stats.aggregation import model_prior
    from turkops.stats.correlation import weighted_correlations
    from turkops.stats.dawid_skene import dawid_skene_with_activation
    from turkops.stats.sampling import draw_indices, mg_is_proposal, zscore
    from turkops.stats.synthetic import (
        CrowdSetting,
        PopulationSetting,
        simulate_crowd,
        simulate_population,
        simulate_votes,
    )

    rng = np.random.default_rng(3)
    k, n_pop, n, m = 12, 20_000, 1500, 3
    pop = simulate_population(
        PopulationSetting(n_inputs=n_pop, base_rate=(0.003, 0.01), correlation=(0.2, 0.5)), k, rng
    )
    crowd = simulate_crowd(CrowdSetting(eta=0.23), rng)
    q = mg_is_proposal(pop.activations, pop.concept_probs)
    idx = np.sort(draw_indices(q, n, rng), axis=1)
    rows = np.arange(k)[:, None]
    keys, inv = np.unique((idx + rows * n_pop).ravel(), return_inverse=True)
    votes, workers = simulate_votes(crowd, pop.concept.ravel()[keys], m, keys)
    prior = model_prior(pop.concept_probs.ravel()[keys])
    a_z = zscore(pop.activations)
    act = a_z.ravel()[keys]
    fit = dawid_skene_with_activation(
        np.repeat(np.arange(keys.size), m),
        workers.ravel(),
        votes.ravel(),
        prior,
        act,
        keys // n_pop,
        n_workers=crowd.n_workers,
    )
    assert fit.coefficients is not None and fit.coefficients.shape == (k, 2)
    w = 1.0 / (n_pop * q[rows, idx])
    ours = weighted_correlations(
        a_z[rows, idx], fit.posterior[inv].reshape(k, n), w, concept_variance="binary"
    ).rho
    alpha = votes.sum(1)[inv].reshape(k, n)
    bragg = weighted_correlations(
        a_z[rows, idx], bragg_posterior(alpha, m, 0.23, prior[inv].reshape(k, n)), w
    ).rho
    assert np.mean(bragg - pop.rho) < -0.05  # BRAgg(model) is attenuated
    assert abs(np.mean(ours - pop.rho)) < 0.04
    assert np.abs(ours - pop.rho).sum() < 0.6 * np.abs(bragg - pop.rho).sum()
