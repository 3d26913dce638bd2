"""Pooling a study's per-pair ρ̂ towards what the cheap model predicts (empirical Bayes).

Why: a pair's own ρ̂ at 180 draws and one weak vote per input is noisy. A chance cluster of
false "yes" votes makes an unrelated explanation look correlated (P(|ρ̂| > 0.1) was 3.1% with
1 rater against bragg-model's 0.1%), and the noise puts a wrong explanation above the right one
5% of the time. The cheap model's correlation with the activation over the whole probing set,
ρ_model, has no sampling noise at all, and across a study's pairs the true ρ follows it closely
(docs/statistics.md 2d). So each pair borrows strength from the others:

1. Fay-Herriot model (Fay & Herriot 1979): y_k = ρ_k + e_k with e_k ~ N(0, se_k²) the pair's
   own design-based estimate, and ρ_k = x_kᵀβ + u_k with u_k ~ N(0, τ²), x_k = (1, ρ_model,k)
   per group (explanation method, so a cheap model that favours one method's explanations moves
   only that method's line).
2. Robust fit and prediction (Sinha & Rao 2009): β and τ² solve Huber-weighted estimating
   equations, and the pooled value is x_kᵀβ + τ²/s_k·ψ((y_k - x_kᵀβ)/s_k), s_k² = τ² + se_k², ψ
   Huber's with c = 1.345. One pair's wild estimate (a chance cluster of false "yes" votes at
   one end of the activation range) then moves neither the line nor its own pooled value
   without bound.
3. Limited translation (Efron & Morris 1972): the pooled value never leaves the pair's own
   interval, so a pair whose own data reject the line keeps an estimate its data allow, and the
   reported point always lies inside the reported (design-based, unpooled) interval.

τ² is estimated from the study, so pooling is as strong as the study shows the line to hold: a
cheap model that does not predict the ratings gives a large τ² and leaves each pair near its own
estimate. Fewer than MIN_POOL_PAIRS usable pairs: no pooling.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

FloatArray = npt.NDArray[np.float64]

HUBER_C = 1.345
"""Huber's tuning constant: 95% efficiency at the normal."""
MIN_POOL_PAIRS = 10
"""Below this many usable pairs (or pairs in a group) a line and τ² are not estimable enough."""
_TAU2_RANGE = (1e-10, 1.0)  # ρ lies in [-1, 1], so its spread about any line is below 1
_BISECTIONS = 60


@dataclass(frozen=True, slots=True, eq=False)
class FayHerriotFit:
    """prediction: (K,) pooled values; beta: (p,) line coefficients; tau2: spread of the true
    values about the line; iterations: outer iterations used."""

    prediction: FloatArray
    beta: FloatArray
    tau2: float
    iterations: int


def _huber_kappa(c: float) -> float:
    """E[ψ_c(Z)²] for Z ~ N(0, 1): what Σ ψ² / (τ² + v) is matched against."""
    tail = float(stats.norm.sf(c))
    return float(1.0 - 2.0 * tail - 2.0 * c * stats.norm.pdf(c) + 2.0 * c * c * tail)


def robust_fay_herriot(
    y: npt.ArrayLike,
    se: npt.ArrayLike,
    design: npt.ArrayLike,
    *,
    c: float = HUBER_C,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> FayHerriotFit:
    """Huber-robust Fay-Herriot fit of y (K,) with sampling errors se (K,) on design (K, p).

    β: iteratively re-weighted least squares with weights h_k / (τ² + se_k²), h_k Huber's
    weight of the standardised residual; τ²: the root of Σ ψ(r_k)² / s_k² = κ Σ 1 / s_k² (0 when
    the residuals are no wider than the sampling errors), alternating until both settle.
    """
    yv = np.asarray(y, dtype=np.float64)
    v = np.asarray(se, dtype=np.float64) ** 2
    x = np.atleast_2d(np.asarray(design, dtype=np.float64))
    if yv.ndim != 1 or v.shape != yv.shape or x.shape[0] != yv.size:
        raise ValueError("y and se must be (K,) and design (K, p)")
    if not (np.all(np.isfinite(yv)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("y must be finite and se finite and > 0")
    if c <= 0:
        raise ValueError("the Huber constant must be > 0")
    kappa = _huber_kappa(c)
    tau2 = float(np.clip(np.var(yv) - np.mean(v), *_TAU2_RANGE))
    beta: FloatArray = np.linalg.lstsq(x, yv, rcond=None)[0].astype(np.float64)
    iterations = 0
    while iterations < max_iter:
        iterations += 1
        beta = _huber_line(yv, np.sqrt(tau2 + v), x, beta, c, max_iter, tol)
        new_tau2 = _solve_tau2(yv - x @ beta, v, c, kappa)
        settled = abs(new_tau2 - tau2) < tol
        tau2 = new_tau2
        if settled:
            break
    s = np.sqrt(tau2 + v)
    line = x @ beta
    pred = line + tau2 / s * np.clip((yv - line) / s, -c, c)
    return FayHerriotFit(prediction=pred, beta=beta, tau2=tau2, iterations=iterations)


def _huber_line(
    y: FloatArray,
    s: FloatArray,
    x: FloatArray,
    beta: FloatArray,
    c: float,
    max_iter: int,
    tol: float,
) -> FloatArray:
    """β by IRLS: weights h_k / s_k², h_k = min(1, c / |r_k|) of the standardised residual."""
    for _ in range(max_iter):
        r = (y - x @ beta) / s
        w = np.sqrt(np.minimum(1.0, c / np.maximum(np.abs(r), 1e-300))) / s
        new: FloatArray = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)[0].astype(np.float64)
        if np.max(np.abs(new - beta)) < tol:
            return new
        beta = new
    return beta


def _solve_tau2(resid: FloatArray, v: FloatArray, c: float, kappa: float) -> float:
    """The τ² where Σ ψ(r)² / (τ² + v) = κ Σ 1 / (τ² + v), r = resid / sqrt(τ² + v), by bisection
    on log τ² within _TAU2_RANGE (the left end when the residuals are no wider than the errors)."""

    def excess(log_t2: float) -> float:
        t2 = np.exp(log_t2)
        ps = np.clip(resid / np.sqrt(t2 + v), -c, c)
        return float(np.sum(ps * ps / (t2 + v)) - kappa * np.sum(1.0 / (t2 + v)))

    lo, hi = np.log(_TAU2_RANGE[0]), np.log(_TAU2_RANGE[1])
    if excess(lo) <= 0:
        return _TAU2_RANGE[0]
    if excess(hi) >= 0:
        return _TAU2_RANGE[1]
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return float(np.exp((lo + hi) / 2))


def group_design(model_rho: FloatArray, groups: Sequence[Collection[str]] | None) -> FloatArray:
    """(K, 2G) columns (1, ρ_model) per group; a pair in several groups (one explanation given by
    two methods) shares its membership equally. Groups with fewer than MIN_POOL_PAIRS pairs share
    one line; when that line would hold fewer than MIN_POOL_PAIRS pairs, all pairs share one."""
    k = model_rho.size
    if groups is None:
        return np.stack([np.ones(k), model_rho], axis=1)
    if len(groups) != k:
        raise ValueError("groups must name each pair's groups")
    names = sorted({g for gs in groups for g in gs})
    size = {g: sum(g in gs for gs in groups) for g in names}
    big = [g for g in names if size[g] >= MIN_POOL_PAIRS]
    pooled_rest = any(not set(gs) & set(big) for gs in groups)
    columns = big + (["*"] if pooled_rest else [])
    member = np.zeros((k, len(columns)))
    for i, gs in enumerate(groups):
        mine = [columns.index(g) for g in gs if g in big] or [columns.index("*")]
        member[i, mine] = 1.0 / len(mine)
    if pooled_rest and int((member[:, -1] > 0).sum()) < MIN_POOL_PAIRS:
        member = np.ones((k, 1))  # too few pairs outside the big groups: one line for all
    return np.concatenate([member, member * model_rho[:, None]], axis=1)


def pooled_points(
    own: npt.ArrayLike,
    estimate: npt.ArrayLike,
    se: npt.ArrayLike,
    low: npt.ArrayLike,
    high: npt.ArrayLike,
    model_rho: npt.ArrayLike,
    groups: Sequence[Collection[str]] | None = None,
) -> FloatArray:
    """Each pair's point: the robust Fay-Herriot value of its unbiased `estimate` (se) on
    (1, model_rho) per group, kept inside its own [low, high]; `own` where it cannot pool (fewer
    than MIN_POOL_PAIRS usable pairs, or a pair whose estimate or se is not usable)."""
    own_v = np.asarray(own, dtype=np.float64)
    y = np.asarray(estimate, dtype=np.float64)
    s = np.asarray(se, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    hi = np.asarray(high, dtype=np.float64)
    x = np.asarray(model_rho, dtype=np.float64)
    if not own_v.shape == y.shape == s.shape == lo.shape == hi.shape == x.shape == (y.size,):
        raise ValueError("own, estimate, se, low, high and model_rho must share one shape (K,)")
    out = own_v.copy()
    usable = np.isfinite(y) & np.isfinite(s) & (s > 0) & np.isfinite(x)
    usable &= np.isfinite(lo) & np.isfinite(hi)
    idx = np.flatnonzero(usable)
    if idx.size < MIN_POOL_PAIRS:
        return out
    design = group_design(x[idx], None if groups is None else [groups[int(i)] for i in idx])
    # A column with no spread (ρ_model constant in a group, e.g. a constant cheap model) carries
    # nothing; lstsq's minimum-norm solution then fits that group's mean.
    fit = robust_fay_herriot(y[idx], s[idx], design)
    out[idx] = np.clip(fit.prediction, lo[idx], hi[idx])
    return out
