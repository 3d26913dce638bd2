"""GLAD (Whitehill et al. 2009): worker ability times item difficulty, fitted by EM.

Worker w answers item i correctly with probability σ(α_w β_i): α_w is the worker's ability
(0 = guessing, < 0 = adversarial), β_i = exp(b_i) > 0 the item's clarity (small β_i: even good
workers guess on it). Unlike Dawid-Skene, an item that fools most of the crowd is recognised as
hard rather than every worker on it being marked careless. Gaussian priors α_w ~ N(1, 1) and
b_i ~ N(0, 1) (the reference code's) keep abilities of workers with few ratings and clarities
of items with few ratings near the crowd's, and the positive prior mean of α fixes the label
switch. The M-step maximises the expected complete-data log-posterior over (α, b) with L-BFGS
(analytic gradient). Ratings are long format, codes 0..n-1; the per-item class prior is BRAgg's
(uniform β or the model probability).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from turkops.stats.dawid_skene import checked_ratings

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ABILITY_PRIOR = (1.0, 1.0)
"""Mean and variance of the N prior on α_w (Whitehill et al.'s reference implementation)."""
LOG_CLARITY_PRIOR = (0.0, 1.0)
"""Mean and variance of the N prior on b_i = log β_i: β_i ≈ 1 unless the ratings say otherwise."""
PRIOR_CLIP = (1e-6, 1 - 1e-6)


@dataclass(frozen=True, slots=True, eq=False)
class GladResult:
    """posterior: (n_items,) P(c=1 | ratings); ability: (n_workers,) α_w; clarity: (n_items,)
    β_i = exp(b_i); log_posterior_history: observed-data log-likelihood plus log prior of the
    parameters per iteration (EM with a full M-step keeps it non-decreasing)."""

    posterior: FloatArray
    ability: FloatArray
    clarity: FloatArray
    worker_ratings: IntArray
    n_iter: int
    converged: bool
    log_posterior_history: tuple[float, ...]


def _validate(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike,
    n_items: int | None,
    n_workers: int | None,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, int, int]:
    """Codes, 0/1 values, the clipped per-item prior and the sizes (shared with mace.py)."""
    it, wk, v, n_i, n_w = checked_ratings(items, workers, values, n_items, n_workers)
    pri = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n_i,)).copy()
    if np.any(pri < 0) or np.any(pri > 1) or np.any(np.isnan(pri)):
        raise ValueError("prior must lie in [0, 1]")
    return it, wk, v, np.clip(pri, *PRIOR_CLIP), n_i, n_w


def glad(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike = 0.5,
    *,
    n_items: int | None = None,
    n_workers: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    m_step_iter: int = 25,
) -> GladResult:
    """Fit GLAD by EM: abilities α_w, clarities β_i and posteriors P(c_i = 1 | ratings).

    items, workers: (R,) integer codes; values: (R,) 0/1; prior: scalar or (n_items,) P(c=1).
    Stops when no posterior moves by more than tol. m_step_iter: L-BFGS iterations per M-step
    (a partial M-step that still raises the objective: generalised EM).
    """
    it, wk, v, pri, n_i, n_w = _validate(items, workers, values, prior, n_items, n_workers)
    sign = 2.0 * v - 1.0
    prior_logit = special.logit(pri)
    a_mean, a_var = ABILITY_PRIOR
    b_mean, b_var = LOG_CLARITY_PRIOR

    def log_prior(alpha: FloatArray, b: FloatArray) -> float:
        return float(
            -0.5 * ((alpha - a_mean) ** 2).sum() / a_var - 0.5 * ((b - b_mean) ** 2).sum() / b_var
        )

    def e_step(alpha: FloatArray, b: FloatArray) -> tuple[FloatArray, float]:
        x = alpha[wk] * np.exp(b[it])
        # log P(v | c=1) - log P(v | c=0) = sign·(log σ(x) - log σ(-x)) = sign·x
        ok, bad = special.log_expit(x), special.log_expit(-x)
        l1 = np.where(v > 0.5, ok, bad)
        l0 = np.where(v > 0.5, bad, ok)
        s1 = np.bincount(it, weights=l1, minlength=n_i)
        s0 = np.bincount(it, weights=l0, minlength=n_i)
        z = prior_logit
        ll = np.logaddexp(special.log_expit(z) + s1, special.log_expit(-z) + s0).sum()
        post: FloatArray = special.expit(z + np.bincount(it, weights=sign * x, minlength=n_i))
        return post, float(ll) + log_prior(alpha, b)

    def neg_q(params: FloatArray, p_correct: FloatArray) -> tuple[float, FloatArray]:
        alpha, b = params[:n_w], params[n_w:]
        beta = np.exp(b[it])
        x = alpha[wk] * beta
        q = (p_correct * special.log_expit(x) + (1 - p_correct) * special.log_expit(-x)).sum()
        q += log_prior(alpha, b)
        resid = p_correct - special.expit(x)  # d/dx of the expected log-likelihood
        g_alpha = np.bincount(wk, weights=resid * beta, minlength=n_w) - (alpha - a_mean) / a_var
        g_b = np.bincount(it, weights=resid * x, minlength=n_i) - (b - b_mean) / b_var
        return -float(q), -np.concatenate([g_alpha, g_b])

    alpha = np.full(n_w, a_mean)
    b = np.full(n_i, b_mean)
    post, current = e_step(alpha, b)
    history = [current]
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        # P(rating r is correct) under the current posterior of its item.
        p_correct = np.where(v > 0.5, post[it], 1.0 - post[it])
        res = optimize.minimize(
            neg_q,
            np.concatenate([alpha, b]),
            args=(p_correct,),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": m_step_iter},
        )
        alpha, b = res.x[:n_w], res.x[n_w:]
        new, current = e_step(alpha, b)
        change = float(np.max(np.abs(new - post), initial=0.0))
        post = new
        history.append(current)
        if change <= tol:
            converged = True
            break
    return GladResult(
        posterior=post,
        ability=alpha,
        clarity=np.exp(b),
        worker_ratings=np.bincount(wk, minlength=n_w).astype(np.int64),
        n_iter=n_iter,
        converged=converged,
        log_posterior_history=tuple(history),
    )
