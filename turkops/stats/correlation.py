"""Importance-weighted Pearson correlation between known activations and rated concept labels.

Estimator (METHOD.md): with draws S from q, weights w = p/q, activations ā z-scored over the full
probing set D (known), and labels y in [0, 1] rated on S,

    μ̂ = (1/D) Σ w y,   σ̂² = (1/D) Σ w (y - μ̂)²,   ρ̂ = (1/D) Σ w ā (y - μ̂) / σ̂,

where D = |S| (non-self-normalised, the default) or D = Σ w (self-normalised). Sums run over draws,
so an input drawn several times counts with its multiplicity. All functions take one pair, shape
(n,), or a batch of pairs, shape (K, n), padded with count 0 where a pair has fewer inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ConceptVariance = Literal["weighted", "binary"]

_BOOT_CHUNK_CELLS = 4_000_000  # bootstrap replicates x pairs held in memory at once (~160 MB)


@dataclass(frozen=True, slots=True)
class CorrelationEstimate:
    """ρ̂ for one (neuron, explanation) pair with its diagnostics.

    rho: the estimate (0.0 when degenerate); mu_c, sigma_c: estimated concept mean and std;
    ess: Kish effective sample size (Σw)²/Σw² over draws; n_draws: |S|; n_unique: inputs shown;
    degenerate: σ̂_c == 0 (e.g. no positive drawn), so ρ̂ is undefined and reported as 0.
    """

    rho: float
    mu_c: float
    sigma_c: float
    ess: float
    n_draws: int
    n_unique: int
    self_normalised: bool
    degenerate: bool


@dataclass(frozen=True, slots=True, eq=False)
class CorrelationEstimates:
    """Batched CorrelationEstimate: every field is an array of shape (K,)."""

    rho: FloatArray
    mu_c: FloatArray
    sigma_c: FloatArray
    ess: FloatArray
    n_draws: IntArray
    n_unique: IntArray
    self_normalised: bool
    degenerate: npt.NDArray[np.bool_]

    def at(self, k: int) -> CorrelationEstimate:
        """The estimate of pair k."""
        return CorrelationEstimate(
            rho=float(self.rho[k]),
            mu_c=float(self.mu_c[k]),
            sigma_c=float(self.sigma_c[k]),
            ess=float(self.ess[k]),
            n_draws=int(self.n_draws[k]),
            n_unique=int(self.n_unique[k]),
            self_normalised=self.self_normalised,
            degenerate=bool(self.degenerate[k]),
        )


@dataclass(frozen=True, slots=True)
class CorrelationInterval:
    """Bootstrap interval for one pair (BCa by default): -1 <= low <= high <= 1 at the level.

    se: bootstrap standard error of ρ̂; n_boot: replicates used.
    """

    rho: float
    low: float
    high: float
    se: float
    level: float
    n_boot: int


@dataclass(frozen=True, slots=True, eq=False)
class CorrelationIntervals:
    """Batched CorrelationInterval: rho, low, high, se have shape (K,)."""

    rho: FloatArray
    low: FloatArray
    high: FloatArray
    se: FloatArray
    level: float
    n_boot: int

    def at(self, k: int) -> CorrelationInterval:
        return CorrelationInterval(
            float(self.rho[k]),
            float(self.low[k]),
            float(self.high[k]),
            float(self.se[k]),
            self.level,
            self.n_boot,
        )


def _as_batch(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    a = np.asarray(activations_z, dtype=np.float64)
    y = np.asarray(concept, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    cnt = np.ones_like(a) if counts is None else np.asarray(counts, dtype=np.float64)
    if not a.shape == y.shape == w.shape == cnt.shape:
        raise ValueError(
            f"shapes differ: activations {a.shape}, concept {y.shape}, weights {w.shape}, "
            f"counts {cnt.shape}"
        )
    if a.ndim not in (1, 2):
        raise ValueError("expected one pair (n,) or a batch of pairs (K, n)")
    if np.any(w < 0) or np.any(cnt < 0):
        raise ValueError("weights and counts must be >= 0")
    if a.ndim == 1:
        a, y, w, cnt = a[None], y[None], w[None], cnt[None]
    return a, y, w, cnt


def _sums(a: FloatArray, y: FloatArray, wc: FloatArray) -> FloatArray:
    """The five weighted sums ρ̂ is built from, along the last axis: (..., 5)."""
    return np.stack(
        [
            wc.sum(-1),
            (wc * y).sum(-1),
            (wc * y * y).sum(-1),
            (wc * a).sum(-1),
            (wc * a * y).sum(-1),
        ],
        axis=-1,
    )


def _rho_from_sums(
    sums: FloatArray, n_draws: FloatArray, self_normalised: bool, concept_variance: ConceptVariance
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(ρ̂, μ̂, σ̂) from the sums of _sums; n_draws broadcasts against sums[..., 0]."""
    sw, sy, syy, sa, say = (sums[..., i] for i in range(5))
    denom = sw if self_normalised else n_draws * np.ones_like(sw)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(denom > 0, sy / denom, 0.0)
        if concept_variance == "binary":
            # A binary concept has variance μ(1-μ); soft or noise-corrected labels would
            # otherwise bring their own (smaller or noisier) spread into σ̂.
            mu_b = np.clip(mu, 0.0, 1.0)
            var = mu_b * (1.0 - mu_b)
        else:
            var = np.where(denom > 0, (syy - 2.0 * mu * sy + mu * mu * sw) / denom, 0.0)
        sigma = np.sqrt(np.maximum(var, 0.0))
        cov = np.where(denom > 0, (say - mu * sa) / denom, 0.0)
        rho = np.where(sigma > 1e-12, cov / np.where(sigma > 1e-12, sigma, 1.0), 0.0)
    return rho, mu, sigma


def weighted_correlations(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None = None,
    *,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
) -> CorrelationEstimates:
    """ρ̂ for a batch of pairs.

    activations_z: (K, n) activations z-scored over the full probing set; concept: (K, n) labels
    in [0, 1]; weights: (K, n) p/q >= 0; counts: (K, n) multiplicities (None: all 1; 0 pads).
    concept_variance: "weighted" is METHOD.md's σ̂²; "binary" uses μ̂(1-μ̂) (for noise-corrected
    labels, see noise_corrected_correlation). A 1-D input is treated as K = 1.
    """
    a, y, w, cnt = _as_batch(activations_z, concept, weights, counts)
    wc = w * cnt
    n_draws = cnt.sum(-1)
    rho, mu, sigma = _rho_from_sums(_sums(a, y, wc), n_draws, self_normalised, concept_variance)
    return CorrelationEstimates(
        rho=rho,
        mu_c=mu,
        sigma_c=sigma,
        ess=effective_sample_size(w, cnt),
        n_draws=np.rint(n_draws).astype(np.int64),
        n_unique=np.count_nonzero(cnt > 0, axis=-1).astype(np.int64),
        self_normalised=self_normalised,
        degenerate=sigma <= 1e-12,
    )


def weighted_correlation(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None = None,
    *,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
) -> CorrelationEstimate:
    """ρ̂ for one pair: activations_z, concept, weights, counts all (n,); see module docstring."""
    if np.ndim(activations_z) != 1:
        raise ValueError("weighted_correlation takes one pair (n,); use weighted_correlations")
    est = weighted_correlations(
        activations_z,
        concept,
        weights,
        counts,
        self_normalised=self_normalised,
        concept_variance=concept_variance,
    )
    return est.at(0)


def noise_corrected_correlation(
    activations_z: npt.ArrayLike,
    labels: npt.ArrayLike,
    label_if_absent: npt.ArrayLike,
    label_if_present: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None = None,
    *,
    self_normalised: bool = False,
) -> CorrelationEstimates:
    """De-attenuated ρ̂: removes the bias that rating noise puts into aggregated labels.

    labels: (K, n) aggregated labels ĉ; label_if_absent / label_if_present: (K, n) their
    expectations given c = 0 / c = 1 under the estimated error model (aggregation.expected_labels).
    c̃ = (ĉ - f0) / (f1 - f0) is unbiased for c per input, so μ̂ and the covariance are unbiased too;
    σ̂ is taken as sqrt(μ̂(1-μ̂)) because the concept is binary. Inputs where f1 - f0 < 1e-6 keep ĉ.
    """
    y = np.asarray(labels, dtype=np.float64)
    f0 = np.broadcast_to(np.asarray(label_if_absent, dtype=np.float64), y.shape)
    f1 = np.broadcast_to(np.asarray(label_if_present, dtype=np.float64), y.shape)
    spread = f1 - f0
    ok = spread > 1e-6
    corrected = np.where(ok, (y - f0) / np.where(ok, spread, 1.0), y)
    return weighted_correlations(
        activations_z,
        corrected,
        weights,
        counts,
        self_normalised=self_normalised,
        concept_variance="binary",
    )


def effective_sample_size(
    weights: npt.ArrayLike, counts: npt.ArrayLike | None = None
) -> FloatArray:
    """Kish's ESS (Σ n_i w_i)² / Σ n_i w_i² along the last axis; (..., n) -> (...,)."""
    w = np.asarray(weights, dtype=np.float64)
    cnt = np.ones_like(w) if counts is None else np.asarray(counts, dtype=np.float64)
    s1 = (cnt * w).sum(-1)
    s2 = (cnt * w * w).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess: FloatArray = np.where(s2 > 0, s1 * s1 / np.where(s2 > 0, s2, 1.0), 0.0)
    return ess


def bootstrap_replicates(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None,
    rng: np.random.Generator,
    *,
    n_boot: int = 1000,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
) -> FloatArray:
    """Bootstrap replicates of ρ̂, (n_boot, K), resampling draws with their labels held fixed.

    The draws S are i.i.d. from q, so the bootstrap resamples draws (each with its weight and
    label, an input drawn twice counts as two draws): the weights are respected because every
    replicate recomputes the same weighted estimator. Pairs with the same number of draws share
    one resampling matrix, which turns the bootstrap into a matrix product; each pair's column
    is still an ordinary bootstrap, but replicates must not be combined across pairs.
    Holding the labels fixed is exact for labels that are a function of the input's own votes
    and fixed parameters (mean, majority, BRAgg with a given η): the resampled draw carries its
    votes. Labels from a fit over the study (EM) need coverage.refit_replicates.
    """
    if n_boot < 2:
        raise ValueError("n_boot must be >= 2")
    a, y, w, cnt = _as_batch(activations_z, concept, weights, counts)
    if np.any(cnt != np.round(cnt)):
        raise ValueError("counts must be whole numbers for the bootstrap")
    icnt = np.rint(cnt).astype(np.int64)
    n_draws = icnt.sum(-1)
    reps = np.zeros((n_boot, a.shape[0]))
    for size in np.unique(n_draws):
        group = np.flatnonzero(n_draws == size)
        if size == 0:
            continue
        # Expand unique inputs to draw rows so that one multinomial vector resamples draws.
        flat_pos = np.repeat(np.tile(np.arange(a.shape[1]), group.size), icnt[group].ravel())
        pos = flat_pos.reshape(group.size, size)
        rows = group[:, None]
        ga, gy, gw = a[rows, pos], y[rows, pos], w[rows, pos]
        feats = np.stack([gw, gw * gy, gw * gy * gy, gw * ga, gw * ga * gy], axis=-1)
        boots = rng.multinomial(size, np.full(size, 1.0 / size), size=n_boot).astype(np.float64)
        step = max(1, _BOOT_CHUNK_CELLS // n_boot)
        for start in range(0, group.size, step):
            sl = slice(start, start + step)
            sums = np.einsum("bs,ksf->bkf", boots, feats[sl], optimize=True)
            rho_b, _, _ = _rho_from_sums(
                sums, np.full(1, float(size)), self_normalised, concept_variance
            )
            reps[:, group[sl]] = rho_b
    return reps


def correlation_intervals(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None,
    rng: np.random.Generator,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
    method: str = "bca",
) -> CorrelationIntervals:
    """Bootstrap intervals for a batch of pairs (shapes as weighted_correlations).

    Replicates from bootstrap_replicates (labels held fixed); method "bca" (default: it covers
    rare concepts at 180 draws, docs/statistics.md), "percentile" or "fisher-z"
    (intervals.interval_from_replicates). Intervals are clipped to [-1, 1]; se is the replicates'
    standard deviation.
    """
    # Imported here: intervals builds on this module's sums, so a top-level import would cycle.
    from turkops.stats.intervals import interval_from_replicates, jackknife_acceleration

    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    a, y, w, cnt = _as_batch(activations_z, concept, weights, counts)
    reps = bootstrap_replicates(
        a,
        y,
        w,
        cnt,
        rng,
        n_boot=n_boot,
        self_normalised=self_normalised,
        concept_variance=concept_variance,
    )
    point = weighted_correlations(
        a, y, w, cnt, self_normalised=self_normalised, concept_variance=concept_variance
    ).rho
    acc = (
        jackknife_acceleration(
            a, y, w, cnt, self_normalised=self_normalised, concept_variance=concept_variance
        )
        if method == "bca"
        else None
    )
    low, high = interval_from_replicates(
        point,
        reps,
        level=level,
        method=method,  # type: ignore[arg-type]
        acceleration=acc,
    )
    empty = cnt.sum(-1) == 0
    low, high = np.where(empty, 0.0, low), np.where(empty, 0.0, high)
    se = np.where(empty, 0.0, reps.std(axis=0, ddof=1))
    # interval_from_replicates clips to [-1, 1] already.
    return CorrelationIntervals(rho=point, low=low, high=high, se=se, level=level, n_boot=n_boot)


def clip_correlation(x: npt.ArrayLike) -> FloatArray:
    """Bounds of an interval for a correlation, clipped to [-1, 1]; any shape."""
    clipped: FloatArray = np.clip(np.asarray(x, dtype=np.float64), -1.0, 1.0)
    return clipped


def correlation_interval(
    activations_z: npt.ArrayLike,
    concept: npt.ArrayLike,
    weights: npt.ArrayLike,
    counts: npt.ArrayLike | None,
    rng: np.random.Generator,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    self_normalised: bool = False,
    concept_variance: ConceptVariance = "weighted",
    method: str = "bca",
) -> CorrelationInterval:
    """Bootstrap interval of ρ̂ for one pair; arrays (n,), see correlation_intervals."""
    if np.ndim(activations_z) != 1:
        raise ValueError("correlation_interval takes one pair (n,); use correlation_intervals")
    out = correlation_intervals(
        activations_z,
        concept,
        weights,
        counts,
        rng,
        n_boot=n_boot,
        level=level,
        self_normalised=self_normalised,
        concept_variance=concept_variance,
        method=method,
    )
    return out.at(0)


def relative_correlation_error(estimates: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """RCE = Σ_k |ρ̂_k - ρ_k| / Σ_k |ρ_k| over pairs (METHOD.md). Arrays (K,)."""
    est = np.asarray(estimates, dtype=np.float64)
    true = np.asarray(truth, dtype=np.float64)
    denom = float(np.abs(true).sum())
    if denom == 0:
        raise ValueError("all true correlations are 0; RCE is undefined")
    return float(np.abs(est - true).sum() / denom)


def mean_relative_error(estimates: npt.ArrayLike, truth: npt.ArrayLike) -> float:
    """Per-pair form of RCE: mean_k |ρ̂_k - ρ_k| / |ρ_k|, over pairs with ρ_k != 0. Arrays (K,)."""
    est = np.asarray(estimates, dtype=np.float64)
    true = np.asarray(truth, dtype=np.float64)
    keep = true != 0
    if not np.any(keep):
        raise ValueError("all true correlations are 0; the relative error is undefined")
    return float(np.mean(np.abs(est[keep] - true[keep]) / np.abs(true[keep])))
