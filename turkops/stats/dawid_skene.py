"""One-coin Dawid-Skene: BRAgg with an error rate per worker, fitted by EM.

Each worker w errs with rate η_w whatever the true label (one coin), so a spammer (η_w ≈ 0.5)
gets a vote weight log((1-η_w)/η_w) ≈ 0 while a careful worker counts more. The per-input prior
is the same as BRAgg's (uniform β or the clipped model probability). Ratings are long-format:
one row per (item, worker, value), items and workers coded 0..n-1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse, special

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


def checked_ratings(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    n_items: int | None,
    n_workers: int | None,
) -> tuple[IntArray, IntArray, FloatArray, int, int]:
    """Long-format ratings checked once for every aggregator: item and worker codes, 0/1 values
    as floats, and the numbers of items and workers (given, or one past the largest code)."""
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
    return it, wk, v, n_i, n_w


def _linear(theta: FloatArray, offset: FloatArray, x: FloatArray, grp: IntArray) -> FloatArray:
    """offset + x_i·θ_g(i) for every item, column by column (no (n, p) temporaries)."""
    z = offset.copy()
    for j in range(theta.shape[1]):
        z += theta[grp, j] * x[:, j]
    return z


def _expit_softplus(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """σ(z) and log(1 + e^z) from one exp and one log per element.

    EM needs both at every item on every iteration (the posterior and the log-likelihood);
    np.logaddexp costs as much as both together. log(1 + e^z) = max(z, 0) - log(1 - σ(-|z|)),
    and σ(-|z|) = min(σ(z), 1 - σ(z)) ≤ 0.5, so log1p keeps full precision for any z.
    """
    s: FloatArray = special.expit(z)
    sp: FloatArray = np.subtract(1.0, s)
    np.minimum(s, sp, out=sp)
    np.negative(sp, out=sp)
    np.log1p(sp, out=sp)
    np.subtract(np.maximum(z, 0.0), sp, out=sp)
    return s, sp


def _rating_matrix(items: IntArray, columns: IntArray, n_items: int, n_columns: int) -> Any:
    """(n_items, n_columns) sparse counts of ratings per item and column (a worker-vote code).

    Every rating-level sum of EM is then one sparse product: per item, a sum of per-column
    values (A @ table); per column, a sum of per-item values (A.T @ post). That replaces a
    gather and a np.bincount over all ratings, ten times slower at millions of ratings.
    """
    return sparse.csr_matrix(
        (np.ones(items.size), (items, columns)), shape=(n_items, n_columns), dtype=np.float64
    )


def _objective_from_softplus(
    z: FloatArray,
    softplus: FloatArray,
    theta: FloatArray,
    post: FloatArray,
    grp: IntArray,
    penalty: float,
) -> FloatArray:
    """Expected complete-data log-likelihood of the prior regression per group, (G,), given
    z and log(1 + e^z)."""
    # post·log σ(z) + (1-post)·log σ(-z) = post·z - log(1 + e^z)
    return _penalised_sum(post * z - softplus, theta, grp, penalty)


def _penalised_sum(
    per_item: FloatArray, theta: FloatArray, grp: IntArray, penalty: float
) -> FloatArray:
    """Per group, the sum of per_item minus the ridge penalty of its θ, (G,)."""
    out: FloatArray = np.bincount(grp, weights=per_item, minlength=theta.shape[0]).astype(
        np.float64
    )
    return out - 0.5 * penalty * (theta * theta).sum(1)


def _solve_spd(hess: FloatArray, grad: FloatArray) -> FloatArray:
    """hess⁻¹·grad per group, (G, p, p) and (G, p); 1x1 and 2x2 written out (the common
    cases: intercept, intercept + activation), as np.linalg.solve's per-matrix overhead
    dominates at thousands of tiny systems. hess is penalised, so positive definite."""
    n_p = grad.shape[1]
    if n_p == 1:
        out1: FloatArray = grad / hess[:, 0, :]
        return out1
    if n_p == 2:
        a, b, d = hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1]
        det = a * d - b * b
        out2: FloatArray = np.stack(
            [(d * grad[:, 0] - b * grad[:, 1]) / det, (a * grad[:, 1] - b * grad[:, 0]) / det],
            axis=1,
        )
        return out2
    out: FloatArray = np.linalg.solve(hess, grad[..., None])[..., 0].astype(np.float64)
    return out


def _prior_regression_step(
    theta: FloatArray,
    post: FloatArray,
    offset: FloatArray,
    x: FloatArray,
    grp: IntArray,
    penalty: float,
    z: FloatArray,
    s: FloatArray,
    softplus: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """One Newton step of _fit_prior_regression from a known z = offset + x·θ, σ(z) and
    log(1 + e^z); returns the new θ with its z, σ(z), log(1 + e^z), which the next E-step
    reuses. Step halving touches only the items of groups whose objective fell (few)."""
    n_g, n_p = theta.shape
    before = _objective_from_softplus(z, softplus, theta, post, grp, penalty)
    resid = post - s
    curv = s * (1 - s)
    grad = (
        np.stack([np.bincount(grp, weights=resid * x[:, j], minlength=n_g) for j in range(n_p)], 1)
        - penalty * theta
    )
    hess = np.empty((n_g, n_p, n_p))
    for j in range(n_p):
        for k in range(j, n_p):
            hess[:, j, k] = hess[:, k, j] = np.bincount(
                grp, weights=curv * x[:, j] * x[:, k], minlength=n_g
            )
    hess += penalty * np.eye(n_p)
    step = _solve_spd(hess, grad)
    scale = np.ones(n_g)
    cand = theta + step
    z_new = _linear(cand, offset, x, grp)
    s_new, sp_new = _expit_softplus(z_new)
    after = _objective_from_softplus(z_new, sp_new, cand, post, grp, penalty)
    for _ in range(11):
        worse = after < before - 1e-12
        if not worse.any():
            break
        scale = np.where(worse, scale / 2, scale)
        cand = theta + scale[:, None] * step
        sub = np.flatnonzero(worse[grp])
        g_sub = grp[sub]
        z_sub = _linear(cand, offset[sub], x[sub], g_sub)
        s_sub, sp_sub = _expit_softplus(z_sub)
        z_new[sub], s_new[sub], sp_new[sub] = z_sub, s_sub, sp_sub
        part = np.bincount(g_sub, weights=post[sub] * z_sub - sp_sub, minlength=n_g)
        after = np.where(worse, part - 0.5 * penalty * (cand * cand).sum(1), after)
    keep = after >= before - 1e-12
    if not keep.all():
        theta = np.where(keep[:, None], cand, theta)
        old = np.flatnonzero(~keep[grp])
        z_new[old], s_new[old], sp_new[old] = z[old], s[old], softplus[old]
        return theta, z_new, s_new, sp_new
    return cand, z_new, s_new, sp_new


OBSERVED_INNER_STEPS = 20
"""Newton steps on θ per ECME M-step beyond the first; only groups still moving (a step above
OBSERVED_STEP_TOL) take them, on their own items, so they cost little."""
OBSERVED_STEP_TOL = 1e-4


def _observed_prior_fit(
    theta: FloatArray,
    evidence: FloatArray,
    offset: FloatArray,
    x: FloatArray,
    grp: IntArray,
    penalty: float,
    z: FloatArray,
    s: FloatArray,
    softplus: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """ECME's M-step for θ (Liu & Rubin 1994): θ maximises the observed-data log-likelihood
    with the worker rates held fixed, where EM only takes one Newton step on the expected
    complete-data one.

    evidence: (n_items,) log P(ratings | c=1) - log P(ratings | c=0) under the current rates.
    Per item the objective is log(σ(z) e^d + σ(-z)) = log(1 + e^(z+d)) - log(1 + e^z) (plus
    terms free of θ); its gradient (p - σ(z))·x, with p = σ(z + d) the posterior, is EM's at
    the current posteriors, so the fixed points are EM's. Its curvature is
    -(σ(z)(1-σ(z)) - p(1-p))·x xᵀ; EM's leaves out the p(1-p) (the missing information), so
    where the ratings say little about a pair's items EM crawls: hundreds of iterations.
    z, s, softplus: z = offset + x·θ, σ(z), log(1 + e^z) at the given θ. Returns θ with its z,
    σ(z), log(1 + e^z), posterior σ(z + d) and log(1 + e^(z+d)).
    """
    n_g = theta.shape[0]
    theta, z, s, softplus, post, sp_post, moved = _observed_newton(
        theta, evidence, offset, x, grp, penalty, z, s, softplus, np.ones(n_g, dtype=bool)
    )
    for _ in range(OBSERVED_INNER_STEPS):
        active = moved > OBSERVED_STEP_TOL
        if not active.any():
            break
        sub = np.flatnonzero(active[grp])
        theta, z_sub, s_sub, sp_sub, p_sub, spp_sub, moved = _observed_newton(
            theta,
            evidence[sub],
            offset[sub],
            x[sub],
            grp[sub],
            penalty,
            z[sub],
            s[sub],
            softplus[sub],
            active,
        )
        z[sub], s[sub], softplus[sub], post[sub], sp_post[sub] = (
            z_sub,
            s_sub,
            sp_sub,
            p_sub,
            spp_sub,
        )
    return theta, z, s, softplus, post, sp_post


def _observed_newton(
    theta: FloatArray,
    evidence: FloatArray,
    offset: FloatArray,
    x: FloatArray,
    grp: IntArray,
    penalty: float,
    z: FloatArray,
    s: FloatArray,
    softplus: FloatArray,
    active: npt.NDArray[np.bool_],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """One Newton step with step halving on the observed-data objective of the active groups
    (see _observed_prior_fit), over the items given, which must hold every item of those
    groups. A group whose curvature is not negative definite there (the objective of a
    mixture need not be concave) takes EM's step instead. Returns θ, the item arrays at the
    new θ (new arrays; z, s, softplus are not modified) and the size of each group's step."""
    n_g, n_p = theta.shape
    post, sp_post = _expit_softplus(z + evidence)
    before = _penalised_sum(sp_post - softplus, theta, grp, penalty)
    resid = post - s
    curv_em = s * (1 - s)
    curv_obs = curv_em - post * (1 - post)
    grad = (
        np.stack([np.bincount(grp, weights=resid * x[:, j], minlength=n_g) for j in range(n_p)], 1)
        - penalty * theta
    )
    hess = np.empty((n_g, n_p, n_p))
    hess_em = np.empty((n_g, n_p, n_p))
    for j in range(n_p):
        for k in range(j, n_p):
            xx = x[:, j] * x[:, k]
            hess[:, j, k] = hess[:, k, j] = np.bincount(grp, weights=curv_obs * xx, minlength=n_g)
            hess_em[:, j, k] = hess_em[:, k, j] = np.bincount(
                grp, weights=curv_em * xx, minlength=n_g
            )
    eye = penalty * np.eye(n_p)
    hess += eye
    hess_em += eye
    concave = _positive_definite(hess)
    hess[~concave] = hess_em[~concave]
    step = np.where(active[:, None], _solve_spd(hess, grad), 0.0)
    scale = np.ones(n_g)
    cand = theta + step
    z_new = _linear(cand, offset, x, grp)
    s_new, sp_new = _expit_softplus(z_new)
    p_new, spp_new = _expit_softplus(z_new + evidence)
    after = _penalised_sum(spp_new - sp_new, cand, grp, penalty)
    for _ in range(11):
        worse = active & (after < before - 1e-12)
        if not worse.any():
            break
        scale = np.where(worse, scale / 2, scale)
        cand = theta + scale[:, None] * step
        sub = np.flatnonzero(worse[grp])
        g_sub = grp[sub]
        z_sub = _linear(cand, offset[sub], x[sub], g_sub)
        s_sub, sp_sub = _expit_softplus(z_sub)
        p_sub, spp_sub = _expit_softplus(z_sub + evidence[sub])
        z_new[sub], s_new[sub], sp_new[sub] = z_sub, s_sub, sp_sub
        p_new[sub], spp_new[sub] = p_sub, spp_sub
        part = np.bincount(g_sub, weights=spp_sub - sp_sub, minlength=n_g)
        after = np.where(worse, part - 0.5 * penalty * (cand * cand).sum(1), after)
    keep = (after >= before - 1e-12) | ~active
    if not keep.all():
        cand = np.where(keep[:, None], cand, theta)
        old = np.flatnonzero(~keep[grp])
        z_new[old], s_new[old], sp_new[old] = z[old], s[old], softplus[old]
        p_new[old], spp_new[old] = post[old], sp_post[old]
    moved: FloatArray = np.abs(cand - theta).max(axis=1, initial=0.0)
    return cand, z_new, s_new, sp_new, p_new, spp_new, moved


def _positive_definite(hess: FloatArray) -> npt.NDArray[np.bool_]:
    """Per group, whether the symmetric (G, p, p) matrices are positive definite."""
    n_p = hess.shape[1]
    if n_p == 1:
        out1: npt.NDArray[np.bool_] = hess[:, 0, 0] > 0
        return out1
    if n_p == 2:
        a, b, d = hess[:, 0, 0], hess[:, 0, 1], hess[:, 1, 1]
        out2: npt.NDArray[np.bool_] = (a > 0) & (a * d - b * b > 0)
        return out2
    out: npt.NDArray[np.bool_] = np.linalg.eigvalsh(hess)[:, 0] > 0
    return out


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
    z = _linear(theta, offset, x, grp)
    s, sp = _expit_softplus(z)
    for _ in range(n_newton):
        theta, z, s, sp = _prior_regression_step(theta, post, offset, x, grp, penalty, z, s, sp)
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
    it, wk, v, n_i, n_w = checked_ratings(items, workers, values, n_items, n_workers)
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
