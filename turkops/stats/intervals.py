"""Confidence intervals of ρ from bootstrap replicates: percentile, BCa and Fisher-z.

The replicates come from elsewhere (correlation.correlation_intervals holds the labels fixed;
coverage.refit_replicates re-fits the aggregator inside each replicate); this module only turns
replicates (B, K) and the point estimates (K,) into intervals, vectorised over pairs.

Why BCa: at 180 draws a rare concept has few positives, so ρ̂'s sampling distribution is skewed
and biased towards 0; the percentile interval then under-covers even with exact labels. BCa
corrects the median bias (z0, from the share of replicates below ρ̂) and the skew (the
acceleration a, from a jackknife over draws), and is transformation-respecting, so it needs no
Fisher z. Every interval is clipped to [-1, 1].
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

from turkops.stats.correlation import ConceptVariance, _as_batch, _rho_from_sums, _sums

FloatArray = npt.NDArray[np.float64]
IntervalMethod = Literal["percentile", "bca", "fisher-z"]
INTERVAL_METHODS: tuple[IntervalMethod, ...] = ("percentile", "bca", "fisher-z")


def _quantile_per_column(sorted_reps: FloatArray, probs: FloatArray) -> FloatArray:
    """Linear-interpolated quantile of each column of sorted (B, K) at its own prob (K,)."""
    b = sorted_reps.shape[0]
    pos = np.clip(probs, 0.0, 1.0) * (b - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, b - 1)
    frac = pos - lo
    cols = np.arange(sorted_reps.shape[1])
    out: FloatArray = sorted_reps[lo, cols] * (1 - frac) + sorted_reps[hi, cols] * frac
    return out


def jackknife_acceleration(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None = None,
    *,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
) -> FloatArray:
    """BCa acceleration a per pair from the leave-one-draw-out jackknife, labels held fixed.

    Shapes as correlation.weighted_correlations; returns (K,). An input drawn c times stands for
    c identical jackknife values. a = Σ d³ / (6 (Σ d²)^1.5), d = mean(θ_(i)) - θ_(i).
    """
    a, y, w, cnt = _as_batch(activations_z, concept, weights, counts)
    wc = w * cnt
    total = _sums(a, y, wc)  # (K, 5)
    own = np.stack([w, w * y, w * y * y, w * a, w * a * y], axis=-1)  # one draw (K, n, 5)
    n_draws = cnt.sum(-1)
    theta, _, _ = _rho_from_sums(
        total[:, None, :] - own, (n_draws - 1)[:, None], self_normalised, concept_variance
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (cnt * theta).sum(-1) / np.maximum(n_draws, 1)
        d = mean[:, None] - theta
        num = (cnt * d**3).sum(-1)
        den = 6.0 * (cnt * d**2).sum(-1) ** 1.5
        acc: FloatArray = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return acc


def interval_from_replicates(
    point: npt.ArrayLike,
    replicates: npt.ArrayLike,
    *,
    level: float = 0.95,
    method: IntervalMethod = "bca",
    acceleration: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(low, high), each (K,), from point estimates (K,) and bootstrap replicates (B, K).

    method: "percentile"; "bca" (bias-corrected and accelerated; acceleration (K,) from
    jackknife_acceleration, None = 0, i.e. bias-corrected only); "fisher-z" (normal interval on
    atanh ρ with the replicates' standard deviation there, centred on the point estimate).
    """
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    theta = np.atleast_1d(np.asarray(point, dtype=np.float64))
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim == 1:
        reps = reps[:, None]
    if reps.shape[1:] != theta.shape or reps.shape[0] < 2:
        raise ValueError("replicates must be (B >= 2, K) with K point estimates")
    tail = (1.0 - level) / 2.0
    if method == "fisher-z":
        edge = 1.0 - 1e-9
        z_reps = np.arctanh(np.clip(reps, -edge, edge))
        sd = z_reps.std(axis=0, ddof=1)
        z = np.arctanh(np.clip(theta, -edge, edge))
        half = special.ndtri(1.0 - tail) * sd
        return np.tanh(z - half), np.tanh(z + half)
    ordered = np.sort(reps, axis=0)
    k = theta.size
    if method == "percentile":
        lo_p, hi_p = np.full(k, tail), np.full(k, 1.0 - tail)
    elif method == "bca":
        b = reps.shape[0]
        below = (reps < theta).sum(0) + 0.5 * (reps == theta).sum(0)
        # Keep z0 finite when every replicate lies on one side (a degenerate pair).
        share = np.clip(below / b, 0.5 / b, 1.0 - 0.5 / b)
        z0 = special.ndtri(share)
        acc = np.zeros(k) if acceleration is None else np.asarray(acceleration, dtype=np.float64)
        acc = np.clip(np.nan_to_num(acc), -0.25, 0.25)  # guards 1 - a(z0 + z) > 0

        def adjusted(p: float) -> FloatArray:
            zq = z0 + special.ndtri(p)
            out: FloatArray = special.ndtr(z0 + zq / (1.0 - acc * zq))
            return out

        lo_p, hi_p = adjusted(tail), adjusted(1.0 - tail)
    else:
        raise ValueError(f"unknown interval method {method!r}; known: {INTERVAL_METHODS}")
    low = _quantile_per_column(ordered, lo_p)
    high = _quantile_per_column(ordered, hi_p)
    return np.clip(low, -1.0, 1.0), np.clip(high, -1.0, 1.0)
