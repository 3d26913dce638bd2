"""One-coin Dawid-Skene: BRAgg with an error rate per worker, fitted by EM.

Each worker w errs with rate η_w whatever the true label (one coin), so a spammer (η_w ≈ 0.5)
gets a vote weight log((1-η_w)/η_w) ≈ 0 while a careful worker counts more. The per-input prior
is the same as BRAgg's (uniform β or the clipped model probability). Ratings are long-format:
one row per (item, worker, value), items and workers coded 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ETA_BOUNDS = (1e-3, 0.5)
"""η_w is kept below 0.5: above it a worker's votes would flip meaning, which one-coin EM can
reach by label switching rather than by evidence; worse-than-random workers are treated as spam."""


@dataclass(frozen=True, slots=True, eq=False)
class DawidSkeneResult:
    """posterior: (n_items,) P(c=1 | ratings); worker_eta: (n_workers,) fitted error rates;
    worker_ratings: (n_workers,) ratings per worker; class_prior: fitted β or None (held fixed);
    coefficients: (n_groups, p) fitted prior-regression coefficients, or None without covariates;
    item_prior: (n_items,) the prior each item ended with; log_likelihood_history: penalised
    log-likelihood per iteration (non-decreasing)."""

    posterior: FloatArray
    worker_eta: FloatArray
    worker_ratings: IntArray
    class_prior: float | None
    coefficients: FloatArray | None
    item_prior: FloatArray
    n_iter: int
    converged: bool
    log_likelihood_history: tuple[float, ...]


def _codes(name: str, values: npt.ArrayLike) -> IntArray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (long format: one row per rating)")
    if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0):
        raise ValueError(f"{name} must be integer codes >= 0")
    out: IntArray = arr.astype(np.int64)
    return out


def _linear(theta: FloatArray, offset: FloatArray, x: FloatArray, grp: IntArray) -> FloatArray:
    """offset + x_i·θ_g(i) for every item, column by column (no (n, p) temporaries)."""
    z = offset.copy()
    for j in range(theta.shape[1]):
        z += theta[grp, j] * x[:, j]
    return z


def _regression_objective(
    z: FloatArray, theta: FloatArray, post: FloatArray, grp: IntArray, penalty: float
) -> FloatArray:
    """Expected complete-data log-likelihood of the prior regression per group, (G,)."""
    # post·log σ(z) + (1-post)·log σ(-z) = post·z - log(1 + e^z)
    ll = post * z - np.logaddexp(0.0, z)
    out: FloatArray = np.bincount(grp, weights=ll, minlength=theta.shape[0]).astype(np.float64)
    return out - 0.5 * penalty * (theta * theta).sum(1)


def _fit_prior_regression(
    theta: FloatArray,
    post: FloatArray,
    offset: FloatArray,
    x: FloatArray,
    grp: IntArray,
    penalty: float,
    n_newton: int = 1,
) -> FloatArray:
    """Penalised logistic regression of the soft labels on x with an offset, one fit per group.

    Newton steps with step halving per group: the M-step must not lower the objective, or EM
    would lose its monotonicity.
    """
    n_g, n_p = theta.shape
    z = _linear(theta, offset, x, grp)
    before = _regression_objective(z, theta, post, grp, penalty)
    for _ in range(n_newton):
        s = special.expit(z)
        resid = post - s
        curv = s * (1 - s)
        grad = (
            np.stack(
                [np.bincount(grp, weights=resid * x[:, j], minlength=n_g) for j in range(n_p)], 1
            )
            - penalty * theta
        )
        hess = np.empty((n_g, n_p, n_p))
        for j in range(n_p):
            for k in range(j, n_p):
                hess[:, j, k] = hess[:, k, j] = np.bincount(
                    grp, weights=curv * x[:, j] * x[:, k], minlength=n_g
                )
        hess += penalty * np.eye(n_p)
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        scale = np.ones(n_g)
        for _ in range(12):
            cand = theta + scale[:, None] * step
            z_cand = _linear(cand, offset, x, grp)
            after = _regression_objective(z_cand, cand, post, grp, penalty)
            worse = after < before - 1e-12
            if not worse.any():
                break
            scale = np.where(worse, scale / 2, scale)
        keep = after >= before - 1e-12
        theta = np.where(keep[:, None], cand, theta)
        before = np.where(keep, after, before)
        z = _linear(theta, offset, x, grp)
    return theta


def dawid_skene_one_coin(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike = 0.05,
    *,
    covariates: npt.ArrayLike | None = None,
    groups: npt.ArrayLike | None = None,
    covariate_penalty: float = 0.1,
    n_items: int | None = None,
    n_workers: int | None = None,
    eta_init: float = 0.2,
    eta_prior_strength: float = 2.0,
    estimate_prior: bool = False,
    max_iter: int = 100,
    tol: float = 1e-7,
) -> DawidSkeneResult:
    """Fit per-worker error rates and per-item posteriors by EM (MAP with a Beta prior on η_w).

    items, workers: (R,) integer codes; values: (R,) 0/1 ("present" = 1). prior: scalar or
    (n_items,) in [0, 1]. eta_prior_strength: pseudo-ratings that pull each η_w towards eta_init,
    so a worker with three ratings is not declared perfect (0 = plain maximum likelihood).
    estimate_prior=True also fits a scalar class prior (classic Dawid-Skene).
    covariates: (n_items, p) features that refine the prior per group of items (groups:
    (n_items,) codes, e.g. the pair): logit π'_i = logit π_i + x_i·θ_g, θ_g fitted in the same EM
    with a ridge penalty covariate_penalty·|θ|²/2 (Raykar et al. 2010, "Learning from crowds").
    """
    it = _codes("items", items)
    wk = _codes("workers", workers)
    v = np.asarray(values, dtype=np.float64)
    if not it.shape == wk.shape == v.shape:
        raise ValueError("items, workers and values must have the same length")
    if np.any((v != 0) & (v != 1)):
        raise ValueError("values must be 0 or 1")
    n_i = int(it.max(initial=-1)) + 1 if n_items is None else n_items
    n_w = int(wk.max(initial=-1)) + 1 if n_workers is None else n_workers
    if it.size and (it.max() >= n_i or wk.max() >= n_w):
        raise ValueError("an item or worker code is out of range")
    if estimate_prior and np.ndim(prior) != 0:
        raise ValueError("estimate_prior needs a scalar prior")
    pri = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n_i,)).copy()
    if np.any(pri < 0) or np.any(pri > 1):
        raise ValueError("prior must lie in [0, 1]")
    pri = np.clip(pri, 1e-6, 1 - 1e-6)  # a certain prior would leave nothing to learn from
    x: FloatArray | None = None
    grp = np.zeros(n_i, dtype=np.int64)
    theta = np.zeros((1, 0))
    if covariates is not None:
        if estimate_prior:
            raise ValueError("use either covariates or estimate_prior, not both")
        x = np.asarray(covariates, dtype=np.float64).reshape(n_i, -1)
        if groups is not None:
            grp = _codes("groups", groups)
            if grp.shape != (n_i,):
                raise ValueError("groups must have one code per item")
        theta = np.zeros((int(grp.max(initial=0)) + 1, x.shape[1]))
    lo, hi = ETA_BOUNDS
    eta0 = float(np.clip(eta_init, lo, hi))
    eta = np.full(n_w, eta0)
    n_rated = np.bincount(wk, minlength=n_w).astype(np.int64)
    sign = 2.0 * v - 1.0

    def prior_logit(th: FloatArray, p: FloatArray) -> FloatArray:
        base: FloatArray = special.logit(p)
        if x is None:
            return base
        return _linear(th, base, x, grp)

    def e_step(eta_w: FloatArray, th: FloatArray, p: FloatArray) -> tuple[FloatArray, float]:
        """Posteriors and the penalised log-likelihood at these parameters."""
        log_eta, log_ok = np.log(eta_w), np.log1p(-eta_w)
        # Per item, log P(R|1) - log P(R|0) and log P(R|1) + log P(R|0): two sums over ratings.
        diff = np.bincount(it, weights=sign * (log_ok - log_eta)[wk], minlength=n_i)
        both = np.bincount(it, weights=(log_ok + log_eta)[wk], minlength=n_i)
        z = prior_logit(th, p)
        ll = np.logaddexp(
            special.log_expit(z) + (both + diff) / 2, special.log_expit(-z) + (both - diff) / 2
        ).sum()
        s = eta_prior_strength
        penalty = s * (eta0 * log_eta + (1 - eta0) * log_ok).sum()
        objective = float(ll + penalty - 0.5 * covariate_penalty * (th * th).sum())
        post: FloatArray = special.expit(z + diff)
        return post, objective

    post, current = e_step(eta, theta, pri)
    history = [current]
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        wrong = np.bincount(wk, weights=post[it] * (1 - v) + (1 - post[it]) * v, minlength=n_w)
        # MAP update under Beta(s·η0 + 1, s·(1-η0) + 1): the pseudo-ratings sit in the ratio.
        eta = np.clip((wrong + eta_prior_strength * eta0) / (n_rated + eta_prior_strength), lo, hi)
        if estimate_prior:
            pri = np.full(n_i, np.clip(post.mean(), 1e-6, 1 - 1e-6))
        if x is not None:
            theta = _fit_prior_regression(
                theta, post, special.logit(pri), x, grp, covariate_penalty
            )
        post, current = e_step(eta, theta, pri)
        history.append(current)
        if abs(history[-1] - history[-2]) <= tol * max(1.0, abs(history[-1])):
            converged = True
            break
    return DawidSkeneResult(
        posterior=post,
        worker_eta=eta,
        worker_ratings=n_rated,
        class_prior=float(pri[0]) if estimate_prior and n_i else None,
        coefficients=theta if x is not None else None,
        item_prior=special.expit(prior_logit(theta, pri)),
        n_iter=n_iter,
        converged=converged,
        log_likelihood_history=tuple(history),
    )


ACTIVATION_PENALTY = 0.1
"""Ridge penalty on the per-pair activation coefficients (a N(0, 10) prior): weak enough for
the steep slopes of rare, clearly-detected concepts, strong enough to stop separation."""


def dawid_skene_with_activation(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike,
    activations_z: npt.ArrayLike,
    pairs: npt.ArrayLike,
    *,
    penalty: float = ACTIVATION_PENALTY,
    n_workers: int | None = None,
    eta_init: float = 0.2,
    eta_prior_strength: float = 2.0,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> DawidSkeneResult:
    """turkops' aggregator: one-coin Dawid-Skene whose prior also knows the neuron's activation.

    Per pair k, logit P(c_i = 1) = logit π_i + θ_k0 + θ_k1 ā_i, with π_i the (model) prior and
    θ_k fitted in the same EM as the worker errors. The posterior is then P(c | ratings, π, ā):
    conditioning on ā as well removes the attenuation that rating noise puts into
    cov(ā, label), so score with weighted_correlation(..., concept_variance="binary").
    items, workers, values: (R,) long-format ratings; prior, activations_z, pairs: (n_items,)
    per distinct (pair, input): prior probability, activation z-scored over the probing set,
    pair code. Returns the DawidSkeneResult (coefficients: (n_pairs, 2)).
    """
    act = np.asarray(activations_z, dtype=np.float64).ravel()
    pair = _codes("pairs", pairs)
    if act.shape != pair.shape:
        raise ValueError("activations_z and pairs need one entry per item")
    return dawid_skene_one_coin(
        items,
        workers,
        values,
        prior,
        covariates=np.stack([np.ones_like(act), act], axis=1),
        groups=pair,
        covariate_penalty=penalty,
        n_items=act.size,
        n_workers=n_workers,
        eta_init=eta_init,
        eta_prior_strength=eta_prior_strength,
        max_iter=max_iter,
        tol=tol,
    )
