"""Two-coin Dawid-Skene: known answers, recovery of asymmetric raters, Hypothesis properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turkops.stats.dawid_skene import dawid_skene_one_coin
from turkops.stats.synthetic import CrowdSetting, simulate_crowd, simulate_votes
from turkops.stats.two_coin import (
    crowd_strength,
    dawid_skene_two_coin,
    two_coin_posterior,
    two_coin_with_activation,
)


def test_posterior_is_bayes_rule_by_hand() -> None:
    # Item 0: worker 0 (sens .9, spec .6) says 1, worker 1 (sens .7, spec .95) says 0.
    post = two_coin_posterior([0, 0], [0, 1], [1, 0], [0.9, 0.7], [0.6, 0.95], 0.3)
    like1 = 0.9 * (1 - 0.7)
    like0 = (1 - 0.6) * 0.95
    assert post[0] == pytest.approx(0.3 * like1 / (0.3 * like1 + 0.7 * like0), rel=1e-12)
    # No ratings: the prior; a certain prior is never overruled.
    assert two_coin_posterior([0], [0], [1], [0.9], [0.9], [0.2, 0.4], n_items=2)[1] == 0.4
    assert two_coin_posterior([0], [0], [1], [0.9], [0.9], 0.0)[0] == 0.0


def _asymmetric(n_items: int, m: int, seed: int):
    rng = np.random.default_rng(seed)
    crowd = simulate_crowd(CrowdSetting(rater_errors="two-coin", n_workers=40), rng)
    truth = (rng.random(n_items) < 0.3).astype(float)
    votes, workers = simulate_votes(crowd, truth, m)
    items = np.repeat(np.arange(n_items), m)
    return items, workers.ravel().astype(np.int64), votes.ravel(), truth, crowd


def test_recovers_sensitivity_and_specificity_and_beats_one_coin() -> None:
    items, workers, values, truth, crowd = _asymmetric(4000, 5, seed=3)
    fit = dawid_skene_two_coin(items, workers, values, 0.3, n_workers=crowd.n_workers)
    assert fit.converged
    assert np.abs(fit.sensitivity - crowd.rate_if_present).mean() < 0.05
    assert np.abs(fit.specificity - (1 - crowd.rate_if_absent)).mean() < 0.03
    # The crowd rates it shrinks to are the pooled truth: missed images >> false ticks.
    assert fit.crowd_sensitivity == pytest.approx(crowd.rate_if_present.mean(), abs=0.03)
    assert fit.crowd_specificity > 0.9
    one = dawid_skene_one_coin(items, workers, values, 0.3, n_workers=crowd.n_workers)
    corr = lambda x: float(np.corrcoef(x, truth)[0, 1])  # noqa: E731
    assert corr(fit.posterior) > corr(one.posterior) + 0.01


def test_shrinkage_pulls_a_worker_with_few_ratings_to_the_crowd() -> None:
    items, workers, values, _, crowd = _asymmetric(2000, 3, seed=5)
    # A newcomer with two ratings, both "present" on items the crowd calls absent.
    absent = np.flatnonzero(np.bincount(items, weights=values) == 0)[:2]
    items = np.concatenate([items, absent])
    workers = np.concatenate([workers, [crowd.n_workers, crowd.n_workers]])
    values = np.concatenate([values, [1, 1]]).astype(np.int8)
    loose = dawid_skene_two_coin(items, workers, values, 0.3, strength=0.0)
    shrunk = dawid_skene_two_coin(items, workers, values, 0.3, strength=4.0)
    new = crowd.n_workers
    assert loose.specificity[new] < 0.05  # maximum likelihood: the newcomer always errs
    assert shrunk.specificity[new] > 0.5  # the crowd prior keeps one slip-up from defining them
    assert abs(shrunk.specificity[new] - shrunk.crowd_specificity) < abs(
        loose.specificity[new] - shrunk.crowd_specificity
    )


def test_strength_by_marginal_likelihood_tells_a_uniform_crowd_from_a_varied_one() -> None:
    rng = np.random.default_rng(11)
    n = np.full(200, 40.0)
    same = rng.binomial(40, 0.8, 200).astype(float)  # every worker's rate is 0.8
    varied = rng.binomial(40, rng.beta(6, 3, 200)).astype(float)  # rates spread, mean 2/3
    assert crowd_strength(same, n, same, n, 0.8, 0.8) == np.inf
    s = crowd_strength(varied, n, varied, n, 2 / 3, 2 / 3)
    assert 4 <= s <= 32  # Beta(6, 3) has s = 9
    # Soft (fractional) counts are allowed: the counts of EM are expected counts.
    assert crowd_strength(same * 0.5, n * 0.5, same, n, 0.8, 0.8) == np.inf


def test_chosen_strength_keeps_one_rating_per_item_from_inventing_worker_differences() -> None:
    # One rating per item, a rare class and a crowd whose workers all err alike: a fixed s = 4
    # spreads the fitted sensitivities by chance; the strength chosen by marginal likelihood
    # sees one crowd and keeps every worker at it.
    rng = np.random.default_rng(12)
    n_items, n_workers = 6000, 60
    prior = np.clip(rng.beta(0.3, 6, n_items), 0.001, 0.999)
    truth = (rng.random(n_items) < prior).astype(float)
    workers = rng.integers(0, n_workers, n_items)
    values = np.where(rng.random(n_items) < 0.23, 1 - truth, truth)
    items = np.arange(n_items)
    fixed = dawid_skene_two_coin(items, workers, values, prior, n_workers=n_workers)
    chosen = dawid_skene_two_coin(items, workers, values, prior, strength=None)
    assert fixed.strength == 4.0 and chosen.strength >= 256
    assert np.std(fixed.sensitivity) > 0.04
    assert np.std(chosen.sensitivity) < 0.01
    assert abs(chosen.crowd_specificity - 0.77) < 0.03  # the rare class leaves sensitivity vague
    # On a crowd whose workers do differ, it keeps them apart.
    items, workers_v, values_v, _, crowd = _asymmetric(3000, 3, seed=13)
    varied = dawid_skene_two_coin(items, workers_v, values_v, 0.3, strength=None)
    assert varied.strength <= 32
    assert np.abs(varied.sensitivity - crowd.rate_if_present).mean() < 0.06


def test_activation_refinement_fits_per_pair_coefficients() -> None:
    items, workers, values, truth, crowd = _asymmetric(3000, 3, seed=7)
    rng = np.random.default_rng(0)
    act = 1.5 * truth + rng.standard_normal(truth.size)
    pairs = np.arange(truth.size) % 3
    fit = two_coin_with_activation(items, workers, values, 0.3, act, pairs)
    assert fit.coefficients is not None and fit.coefficients.shape == (3, 2)
    assert np.all(fit.coefficients[:, 1] > 0.5)  # activation predicts the concept
    plain = dawid_skene_two_coin(items, workers, values, 0.3)
    corr = lambda x: float(np.corrcoef(x, truth)[0, 1])  # noqa: E731
    assert corr(fit.posterior) > corr(plain.posterior)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        dawid_skene_two_coin([0, 1], [0], [1, 0])
    with pytest.raises(ValueError):
        dawid_skene_two_coin([0], [0], [2])
    with pytest.raises(ValueError):
        dawid_skene_two_coin([0], [0], [1], 1.5)
    with pytest.raises(ValueError):
        dawid_skene_two_coin([0], [0], [1], strength=-1)


_ratings = st.integers(1, 6).flatmap(
    lambda n_w: st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, n_w - 1), st.integers(0, 1)),
        min_size=1,
        max_size=40,
    )
)


@settings(max_examples=40, deadline=None)
@given(rows=_ratings, prior=st.floats(0.01, 0.99), strength=st.floats(0.0, 20.0))
def test_fit_posteriors_lie_in_unit_interval_and_workers_beat_chance(
    rows: list[tuple[int, int, int]], prior: float, strength: float
) -> None:
    items, workers, values = (np.array(c) for c in zip(*rows, strict=True))
    fit = dawid_skene_two_coin(items, workers, values, prior, strength=strength, max_iter=30)
    assert np.all((fit.posterior >= 0) & (fit.posterior <= 1))
    assert np.all(np.isfinite(fit.posterior))
    # No worker is fitted worse than random: the labels cannot flip meaning.
    assert np.all(fit.sensitivity + fit.specificity >= 1 - 1e-12)


@settings(max_examples=60, deadline=None)
@given(
    votes=st.lists(st.integers(0, 1), min_size=1, max_size=8),
    flip=st.integers(0, 7),
    sens=st.lists(st.floats(0.5, 0.99), min_size=8, max_size=8),
    spec=st.lists(st.floats(0.5, 0.99), min_size=8, max_size=8),
    prior=st.floats(0.001, 0.999),
)
def test_posterior_is_monotone_in_positive_votes(
    votes: list[int], flip: int, sens: list[float], spec: list[float], prior: float
) -> None:
    """Turning one "absent" vote into "present" never lowers the posterior (sens + spec >= 1)."""
    k = flip % len(votes)
    before = np.array(votes)
    after = before.copy()
    after[k] = 1
    w = np.arange(len(votes))
    p0 = two_coin_posterior(np.zeros_like(w), w, before, sens, spec, prior)[0]
    p1 = two_coin_posterior(np.zeros_like(w), w, after, sens, spec, prior)[0]
    assert p1 >= p0 - 1e-12


@settings(max_examples=25, deadline=None)
@given(data=st.data(), n_items=st.integers(2, 10), n_workers=st.integers(1, 5))
def test_fit_is_monotone_when_every_worker_rates_every_item(
    data: st.DataObject, n_items: int, n_workers: int
) -> None:
    """With a full design (as BlueBirds), an item whose "present" voters include another
    item's gets at least that item's posterior."""
    grid = np.array(
        data.draw(
            st.lists(
                st.lists(st.integers(0, 1), min_size=n_workers, max_size=n_workers),
                min_size=n_items,
                max_size=n_items,
            )
        )
    )
    items = np.repeat(np.arange(n_items), n_workers)
    workers = np.tile(np.arange(n_workers), n_items)
    fit = dawid_skene_two_coin(items, workers, grid.ravel(), 0.4, max_iter=50)
    for i in range(n_items):
        for j in range(n_items):
            if np.all(grid[i] >= grid[j]):
                assert fit.posterior[i] >= fit.posterior[j] - 1e-9
