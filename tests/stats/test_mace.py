"""MACE finds the spammers (who answer from their own distribution) and ignores their votes."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.mace import mace


def _crowd(seed: int = 0) -> tuple[np.ndarray, ...]:
    """200 items, 12 workers rating every item: 8 truthful 90 % of the time (else a coin), 4
    spammers who tick 1 on 80 % of the items whatever the truth."""
    rng = np.random.default_rng(seed)
    n_i, n_w = 200, 12
    truth = rng.random(n_i) < 0.4
    theta = np.array([0.9] * 8 + [0.0] * 4)
    xi = np.array([0.5] * 8 + [0.8] * 4)
    items = np.repeat(np.arange(n_i), n_w)
    workers = np.tile(np.arange(n_w), n_i)
    honest = rng.random(items.size) < theta[workers]
    spam = rng.random(items.size) < xi[workers]
    values = np.where(honest, truth[items], spam).astype(int)
    return items, workers, values, truth


def test_mace_recovers_competence_and_spam_distribution() -> None:
    items, workers, values, truth = _crowd()
    fit = mace(items, workers, values, 0.5)
    assert fit.converged
    assert np.all(fit.competence[:8] > 0.8) and np.all(fit.competence[8:] < 0.15)
    assert np.all(np.abs(fit.spam_one[8:] - 0.8) < 0.1)
    # A spammer's sensitivity + specificity is ~1: her vote is ~no evidence.
    assert np.all(np.abs(fit.sensitivity[8:] + fit.specificity[8:] - 1) < 0.15)
    assert np.mean((fit.posterior > 0.5) == truth) > 0.97


def test_spammers_get_no_weight() -> None:
    items, workers, values, _ = _crowd(1)
    all_in = mace(items, workers, values, 0.5).posterior
    keep = workers < 8
    honest_only = mace(items[keep], workers[keep], values[keep], 0.5, n_workers=12).posterior
    assert np.max(np.abs(all_in - honest_only)) < 0.05
    majority = np.bincount(items, weights=values) / np.bincount(items)
    honest_majority = np.bincount(items[keep], weights=values[keep]) / 8
    assert np.max(np.abs(majority - honest_majority)) > 0.2  # majority vote is moved by them


def test_mace_validation_and_unrated_items() -> None:
    items, workers, values, _ = _crowd(2)
    assert mace(items, workers, values, 0.3, n_items=201).posterior[-1] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="same length"):
        mace(items, workers[:-1], values, 0.5)
