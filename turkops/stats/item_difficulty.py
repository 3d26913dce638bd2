"""Two-coin Dawid-Skene with item difficulty: per-worker sensitivity/specificity × per-item clarity.

Two-coin (two_coin.py) knows that workers miss more than they falsely tick but treats every item
as equally easy; GLAD (glad.py) knows that some items fool the crowd but gives each worker one
symmetric ability. Real crowds show both (RTE: sentence pairs that fool most workers; BlueBirds:
workers with very different sensitivity and specificity), so this model has both:

    P(v = 1 | c = 1) = σ(β_i s_w),   P(v = 0 | c = 0) = σ(β_i t_w),

s_w, t_w the worker's log-odds of a correct answer on a present / absent item and β_i = exp(b_i)
the item's clarity (β_i → 0: everybody guesses; β_i = 1 for all items is two-coin). Priors:
s_w ~ N(μ_s, σ_w²), t_w ~ N(μ_t, σ_w²) around the crowd's centres μ (fitted, empirical Bayes as in
two-coin) and b_i ~ N(0, σ_b²) as in GLAD. EM: the E-step is exact; the M-step maximises the
expected complete-data log-posterior jointly over (s, t, b, μ) with L-BFGS. It starts from the
two-coin fit (its posterior and rates), so it can only move away from two-coin where item
clarity explains the ratings better. The per-item class prior is BRAgg's (uniform β or the
model probability), as for every label model of turkops.

turkops' `two-coin-mix` is the mean of this model's and two-coin's posteriors
(ItemDifficultyResult.mixed_posterior): with 3 ratings per item a per-item clarity is barely
identified and the clarity model alone chases noise (BlueBirds, docs/statistics.md "Real
crowds"); equal weights over the two nested models keep most of its gain where items have
enough ratings. No weight or variance was tuned on gold labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from turkops.stats.glad import _validate
from turkops.stats.two_coin import dawid_skene_two_coin

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

WORKER_VARIANCE = 1.0
"""σ_w²: prior variance of a worker's log-odds around the crowd's (GLAD's N(1, 1) ability)."""
LOG_CLARITY_VARIANCE = 1.0
"""σ_b²: prior variance of log β_i (GLAD's N(0, 1))."""
CENTRE_PRIOR = (1.5, 10.0)
"""Weak N(mean, variance) hyperprior of the crowd centres μ_s, μ_t (mean ≈ 82 % correct)."""
RATE_BOUNDS = (1e-3, 1 - 1e-3)


@dataclass(frozen=True, slots=True, eq=False)
class ItemDifficultyResult:
    """posterior: (n_items,) P(c=1 | ratings); sensitivity, specificity: (n_workers,) the
    worker's rates on an item of clarity 1 (σ(s_w), σ(t_w)); clarity: (n_items,) β_i;
    crowd_sensitivity, crowd_specificity: σ(μ_s), σ(μ_t)."""

    posterior: FloatArray
    sensitivity: FloatArray
    specificity: FloatArray
    clarity: FloatArray
    worker_ratings: IntArray
    crowd_sensitivity: float
    crowd_specificity: float
    two_coin_posterior: FloatArray
    n_iter: int
    converged: bool

    @property
    def mixed_posterior(self) -> FloatArray:
        """The mean of this model's and two-coin's posteriors (turkops' `two-coin-mix`)."""
        out: FloatArray = 0.5 * (self.posterior + self.two_coin_posterior)
        return out


def two_coin_difficulty(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike = 0.5,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    worker_variance: float = WORKER_VARIANCE,
    clarity_variance: float = LOG_CLARITY_VARIANCE,
    max_iter: int = 100,
    tol: float = 1e-4,
    m_step_iter: int = 25,
) -> ItemDifficultyResult:
    """Fit the two-coin model with item clarity by EM, started from two-coin Dawid-Skene.

    items, workers: (R,) integer codes; values: (R,) 0/1; prior: scalar or (n_items,) P(c=1).
    Stops when no posterior moves by more than tol.
    """
    it, wk, v, pri, n_i, n_w = _validate(items, workers, values, prior, n_items, n_workers)
    if worker_variance <= 0 or clarity_variance <= 0:
        raise ValueError("prior variances must be > 0")
    z = special.logit(pri)
    start = dawid_skene_two_coin(it, wk, v, pri, n_items=n_i, n_workers=n_w)
    lo, hi = RATE_BOUNDS
    s = special.logit(np.clip(start.sensitivity, lo, hi))
    t = special.logit(np.clip(start.specificity, lo, hi))
    b = np.zeros(n_i)
    mu = np.array([special.logit(start.crowd_sensitivity), special.logit(start.crowd_specificity)])
    m0, v0 = CENTRE_PRIOR
    sw2, sb2 = worker_variance, clarity_variance
    sl = slice(0, n_w), slice(n_w, 2 * n_w), slice(2 * n_w, 2 * n_w + n_i)

    def e_step(s: FloatArray, t: FloatArray, b: FloatArray) -> FloatArray:
        beta = np.exp(b[it])
        x1, x0 = beta * s[wk], beta * t[wk]
        l1 = np.where(v > 0.5, special.log_expit(x1), special.log_expit(-x1))
        l0 = np.where(v > 0.5, special.log_expit(-x0), special.log_expit(x0))
        post: FloatArray = special.expit(z + np.bincount(it, weights=l1 - l0, minlength=n_i))
        return post

    def neg_q(params: FloatArray, q: FloatArray) -> tuple[float, FloatArray]:
        s, t, b = params[sl[0]], params[sl[1]], params[sl[2]]
        mu = params[-2:]
        beta = np.exp(b[it])
        x1, x0 = beta * s[wk], beta * t[wk]
        # Under c=1 the rating is correct when v=1 (log-odds x1); under c=0 when v=0 (x0).
        obj = (
            q * np.where(v > 0.5, special.log_expit(x1), special.log_expit(-x1))
            + (1 - q) * np.where(v > 0.5, special.log_expit(-x0), special.log_expit(x0))
        ).sum()
        obj -= 0.5 * (((s - mu[0]) ** 2).sum() + ((t - mu[1]) ** 2).sum()) / sw2
        obj -= 0.5 * (b * b).sum() / sb2 + 0.5 * ((mu - m0) ** 2).sum() / v0
        g1 = q * (v - special.expit(x1))
        g0 = (1 - q) * ((1 - v) - special.expit(x0))
        grad = np.concatenate(
            [
                np.bincount(wk, weights=g1 * beta, minlength=n_w) - (s - mu[0]) / sw2,
                np.bincount(wk, weights=g0 * beta, minlength=n_w) - (t - mu[1]) / sw2,
                np.bincount(it, weights=g1 * x1 + g0 * x0, minlength=n_i) - b / sb2,
                [(s - mu[0]).sum() / sw2 - (mu[0] - m0) / v0],
                [(t - mu[1]).sum() / sw2 - (mu[1] - m0) / v0],
            ]
        )
        return -float(obj), -grad

    post = e_step(s, t, b)
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        q = post[it]
        res = optimize.minimize(
            neg_q,
            np.concatenate([s, t, b, mu]),
            args=(q,),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": m_step_iter},
        )
        s, t, b, mu = res.x[sl[0]], res.x[sl[1]], res.x[sl[2]], res.x[-2:]
        new = e_step(s, t, b)
        change = float(np.max(np.abs(new - post), initial=0.0))
        post = new
        if change <= tol:
            converged = True
            break
    return ItemDifficultyResult(
        posterior=post,
        sensitivity=special.expit(s),
        specificity=special.expit(t),
        clarity=np.exp(b),
        worker_ratings=np.bincount(wk, minlength=n_w).astype(np.int64),
        crowd_sensitivity=float(special.expit(mu[0])),
        crowd_specificity=float(special.expit(mu[1])),
        two_coin_posterior=start.posterior,
        n_iter=n_iter,
        converged=converged,
    )
