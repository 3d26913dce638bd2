"""The fast two-coin EM (sparse rating sums, ECME for the prior regression) against the plain
algorithm it replaced: same iterates on the EM path, same fixed point in far fewer iterations."""

from __future__ import annotations

import numpy as np
from scipy import special

from turkops.stats.aggregation import model_prior
from turkops.stats.dawid_skene import _expit_softplus, _fit_prior_regression, _linear
from turkops.stats.ma_act import normal_scores
from turkops.stats.sampling import draw_indices, mg_is_proposal
from turkops.stats.synthetic import (
    CrowdSetting,
    PopulationSetting,
    simulate_crowd,
    simulate_population,
    simulate_votes,
)
from turkops.stats.two_coin import CROWD_PRIOR_STRENGTH, RATE_BOUNDS, dawid_skene_two_coin


def _study(k: int, n: int, draws: int, seed: int):
    """A ma-act study as scripts/bench_ma_act.py builds it: MG-IS draws, 3 raters per input."""
    rng = np.random.default_rng(seed)
    pop = simulate_population(
        PopulationSetting(n_inputs=n, base_rate=(0.005, 0.05), correlation=(0.0, 0.5)), k, rng
    )
    idx = draw_indices(mg_is_proposal(pop.activations, pop.concept_probs), draws, rng)
    uniq = np.unique((idx + np.arange(k)[:, None] * n).ravel())
    pair, inp = uniq // n, uniq % n
    crowd = simulate_crowd(CrowdSetting(n_workers=100), rng)
    votes, workers = simulate_votes(crowd, pop.concept[pair, inp], 3, uniq)
    feat = normal_scores(pop.activations)[pair, inp]
    return (
        np.repeat(np.arange(uniq.size), 3),
        workers.ravel().astype(np.int64),
        votes.ravel().astype(np.float64),
        model_prior(pop.concept_probs)[pair, inp],
        np.stack([np.ones_like(feat), feat], axis=1),
        pair,
        crowd.n_workers,
    )


def _plain_em(items, workers, values, prior, x, grp, n_w, n_iter, strength=4.0, e0=0.2):
    """The two-coin EM before the speed-up, written plainly (rating-level gathers and
    bincounts, np.logaddexp): n_iter iterations of EM with one Newton step on θ."""
    n_i = prior.size
    lo, hi = RATE_BOUNDS
    offset = special.logit(np.clip(prior, 1e-6, 1 - 1e-6))
    theta = np.zeros((int(grp.max()) + 1, x.shape[1]))
    sens = spec = np.full(n_w, 1 - e0)
    n_rated = np.bincount(workers, minlength=n_w)

    def e_step(sens, spec, z):
        se, sp = sens[workers], spec[workers]
        l1 = np.where(values > 0.5, np.log(se), np.log1p(-se))
        l0 = np.where(values > 0.5, np.log1p(-sp), np.log(sp))
        s1 = np.bincount(items, weights=l1, minlength=n_i)
        s0 = np.bincount(items, weights=l0, minlength=n_i)
        ll = np.logaddexp(special.log_expit(z) + s1, special.log_expit(-z) + s0).sum()
        return special.expit(z + s1 - s0), ll

    post, ll = e_step(sens, spec, _linear(theta, offset, x, grp))
    history = [ll]
    for _ in range(n_iter):
        pw = post[items]
        pos = np.bincount(workers, weights=pw, minlength=n_w)
        neg = n_rated - pos
        hit = np.bincount(workers, weights=pw * values, minlength=n_w)
        rej = np.bincount(workers, weights=(1 - pw) * (1 - values), minlength=n_w)
        c = CROWD_PRIOR_STRENGTH
        mu1 = (hit.sum() + c * (1 - e0)) / (pos.sum() + c)
        mu0 = (rej.sum() + c * (1 - e0)) / (neg.sum() + c)
        sens = np.clip((hit + strength * mu1) / (pos + strength + 1e-12), lo, hi)
        spec = np.clip((rej + strength * mu0) / (neg + strength + 1e-12), lo, hi)
        gap = np.maximum(0.0, 1.0 - sens - spec) / 2.0
        sens, spec = sens + gap, spec + gap
        theta = _fit_prior_regression(theta, post, offset, x, grp, 0.1)
        post, ll = e_step(sens, spec, _linear(theta, offset, x, grp))
        history.append(ll)
    return post, sens, spec, theta, np.array(history)


def test_expit_softplus_matches_scipy_over_the_whole_range() -> None:
    z = np.concatenate([np.linspace(-800, 800, 4001), [-1e-300, 0.0, 1e-300, 36.7, -36.7]])
    s, sp = _expit_softplus(z)
    np.testing.assert_allclose(s, special.expit(z), rtol=1e-15, atol=0)
    np.testing.assert_allclose(sp, np.logaddexp(0.0, z), rtol=4e-16, atol=1e-300)


def test_em_path_reproduces_the_plain_algorithm() -> None:
    items, workers, values, prior, x, grp, n_w = _study(60, 400, 60, seed=1)
    want_post, want_sens, want_spec, want_theta, want_ll = _plain_em(
        items, workers, values, prior, x, grp, n_w, n_iter=15
    )
    got = dawid_skene_two_coin(
        items, workers, values, prior, covariates=x, groups=grp, n_items=prior.size,
        n_workers=n_w, max_iter=15, tol=0.0, ecme_after=None,
    )  # fmt: skip
    assert got.n_iter == 15
    np.testing.assert_allclose(got.posterior, want_post, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.sensitivity, want_sens, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.specificity, want_spec, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.coefficients, want_theta, rtol=0, atol=1e-11)
    np.testing.assert_allclose(got.log_likelihood_history, want_ll, rtol=1e-12)


def test_ecme_reaches_the_em_fixed_point_in_a_fraction_of_the_iterations() -> None:
    items, workers, values, prior, x, grp, n_w = _study(150, 1000, 120, seed=2)
    kw = dict(covariates=x, groups=grp, n_items=prior.size, n_workers=n_w)
    fast = dawid_skene_two_coin(items, workers, values, prior, **kw)
    slow = dawid_skene_two_coin(
        items, workers, values, prior, **kw, max_iter=5000, tol=1e-9, ecme_after=None
    )
    assert fast.converged and slow.converged
    assert fast.n_iter * 4 < slow.n_iter
    np.testing.assert_allclose(fast.posterior, slow.posterior, rtol=0, atol=1e-4)
    np.testing.assert_allclose(fast.coefficients, slow.coefficients, rtol=0, atol=1e-3)
    np.testing.assert_allclose(fast.sensitivity, slow.sensitivity, rtol=0, atol=1e-5)
    np.testing.assert_allclose(fast.specificity, slow.specificity, rtol=0, atol=1e-5)
