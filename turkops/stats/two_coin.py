"""Two-coin Dawid-Skene: a sensitivity and a specificity per worker, shrunk towards the crowd's.

"Select the images that contain X" has asymmetric errors: a missed image is far likelier than a
false tick. One error rate per worker (dawid_skene.py) cannot see that; here worker w says
"present" with probability sens_w when the concept is there and 1 - spec_w when it is not.
A worker rates few items, so each rate has a hierarchical Beta prior centred on the crowd's
pooled rate: sens_w ~ Beta(s·μ1, s·(1-μ1)), spec_w ~ Beta(s·μ0, s·(1-μ0)), with (μ1, μ0) the
pooled rates of all workers (empirical Bayes, with a weak hyperprior) and s pseudo-ratings of
strength. The M-step takes each worker's posterior-mean rate under that prior. The per-item
prior is BRAgg's (uniform β or the clipped model probability), optionally refined per group of
items by covariates (the activation, as dawid_skene_with_activation does). Ratings are long
format, codes 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from turkops.stats.dawid_skene import (
    _codes,
    _expit_softplus,
    _linear,
    _observed_prior_fit,
    _prior_regression_step,
    _rating_matrix,
    checked_ratings,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_STRENGTH = 4.0
"""Pseudo-ratings of the crowd prior. The Beta-binomial marginal likelihood of the fitted counts
peaks at s = 2-4 on both real crowds in tests/data/crowd (RTE, BlueBirds); docs/statistics.md."""
STRENGTH_GRID = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, np.inf)
"""The strengths strength=None chooses from by marginal likelihood (inf: one shared crowd)."""
RATE_BOUNDS = (1e-3, 1 - 1e-3)
"""Rates are kept off 0 and 1: one certain worker would otherwise overrule every other vote."""
CROWD_PRIOR_STRENGTH = 10.0
"""Pseudo-ratings at 1 - eta_init behind each crowd rate: on a handful of ratings with a low
prior, EM could otherwise settle on "nothing is present and every worker ticks at random";
against thousands of ratings they weigh nothing."""
ACTIVATION_PENALTY = 0.1
"""Ridge penalty of the activation refinement, as in dawid_skene.ACTIVATION_PENALTY."""
ECME_AFTER = 0.1
"""With covariates, EM iterates until no posterior moves by more than this, then θ is fitted by
ECME (dawid_skene._observed_prior_fit). Plain EM crawls: on scripts/bench_ma_act.py's study it
needs 366 iterations to tol 1e-6 at 1,000 pairs (100 leave posteriors 0.05 off its fixed
point) and 789 at 10,000; ECME from here reaches the same fixed point (within 2e-4, EM's own
remaining error) in 25 and 35. Straight from the first
iteration, ECME fits θ to the first guess of the rates and settled elsewhere for some pairs
(switching at 0.5 did too; 0.05-0.2 agreed): docs/benchmarks.md."""


@dataclass(frozen=True, slots=True, eq=False)
class TwoCoinResult:
    """posterior: (n_items,) P(c=1 | ratings); sensitivity, specificity: (n_workers,) fitted
    P(vote 1 | c=1) and P(vote 0 | c=0); worker_ratings: (n_workers,) ratings per worker;
    crowd_sensitivity, crowd_specificity: the pooled rates the workers are shrunk towards;
    strength: the prior's pseudo-ratings; class_prior: fitted β or None (held fixed);
    coefficients: (n_groups, p) covariate coefficients or None; item_prior: (n_items,) the prior
    each item ended with; log_likelihood_history: observed-data log-likelihood per iteration
    (a diagnostic: the crowd rates move with the fit, so it need not be monotone);
    max_change_history: largest change of any posterior per iteration."""

    posterior: FloatArray
    sensitivity: FloatArray
    specificity: FloatArray
    worker_ratings: IntArray
    crowd_sensitivity: float
    crowd_specificity: float
    strength: float
    class_prior: float | None
    coefficients: FloatArray | None
    item_prior: FloatArray
    n_iter: int
    converged: bool
    log_likelihood_history: tuple[float, ...]
    max_change_history: tuple[float, ...]


def vote_evidence(
    workers: IntArray, values: FloatArray, sensitivity: FloatArray, specificity: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """log P(vote | c=1) and log P(vote | c=0) of every rating, (R,) each."""
    sens, spec = sensitivity[workers], specificity[workers]
    l1 = np.where(values > 0.5, np.log(sens), np.log1p(-sens))
    l0 = np.where(values > 0.5, np.log1p(-spec), np.log(spec))
    return l1, l0


def two_coin_posterior(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    sensitivity: npt.ArrayLike,
    specificity: npt.ArrayLike,
    prior: npt.ArrayLike,
    n_items: int | None = None,
) -> FloatArray:
    """P(c=1 | ratings) of each item under known worker rates (the E-step).

    items, workers: (R,) codes; values: (R,) 0/1; sensitivity, specificity: (n_workers,) in
    (0, 1); prior: scalar or (n_items,) in [0, 1]. Returns (n_items,); an item without ratings
    keeps its prior, and a prior of exactly 0 or 1 is never overruled.
    """
    it, wk = _codes("items", items), _codes("workers", workers)
    v = np.asarray(values, dtype=np.float64)
    n_i = int(it.max(initial=-1)) + 1 if n_items is None else n_items
    pri = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n_i,))
    if np.any(pri < 0) or np.any(pri > 1) or np.any(np.isnan(pri)):
        raise ValueError("prior must lie in [0, 1]")
    sens = np.asarray(sensitivity, dtype=np.float64)
    spec = np.asarray(specificity, dtype=np.float64)
    if np.any((sens <= 0) | (sens >= 1) | (spec <= 0) | (spec >= 1)):
        raise ValueError("sensitivity and specificity must lie in (0, 1)")
    l1, l0 = vote_evidence(wk, v, sens, spec)
    evidence = np.bincount(it, weights=l1 - l0, minlength=n_i)
    with np.errstate(divide="ignore"):
        post = special.expit(np.log(pri) - np.log1p(-pri) + evidence)
    out: FloatArray = np.where(pri <= 0, 0.0, np.where(pri >= 1, 1.0, post))
    return out


def crowd_strength(
    hit: FloatArray,
    pos: FloatArray,
    rej: FloatArray,
    neg: FloatArray,
    mu1: float,
    mu0: float,
    grid: tuple[float, ...] = STRENGTH_GRID,
) -> float:
    """The s of grid under which the workers' (soft) counts are likeliest: the Beta-binomial
    marginal likelihood of hits among positives and rejections among negatives per worker, with
    rates ~ Beta(s·μ, s·(1-μ)); s = inf is the binomial at μ (no worker differs from the crowd).

    Why: how far workers differ is a property of the crowd, and a fixed s = 4 lets workers who
    rated few items of a rare class look different by chance. With one rating per item nothing
    but the prior tells workers apart, and those chance differences made some votes count for
    more than they should: an unrelated explanation's activation slope came out "significant"
    7% of the time at the 5% level, against 5% with one shared crowd (docs/statistics.md 2c).
    """
    lo, hi = RATE_BOUNDS
    m1, m0 = float(np.clip(mu1, lo, hi)), float(np.clip(mu0, lo, hi))
    best, best_ll = grid[0], -np.inf
    for s in grid:
        ll = 0.0
        for k, n, mu in ((hit, pos, m1), (rej, neg, m0)):
            if np.isinf(s):
                ll += float((k * np.log(mu) + (n - k) * np.log1p(-mu)).sum())
            else:
                a, b = s * mu, s * (1.0 - mu)
                ll += float((special.betaln(k + a, n - k + b) - special.betaln(a, b)).sum())
        if ll > best_ll + 1e-9:
            best, best_ll = s, ll
    return float(best)


def _no_worse_than_random(sens: FloatArray, spec: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A worker with sens + spec < 1 votes against the truth; rather than let EM flip labels on
    such evidence, move both rates up equally to sens + spec = 1: a spammer, whose votes carry
    no evidence (as one-coin Dawid-Skene caps η_w at 0.5)."""
    gap = np.maximum(0.0, 1.0 - sens - spec) / 2.0
    return sens + gap, spec + gap


def dawid_skene_two_coin(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike = 0.05,
    *,
    covariates: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
    covariate_penalty: float = ACTIVATION_PENALTY,
    n_items: int | None = None,
    n_workers: int | None = None,
    strength: float | None = DEFAULT_STRENGTH,
    eta_init: float = 0.2,
    estimate_prior: bool = False,
    max_iter: int = 100,
    tol: float = 1e-6,
    ecme_after: float | None = ECME_AFTER,
) -> TwoCoinResult:
    """Fit per-worker sensitivity and specificity and per-item posteriors by EM.

    items, workers: (R,) integer codes; values: (R,) 0/1 ("present" = 1). prior: scalar or
    (n_items,) in [0, 1]. strength: pseudo-ratings pulling each worker's rates towards the
    crowd's pooled rates (0 = plain maximum likelihood per worker; large = one shared two-coin
    crowd; None = chosen in every M-step by marginal likelihood, crowd_strength). eta_init:
    error rate of the first E-step (BRAgg's posterior starts the EM).
    estimate_prior=True also fits a scalar class prior. covariates: (n_items, p) refine the prior
    per group (groups: (n_items,) codes): logit π'_i = logit π_i + x_i·θ_g, θ_g fitted in the
    same EM with ridge penalty covariate_penalty·|θ|²/2. Stops when no posterior moves by more
    than tol. ecme_after: once no posterior moves by more than this, θ is fitted by ECME
    (ECME_AFTER); None keeps plain EM throughout (the same fixed point, many more iterations).
    """
    it, wk, v, n_i, n_w = checked_ratings(items, workers, values, n_items, n_workers)
    if strength is not None and strength < 0:
        raise ValueError("strength must be >= 0")
    if estimate_prior and np.ndim(prior) != 0:
        raise ValueError("estimate_prior needs a scalar prior")
    pri = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n_i,)).copy()
    if np.any(pri < 0) or np.any(pri > 1) or np.any(np.isnan(pri)):
        raise ValueError("prior must lie in [0, 1]")
    pri = np.clip(pri, 1e-6, 1 - 1e-6)  # a certain prior would leave nothing to learn from
    x: FloatArray | None = None
    grp = np.zeros(n_i, dtype=np.int64)
    theta = np.zeros((1, 0))
    if covariates is not None:
        if estimate_prior:
            raise ValueError("use either covariates or estimate_prior, not both")
        # Column-major: every pass reads one covariate over all items.
        x = np.asfortranarray(np.asarray(covariates, dtype=np.float64).reshape(n_i, -1))
        if groups is not None:
            grp = _codes("groups", groups)
            if grp.shape != (n_i,):
                raise ValueError("groups must have one code per item")
        theta = np.zeros((int(grp.max(initial=0)) + 1, x.shape[1]))
    n_rated = np.bincount(wk, minlength=n_w).astype(np.int64)
    lo, hi = RATE_BOUNDS
    # Column 2w + vote of a rating: P(vote | c) depends on nothing else, so every rating-level
    # sum is one sparse product with per-column log rates (_rating_matrix).
    column = 2 * wk + (v > 0.5)
    counts = _rating_matrix(it, column, n_i, 2 * n_w)
    by_column = np.bincount(column, minlength=2 * n_w).astype(np.float64)
    offset: FloatArray = special.logit(pri)

    def prior_logit(th: FloatArray) -> FloatArray:
        return offset if x is None else _linear(th, offset, x, grp)

    def rating_sums(sens: FloatArray, spec: FloatArray) -> tuple[FloatArray, FloatArray]:
        """log P(ratings | c=1) and log P(ratings | c=0) of every item, (n_items,) each."""
        log1 = np.empty(2 * n_w)
        log0 = np.empty(2 * n_w)
        log1[0::2], log1[1::2] = np.log1p(-sens), np.log(sens)
        log0[0::2], log0[1::2] = np.log(spec), np.log1p(-spec)
        return counts @ log1, counts @ log0

    def log_likelihood(s0: FloatArray, sp_z: FloatArray, sp_u: FloatArray) -> float:
        # log(σ(z)·e^s1 + σ(-z)·e^s0) = s0 - log(1 + e^z) + log(1 + e^(z + s1 - s0))
        return float((s0 - sp_z + sp_u).sum())

    # Start from BRAgg with one error rate: a symmetric crowd, which the EM then lets split.
    e0 = float(np.clip(eta_init, lo, 0.5 - 1e-3))
    sens = np.full(n_w, 1.0 - e0)
    spec = np.full(n_w, 1.0 - e0)
    z = prior_logit(theta)
    s_z, sp_z = _expit_softplus(z)
    s1, s0 = rating_sums(sens, spec)
    post, sp_u = _expit_softplus(z + s1 - s0)
    ll = log_likelihood(s0, sp_z, sp_u)
    mu1 = mu0 = 1.0 - e0
    s = DEFAULT_STRENGTH if strength is None else strength
    history: list[float] = [ll]
    changes: list[float] = []
    converged = False
    ecme = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        mass = counts.T @ post  # per column, the summed posterior of its ratings' items
        pos = mass[0::2] + mass[1::2]
        neg = n_rated - pos
        hit = mass[1::2]
        rej = by_column[0::2] - mass[0::2]
        # The crowd's pooled rates (with CROWD_PRIOR_STRENGTH pseudo-ratings, so an empty class
        # stays defined) are the centre the workers shrink to.
        c0 = CROWD_PRIOR_STRENGTH
        mu1 = float((hit.sum() + c0 * (1.0 - e0)) / (pos.sum() + c0))
        mu0 = float((rej.sum() + c0 * (1.0 - e0)) / (neg.sum() + c0))
        s = crowd_strength(hit, pos, rej, neg, mu1, mu0) if strength is None else strength
        if np.isinf(s):
            sens, spec = np.full(n_w, np.clip(mu1, lo, hi)), np.full(n_w, np.clip(mu0, lo, hi))
        else:
            sens = np.clip((hit + s * mu1) / (pos + s + 1e-12), lo, hi)
            spec = np.clip((rej + s * mu0) / (neg + s + 1e-12), lo, hi)
        sens, spec = _no_worse_than_random(sens, spec)
        if estimate_prior:
            pri = np.full(n_i, np.clip(post.mean(), 1e-6, 1 - 1e-6))
            offset = special.logit(pri)
            z = offset
            s_z, sp_z = _expit_softplus(z)
        s1, s0 = rating_sums(sens, spec)
        ecme = ecme or (ecme_after is not None and bool(changes) and changes[-1] <= ecme_after)
        if x is not None and not ecme:
            theta, z, s_z, sp_z = _prior_regression_step(
                theta, post, offset, x, grp, covariate_penalty, z, s_z, sp_z
            )
            new, sp_u = _expit_softplus(z + s1 - s0)
        elif x is not None:
            # θ takes its step on the observed-data likelihood at the new rates (ECME): the
            # same fixed points as EM's, reached in a fraction of the iterations.
            theta, z, s_z, sp_z, new, sp_u = _observed_prior_fit(
                theta, s1 - s0, offset, x, grp, covariate_penalty, z, s_z, sp_z
            )
        else:
            new, sp_u = _expit_softplus(z + s1 - s0)
        ll = log_likelihood(s0, sp_z, sp_u)
        change = float(np.max(np.abs(new - post), initial=0.0))
        post = new
        history.append(ll)
        changes.append(change)
        if change <= tol:
            converged = True
            break
    return TwoCoinResult(
        posterior=post,
        sensitivity=sens,
        specificity=spec,
        worker_ratings=n_rated,
        crowd_sensitivity=mu1,
        crowd_specificity=mu0,
        strength=float(s),
        class_prior=float(pri[0]) if estimate_prior and n_i else None,
        coefficients=theta if x is not None else None,
        item_prior=special.expit(prior_logit(theta)),
        n_iter=n_iter,
        converged=converged,
        log_likelihood_history=tuple(history),
        max_change_history=tuple(changes),
    )


def two_coin_with_activation(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike,
    activations_z: npt.ArrayLike,
    pairs: npt.ArrayLike,
    *,
    penalty: float = ACTIVATION_PENALTY,
    n_workers: int | None = None,
    strength: float = DEFAULT_STRENGTH,
    eta_init: float = 0.2,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> TwoCoinResult:
    """Two-coin Dawid-Skene whose prior also knows the neuron's activation (as ds-act):
    logit P(c_i = 1) = logit π_i + θ_k0 + θ_k1 ā_i per pair k. Score its posterior with the
    binary concept variance. prior, activations_z, pairs: (n_items,); coefficients (n_pairs, 2).
    """
    act = np.asarray(activations_z, dtype=np.float64).ravel()
    pair = _codes("pairs", pairs)
    if act.shape != pair.shape:
        raise ValueError("activations_z and pairs need one entry per item")
    return dawid_skene_two_coin(
        items,
        workers,
        values,
        prior,
        covariates=np.stack([np.ones_like(act), act], axis=1),
        groups=pair,
        covariate_penalty=penalty,
        n_items=act.size,
        n_workers=n_workers,
        strength=strength,
        eta_init=eta_init,
        max_iter=max_iter,
        tol=tol,
    )
