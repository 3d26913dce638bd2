"""Proposals, draws and importance weights."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.sampling import (
    ag_is_proposal,
    count_unique,
    draw_indices,
    draw_sample,
    importance_weights,
    mg_is_proposal,
    mix_with_uniform,
    uniform_proposal,
    zscore,
)


def test_uniform_proposal_is_p() -> None:
    q = uniform_proposal(4)
    assert q.tolist() == [0.25] * 4


def test_mg_is_follows_the_formula_and_mixes_in_gamma() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    c = rng.uniform(size=50)
    q = mg_is_proposal(a, c, gamma=0.2, eps=0.1)
    score = np.abs(zscore(a) * zscore(c) + 0.1)
    expected = 0.8 * score / score.sum() + 0.2 / 50
    np.testing.assert_allclose(q, expected)
    assert q.min() >= 0.2 / 50 - 1e-15
    assert q.sum() == pytest.approx(1.0)


def test_proposals_are_batched_over_pairs() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 40))
    c = rng.uniform(size=(3, 40))
    batched = mg_is_proposal(a, c)
    for k in range(3):
        np.testing.assert_allclose(batched[k], mg_is_proposal(a[k], c[k]))
    np.testing.assert_allclose(ag_is_proposal(a)[1], ag_is_proposal(a[1]))


def test_ag_is_uses_alpha() -> None:
    a = np.array([0.0, 1.0, -2.0, 1.0])
    q = ag_is_proposal(a, alpha=2.0, gamma=0.0)
    z = zscore(a)
    np.testing.assert_allclose(q, z**2 / (z**2).sum())


def test_constant_scores_fall_back_to_uniform() -> None:
    np.testing.assert_allclose(mg_is_proposal(np.ones(5), np.ones(5)), np.full(5, 0.2))
    np.testing.assert_allclose(mix_with_uniform(np.zeros(4), 0.5), np.full(4, 0.25))


def test_draw_sample_merges_repeats_and_keeps_multiplicity() -> None:
    q = np.array([0.7, 0.0, 0.2, 0.1])
    s = draw_sample(q, 500, np.random.default_rng(2))
    assert s.counts.sum() == 500 == s.n_draws
    assert np.all(np.diff(s.indices) > 0)
    assert 1 not in s.indices  # q = 0 is never drawn
    np.testing.assert_allclose(s.q_at_indices, q[s.indices])
    np.testing.assert_allclose(s.weights, 1.0 / (4 * q[s.indices]))
    assert s.n_unique == s.indices.size


def test_draws_follow_q() -> None:
    q = np.array([0.5, 0.25, 0.125, 0.125])
    idx = draw_indices(np.tile(q, (3, 1)), 40_000, np.random.default_rng(3))
    assert idx.shape == (3, 40_000)
    for row in idx:
        freq = np.bincount(row, minlength=4) / row.size
        # 5 standard errors of a binomial share.
        np.testing.assert_allclose(freq, q, atol=5 * np.sqrt(0.25 / row.size))


def test_draws_are_reproducible() -> None:
    q = uniform_proposal(100)
    a = draw_indices(q, 10, np.random.default_rng(7))
    b = draw_indices(q, 10, np.random.default_rng(7))
    assert a.tolist() == b.tolist()


def test_importance_weights_and_count_unique() -> None:
    np.testing.assert_allclose(importance_weights([0.1, 0.5], 10), [1.0, 0.2])
    with pytest.raises(ValueError):
        importance_weights([0.0], 10)
    assert count_unique(np.array([[1, 1, 2], [3, 4, 5]])).tolist() == [2, 3]


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError):
        mg_is_proposal(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        draw_indices(np.array([0.5, 0.6]), 3, np.random.default_rng(0))
    with pytest.raises(ValueError):
        mix_with_uniform(np.ones(3), gamma=1.5)
