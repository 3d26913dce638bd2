"""GLAD recovers worker abilities, item clarity and labels on a crowd drawn from its own model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from turkops.stats.glad import glad


def _crowd(seed: int = 0) -> tuple[np.ndarray, ...]:
    """300 items, 30 workers (10 careful α=2.5, 10 middling α=1, 10 guessing α=0), 8 ratings
    per item; a third of the items are hard (β=0.3), the rest clear (β=2)."""
    rng = np.random.default_rng(seed)
    n_i, n_w, k = 300, 30, 8
    truth = rng.random(n_i) < 0.5
    alpha = np.repeat([2.5, 1.0, 0.0], 10)
    beta = np.where(np.arange(n_i) % 3 == 0, 0.3, 2.0)
    items = np.repeat(np.arange(n_i), k)
    workers = np.concatenate([rng.choice(n_w, k, replace=False) for _ in range(n_i)])
    correct = rng.random(items.size) < special.expit(alpha[workers] * beta[items])
    values = np.where(correct, truth[items], ~truth[items]).astype(int)
    return items, workers, values, truth, beta


def test_glad_recovers_abilities_clarity_and_labels() -> None:
    items, workers, values, truth, beta = _crowd()
    fit = glad(items, workers, values, 0.5)
    assert fit.converged
    careful, middling, guessing = (fit.ability[k * 10 : (k + 1) * 10].mean() for k in range(3))
    assert careful > middling > guessing
    assert abs(guessing) < 0.3  # a guesser's votes carry ~no weight
    assert np.median(fit.clarity[beta < 1]) < np.median(fit.clarity[beta > 1])
    majority = np.bincount(items, weights=values) / np.bincount(items)
    acc = np.mean((fit.posterior > 0.5) == truth)
    assert acc > np.mean((majority > 0.5) == truth)
    assert acc > 0.9


def test_glad_per_item_prior_and_validation() -> None:
    items, workers, values, truth, _ = _crowd(1)
    flat = glad(items, workers, values, 0.5).posterior
    informed = glad(items, workers, values, np.where(truth, 0.8, 0.2)).posterior
    assert np.mean((informed > 0.5) == truth) >= np.mean((flat > 0.5) == truth)
    # An unrated item keeps its prior.
    out = glad(items, workers, values, 0.3, n_items=items.max() + 2).posterior
    assert out[-1] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="0 or 1"):
        glad(items, workers, values * 2, 0.5)
    with pytest.raises(ValueError, match="prior"):
        glad(items, workers, values, 1.5)
