"""The synthetic populations and crowds behave as their settings say."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from turkops.stats.synthetic import (
    CrowdSetting,
    PopulationSetting,
    simulate_crowd,
    simulate_population,
    simulate_votes,
)


def test_population_hits_base_rate_correlation_and_auc() -> None:
    setting = PopulationSetting(
        n_inputs=20_000,
        base_rate=(0.05, 0.05),
        correlation=(0.3, 0.3),
        model_auc=0.9,
        activation_df=float("inf"),
    )
    pop = simulate_population(setting, 6, np.random.default_rng(0))
    assert pop.activations.shape == (6, 20_000)
    np.testing.assert_allclose(pop.concept.mean(1), 0.05)
    np.testing.assert_allclose(pop.rho, 0.3, atol=0.02)
    for k in range(6):
        pos, neg = (
            pop.concept_probs[k][pop.concept[k] > 0],
            pop.concept_probs[k][pop.concept[k] == 0],
        )
        auc = stats.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size)
        assert auc == pytest.approx(0.9, abs=0.02)
    # Calibrated: the mean probability equals the base rate.
    np.testing.assert_allclose(pop.concept_probs.mean(1), 0.05, atol=0.01)


def test_crowds() -> None:
    rng = np.random.default_rng(1)
    uniform = simulate_crowd(CrowdSetting(eta=0.2, n_workers=50), rng)
    assert np.all(uniform.rate_if_present == 0.8) and np.all(uniform.rate_if_absent == 0.2)
    spam = simulate_crowd(
        CrowdSetting(rater_errors="spammers", spammer_share=0.5, n_workers=400), rng
    )
    assert 0.4 < np.mean(spam.rate_if_present == 0.5) < 0.6
    beta = simulate_crowd(CrowdSetting(rater_errors="beta", n_workers=2000), rng)
    assert 1 - beta.rate_if_present.mean() == pytest.approx(0.23, abs=0.01)
    assert beta.rate_if_present.std() > 0.05
    asym = simulate_crowd(CrowdSetting(eta=0.2, false_positive_rate=0.02), rng)
    assert asym.pool_rates() == pytest.approx((0.8, 0.02))


def test_votes_come_from_distinct_workers_at_the_right_rates() -> None:
    rng = np.random.default_rng(2)
    crowd = simulate_crowd(CrowdSetting(eta=0.25, n_workers=10), rng)
    concept = rng.uniform(size=50_000) < 0.5
    votes, workers = simulate_votes(crowd, concept, 5)
    assert votes.shape == workers.shape == (50_000, 5)
    assert all(len(set(row)) == 5 for row in workers[:200].tolist())
    assert votes[concept].mean() == pytest.approx(0.75, abs=0.01)
    assert votes[~concept].mean() == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError):
        simulate_votes(crowd, concept, 11)
    # An input's ratings depend on its key only: shown among other inputs, it gets the same.
    keys = np.array([7, 123, 40_000])
    again, again_workers = simulate_votes(crowd, concept[keys], 5, keys)
    np.testing.assert_array_equal(again, votes[keys])
    np.testing.assert_array_equal(again_workers, workers[keys])
