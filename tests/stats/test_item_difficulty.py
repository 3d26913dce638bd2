"""Two-coin with item clarity integrated out: finds hard items and asymmetric workers."""

from __future__ import annotations

import numpy as np
from scipy import special

from turkops.stats.item_difficulty import two_coin_marginal_clarity
from turkops.stats.two_coin import dawid_skene_two_coin


def test_recovers_hard_items_and_asymmetric_rates() -> None:
    rng = np.random.default_rng(0)
    n_i, n_w, k = 400, 40, 7
    truth = rng.random(n_i) < 0.4
    s = np.where(np.arange(n_w) < 20, 2.5, 0.5)  # half the crowd misses many present items
    t = np.full(n_w, 2.5)
    beta = np.where(np.arange(n_i) % 4 == 0, 0.2, 1.5)
    items = np.repeat(np.arange(n_i), k)
    workers = np.concatenate([rng.choice(n_w, k, replace=False) for _ in range(n_i)])
    logodds = beta[items] * np.where(truth[items], s[workers], t[workers])
    correct = rng.random(items.size) < special.expit(logodds)
    values = np.where(correct, truth[items], ~truth[items]).astype(int)
    fit = two_coin_marginal_clarity(items, workers, values, 0.5)
    assert fit.converged
    assert np.median(fit.clarity[beta < 1]) < np.median(fit.clarity[beta > 1])
    assert fit.sensitivity[:20].mean() > fit.sensitivity[20:].mean() + 0.1
    plain = dawid_skene_two_coin(items, workers, values, 0.5).posterior
    np.testing.assert_allclose(fit.two_coin_posterior, plain)
    np.testing.assert_allclose(fit.mixed_posterior, (fit.posterior + plain) / 2)
    ll = lambda p: np.mean(np.log(np.where(truth, p, 1 - p).clip(1e-12)))  # noqa: E731
    assert ll(fit.posterior) > ll(plain)  # the clarity helps where the data have it
