"""`ma-act`: a model-assisted ρ̂ whose interval carries the rating noise, the fit and the unseen.

Why: BRAgg-type labels are attenuated (their intervals hold the noise floor, not ρ), ds-act's
bootstrap over 180 draws cannot see inputs nobody drew, and holding its fitted slope fixed hides
that slope's uncertainty (docs/statistics.md, "Coverage"). Here, per pair k:

1. Working model over the whole probing set D: logit p_i = logit π_i + θ0 + θ1 f_i, with π the
   cheap model's probability and f_i the activation's normal score (Φ⁻¹ of its rank over D).
   θ is fitted in the study's two-coin EM. The rank score, not ā, because a heavy-tailed neuron
   puts a few inputs at ā ≈ 20: with ā itself those few points set the slope and extrapolate it
   to the whole set (an unrelated explanation then looked significant far more than 5% of the
   time in simulation).
2. Generalised regression (difference) estimator: cov = mean_D ā p + (1/n) Σ_S w ā (ĉ - p) and
   μ̂ = mean_D p + (1/n) Σ_S w (ĉ - p), ρ̂ = cov / sqrt(μ̂ (1 - μ̂)); ĉ is the posterior of a drawn
   input under p and its votes. With exact labels it is design-unbiased whatever p is; with votes
   the correction recovers what the votes reveal.
3. Variance: the design variance over the proposal q, with (ĉ - p)² + ĉ(1 - ĉ) where an input was
   drawn (its residual and what the votes leave unknown) and p(1 - p) where it was not (the
   unseen part, which a bootstrap over draws cannot see), plus the fit's: gᵀ Σθ g, with g = ∂ρ̂/∂θ
   (analytic) and Σθ the inverse observed information of θ (Laplace; the missing-information form
   Σ x xᵀ [p(1-p) - ĉ(1-ĉ)] over the drawn inputs plus the ridge).
4. Model averaging against "the activation adds nothing" (θ1 = 0, θ0 at its conditional mean):
   the posterior weight of that model is its Savage-Dickey Bayes factor under the ridge prior
   θ1 ~ N(0, 1/λ), prior odds 1:1. The point estimate is the two-normal mixture's median; the
   interval is the union of the mixture's 95% interval and the full model's (ρ̂1 ± z·se1), so it
   holds whichever of the two models is right. For an unrelated explanation the evidence
   usually favours θ1 = 0 and the estimate stays near the cheap model's, so unrelated
   explanations spread less.
5. The reported point pools the pairs of a study (pooling.py, `pool_ma_act`): each pair's full
   model ρ̂1 (se1) is shrunk towards a line in the cheap model's own correlation with the
   activation over D (`model_rho`, no sampling noise), as far as the study shows the line holds,
   and kept inside the pair's interval. `rho_own` keeps the pair's own mixture median.

Inputs are batched over K pairs: full-set arrays (K, N), draw arrays (K, n), distinct drawn
inputs as (pair, position) codes with their vote evidence.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from turkops.stats.pooling import pooled_points
from turkops.stats.synthetic import pearson_rows
from turkops.stats.two_coin import ACTIVATION_PENALTY, dawid_skene_two_coin, vote_evidence

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NOISY_CROWD_YOUDEN = 0.4
"""Below this crowd sensitivity + specificity - 1, ma-act's intervals under-cover: at η = 0.35
(0.30) they held the true ρ 85% of the time with 1 rater and 93% with 3, at η = 0.23 (0.54)
94-97% (docs/statistics.md 2c). collect warns."""
NULL_PRIOR_WEIGHT = 0.5
"""Prior probability of 'the activation adds nothing beyond the cheap model' (θ1 = 0)."""
_BISECTIONS = 60


@dataclass(frozen=True, slots=True, eq=False)
class MaActEstimates:
    """rho: the reported point (K,), rho_own until pool_ma_act pools it; low, high: (K,) the
    interval; rho_own: the pair's own estimate (median of the mixture); weight_null: posterior
    weight of θ1 = 0; rho_full, se_full: the θ-free model's ρ̂ and its standard error; rho_null,
    se_null: the θ1 = 0 model's; model_rho: the cheap model's Pearson correlation with the
    activation over the probing set; level: of the intervals."""

    rho: FloatArray
    low: FloatArray
    high: FloatArray
    weight_null: FloatArray
    rho_full: FloatArray
    se_full: FloatArray
    rho_null: FloatArray
    se_null: FloatArray
    model_rho: FloatArray
    rho_own: FloatArray
    level: float


def normal_scores(activations: npt.ArrayLike) -> FloatArray:
    """Φ⁻¹((rank - 1/2) / N) of each activation within its row (ties share their mean rank).

    activations: (K, N) over the probing set. The covariate of the working model: monotone in
    the activation, unbounded only like a normal's tails.
    """
    a = np.atleast_2d(np.asarray(activations, dtype=np.float64))
    ranks = stats.rankdata(a, axis=-1)
    out: FloatArray = special.ndtri((ranks - 0.5) / a.shape[-1])
    return out


@dataclass(frozen=True, slots=True, eq=False)
class _Study:
    """The arrays one evaluation of the estimator needs, checked once."""

    a: FloatArray  # (K, N) ā
    f: FloatArray  # (K, N) covariate
    base: FloatArray  # (K, N) logit π
    q: FloatArray  # (K, N) proposal
    pos: IntArray  # (K, n) draws
    cnt: FloatArray  # (K, n) multiplicities
    pair_u: IntArray  # (U,) distinct drawn inputs
    inp_u: IntArray  # (U,)
    evidence: FloatArray  # (U,) log P(votes | c=1) - log P(votes | c=0)


def _greg(s: _Study, theta: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """ρ̂, its design variance (K,) and ∂ρ̂/∂θ (K, 2) under the working model θ (K, 2).

    The gradient is analytic (dp/dθ = p(1-p)·x and dĉ/dθ = ĉ(1-ĉ)·x with x = (1, f)), so one pass
    over the probing set serves the estimate, its variance and the fit's share of it.
    """
    k, n_pop = s.a.shape
    rows = np.arange(k)[:, None]
    lp = s.base + theta[:, :1] + theta[:, 1:2] * s.f
    p = special.expit(lp)
    vp = p * (1 - p)
    post = p.copy()
    post[s.pair_u, s.inp_u] = special.expit(lp[s.pair_u, s.inp_u] + s.evidence)
    vc = post * (1 - post)
    n = np.maximum(s.cnt.sum(-1), 1.0)
    w = s.cnt / (n_pop * s.q[rows, s.pos])
    a_s, f_s = s.a[rows, s.pos], s.f[rows, s.pos]
    resid = (post - p)[rows, s.pos]
    dresid = (vc - vp)[rows, s.pos]
    resid_cov = (w * a_s * resid).sum(-1) / n
    cov = (s.a * p).mean(-1) + resid_cov
    mu = np.clip(p.mean(-1) + (w * resid).sum(-1) / n, 1e-9, 1 - 1e-9)
    sigma = np.sqrt(mu * (1 - mu))
    av = s.a * vp
    d_cov = np.stack(
        [
            av.mean(-1) + (w * a_s * dresid).sum(-1) / n,
            (av * s.f).mean(-1) + (w * a_s * f_s * dresid).sum(-1) / n,
        ],
        axis=1,
    )
    d_mu = np.stack(
        [
            vp.mean(-1) + (w * dresid).sum(-1) / n,
            (vp * s.f).mean(-1) + (w * f_s * dresid).sum(-1) / n,
        ],
        axis=1,
    )
    grad = d_cov / sigma[:, None] - (cov * (1 - 2 * mu) / (2 * sigma**3))[:, None] * d_mu
    e = vp.copy()
    e[s.pair_u, s.inp_u] = ((post - p) ** 2 + vc)[s.pair_u, s.inp_u]
    # ρ̂ = cov / σ(μ̂): a residual moves both cov and μ̂, so its influence on ρ̂ is
    # (ā - ρ̂ (1 - 2μ̂) / (2σ)) / σ, not ā / σ. Dropping the μ̂ part over-stated the variance of
    # strong, rare concepts (3-rater coverage 0.98 instead of 0.965, docs/statistics.md 2c).
    shift = (cov * (1 - 2 * mu) / (2 * sigma * sigma))[:, None]
    u = s.a - shift
    resid_u = (w * (a_s - shift) * resid).sum(-1) / n
    second = (u * u * e / (n_pop * n_pop * s.q)).sum(-1)
    var_cov = np.maximum(second - resid_u**2, 0.0) / n
    return cov / sigma, var_cov / (sigma * sigma), grad


def _theta_covariance(s: _Study, theta: FloatArray, penalty: float) -> FloatArray:
    """Inverse observed information of θ per pair (K, 2, 2), eigenvalues floored at the ridge."""
    k = s.a.shape[0]
    f_u = s.f[s.pair_u, s.inp_u]
    lp_u = s.base[s.pair_u, s.inp_u] + theta[s.pair_u, 0] + theta[s.pair_u, 1] * f_u
    p_u = special.expit(lp_u)
    c_u = special.expit(lp_u + s.evidence)
    # d²/dη² log(p L1 + (1-p) L0) = ĉ(1-ĉ) - p(1-p): the missing-information identity.
    info = p_u * (1 - p_u) - c_u * (1 - c_u)
    h = np.zeros((k, 2, 2))
    h[:, 0, 0] = np.bincount(s.pair_u, info, k) + penalty
    h[:, 0, 1] = h[:, 1, 0] = np.bincount(s.pair_u, info * f_u, k)
    h[:, 1, 1] = np.bincount(s.pair_u, info * f_u * f_u, k) + penalty
    vals, vecs = np.linalg.eigh(h)
    vals = np.maximum(vals, penalty)
    out: FloatArray = np.einsum("kij,kj,klj->kil", vecs, 1.0 / vals, vecs)
    return out


def _with_fit_variance(
    s: _Study, theta: FloatArray, cov_theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """ρ̂ and its total variance: design + gᵀ Σθ g with g = ∂ρ̂/∂θ."""
    rho, var, grad = _greg(s, theta)
    return rho, var + np.einsum("ki,kij,kj->k", grad, cov_theta, grad)


def mixture_quantile(
    weight: FloatArray,
    m0: FloatArray,
    s0: FloatArray,
    m1: FloatArray,
    s1: FloatArray,
    prob: float,
) -> FloatArray:
    """The prob-quantile of weight·N(m0, s0²) + (1 - weight)·N(m1, s1²), elementwise."""
    lo = np.minimum(m0 - 9 * s0, m1 - 9 * s1)
    hi = np.maximum(m0 + 9 * s0, m1 + 9 * s1)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        cdf = weight * special.ndtr((mid - m0) / s0) + (1 - weight) * special.ndtr((mid - m1) / s1)
        below = cdf < prob
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    out: FloatArray = (lo + hi) / 2
    return out


def ma_act_correlations(
    activations_z: npt.ArrayLike,
    feature: npt.ArrayLike,
    prior: npt.ArrayLike,
    proposal: npt.ArrayLike,
    positions: npt.ArrayLike,
    counts: npt.ArrayLike,
    drawn_pair: npt.ArrayLike,
    drawn_position: npt.ArrayLike,
    evidence: npt.ArrayLike,
    theta: npt.ArrayLike,
    *,
    penalty: float,
    level: float = 0.95,
    null_weight: float = NULL_PRIOR_WEIGHT,
    slab_variance: float | None = None,
) -> MaActEstimates:
    """ρ̂ and its interval per pair, see the module docstring.

    activations_z, feature, prior, proposal: (K, N) over the probing set (ā z-scored over D, the
    working model's covariate, the cheap model's probability in (0, 1), the sampling proposal q);
    positions, counts: (K, n) draws (indices into N) and multiplicities (0 pads); drawn_pair,
    drawn_position, evidence: (U,) each distinct drawn input once, with the log-likelihood ratio
    of its votes (0 for an input without ratings); theta: (K, 2) fitted (θ0, θ1); penalty: the
    ridge λ the fit used (the prior θ ~ N(0, 1/λ)).
    """
    a = np.atleast_2d(np.asarray(activations_z, dtype=np.float64))
    f = np.atleast_2d(np.asarray(feature, dtype=np.float64))
    pi = np.atleast_2d(np.asarray(prior, dtype=np.float64))
    q = np.atleast_2d(np.asarray(proposal, dtype=np.float64))
    th = np.atleast_2d(np.asarray(theta, dtype=np.float64))
    pos = np.atleast_2d(np.asarray(positions, dtype=np.int64))
    cnt = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    if not a.shape == f.shape == pi.shape == q.shape:
        raise ValueError("full-set arrays must share one shape (K, N)")
    if pos.shape != cnt.shape or pos.shape[0] != a.shape[0] or th.shape != (a.shape[0], 2):
        raise ValueError("draws must be (K, n) and theta (K, 2) with the same K")
    if np.any(q <= 0):
        raise ValueError("the proposal must be > 0 everywhere (mix with uniform)")
    if np.any((pi <= 0) | (pi >= 1)):
        raise ValueError("prior probabilities must lie in (0, 1)")
    if not 0.0 < level < 1.0 or penalty <= 0 or not 0.0 < null_weight < 1.0:
        raise ValueError("level and null_weight must lie in (0, 1) and penalty be > 0")
    s = _Study(
        a=a,
        f=f,
        base=special.logit(pi),
        q=q,
        pos=pos,
        cnt=cnt,
        pair_u=np.asarray(drawn_pair, dtype=np.int64),
        inp_u=np.asarray(drawn_position, dtype=np.int64),
        evidence=np.asarray(evidence, dtype=np.float64),
    )
    cov_full = _theta_covariance(s, th, penalty)
    rho1, var1 = _with_fit_variance(s, th, cov_full)
    # θ1 = 0 with θ0 at its mean given θ1 = 0 under the same Gaussian posterior.
    ratio = cov_full[:, 0, 1] / cov_full[:, 1, 1]
    th0 = np.stack([th[:, 0] - ratio * th[:, 1], np.zeros(th.shape[0])], axis=1)
    cov_null = np.zeros_like(cov_full)
    cov_null[:, 0, 0] = cov_full[:, 0, 0] - ratio * cov_full[:, 0, 1]
    rho0, var0 = _with_fit_variance(s, th0, cov_null)
    # Savage-Dickey: BF(θ1 = 0) = posterior density at 0 / prior density at 0.
    post_var = cov_full[:, 1, 1]
    slab = 1.0 / penalty if slab_variance is None else slab_variance
    if slab_variance is not None:
        # The posterior under the slab N(0, slab) instead of the fit's ridge prior N(0, 1/λ).
        lik_prec = np.maximum(1.0 / post_var - penalty, 1e-9)
        lik_mean = th[:, 1] / post_var / lik_prec
        post_var = 1.0 / (lik_prec + 1.0 / slab)
        m1 = post_var * lik_prec * lik_mean
    else:
        m1 = th[:, 1]
    log_bf = 0.5 * (np.log(slab) - np.log(post_var)) - 0.5 * m1**2 / post_var
    weight = special.expit(log_bf + special.logit(null_weight))
    s0 = np.sqrt(np.maximum(var0, 1e-12))
    s1 = np.sqrt(np.maximum(var1, 1e-12))
    tail = (1 - level) / 2
    low = mixture_quantile(weight, rho0, s0, rho1, s1, tail)
    high = mixture_quantile(weight, rho0, s0, rho1, s1, 1 - tail)
    mid = mixture_quantile(weight, rho0, s0, rho1, s1, 0.5)
    # The interval also holds the full model's own: with one weak vote per input the evidence
    # can favour θ1 = 0 for a pair whose activation does add to the cheap model, and the
    # mixture's interval then misses above (coverage 0.89 -> 0.94 with 1 rater, docs 2c).
    z = special.ndtri(1 - tail)
    low = np.minimum(low, rho1 - z * s1)
    high = np.maximum(high, rho1 + z * s1)
    own = np.clip(mid, -1.0, 1.0)
    return MaActEstimates(
        rho=own,
        low=np.clip(low, -1.0, 1.0),
        high=np.clip(high, -1.0, 1.0),
        weight_null=weight,
        rho_full=rho1,
        se_full=s1,
        rho_null=rho0,
        se_null=s0,
        # The covariate of pool_ma_act's line (0 for a constant prior).
        model_rho=pearson_rows(a, pi),
        rho_own=own,
        level=level,
    )


def pool_ma_act(
    est: MaActEstimates, groups: Sequence[Collection[str]] | None = None
) -> MaActEstimates:
    """est with rho pooled across its pairs (pooling.pooled_points on the full model's ρ̂1 and
    se1, covariate model_rho, per group); low, high and rho_own unchanged."""
    rho = pooled_points(
        est.rho_own, est.rho_full, est.se_full, est.low, est.high, est.model_rho, groups
    )
    return replace(est, rho=rho)  # inside [low, high], or rho_own: both already in [-1, 1]


@dataclass(frozen=True, slots=True, eq=False)
class MaActFit:
    """theta: (K, 2) working-model coefficients per pair; evidence: (U,) log-likelihood ratio of
    each distinct input's votes under the fitted worker rates; posterior: (U,) P(c=1 | votes) under
    the working model; sensitivity, specificity: (n_workers,) fitted rates."""

    theta: FloatArray
    evidence: FloatArray
    posterior: FloatArray
    sensitivity: FloatArray
    specificity: FloatArray


def crowd_youden(
    sensitivity: npt.ArrayLike, specificity: npt.ArrayLike, ratings: npt.ArrayLike
) -> tuple[float, float, float]:
    """(sensitivity, specificity, sensitivity + specificity - 1) of the crowd: each worker's
    fitted rates weighted by how many ratings they gave (the rates behind an average vote)."""
    n = np.asarray(ratings, dtype=np.float64)
    if n.sum() <= 0:
        return float("nan"), float("nan"), float("nan")
    sens = float(np.average(np.asarray(sensitivity, dtype=np.float64), weights=n))
    spec = float(np.average(np.asarray(specificity, dtype=np.float64), weights=n))
    return sens, spec, sens + spec - 1.0


def fit_ma_act(
    items: npt.ArrayLike,
    workers: npt.ArrayLike,
    values: npt.ArrayLike,
    prior: npt.ArrayLike,
    feature: npt.ArrayLike,
    pairs: npt.ArrayLike,
    n_pairs: int,
    *,
    n_workers: int | None = None,
    penalty: float = ACTIVATION_PENALTY,
    eta_init: float = 0.2,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> MaActFit:
    """The study's two-coin EM with the working model as each item's prior.

    items, workers, values: (R,) long-format ratings of U distinct (pair, input) items;
    prior, feature, pairs: (U,) cheap-model probability, covariate and pair code (< n_pairs).
    """
    pri = np.asarray(prior, dtype=np.float64)
    feat = np.asarray(feature, dtype=np.float64)
    pair = np.asarray(pairs, dtype=np.int64)
    fit = dawid_skene_two_coin(
        items,
        workers,
        values,
        pri,
        covariates=np.stack([np.ones_like(feat), feat], axis=1),
        groups=pair,
        covariate_penalty=penalty,
        n_items=pri.size,
        n_workers=n_workers,
        eta_init=eta_init,
        max_iter=max_iter,
        tol=tol,
        # How far workers differ is chosen by marginal likelihood (two_coin.crowd_strength):
        # with a fixed s = 4 and one rating per item, chance differences between workers made
        # unrelated explanations' slopes "significant" too often (docs/statistics.md 2c).
        strength=None,
    )
    it = np.asarray(items, dtype=np.int64)
    l1, l0 = vote_evidence(
        np.asarray(workers, dtype=np.int64),
        np.asarray(values, dtype=np.float64),
        fit.sensitivity,
        fit.specificity,
    )
    theta = np.zeros((n_pairs, 2))
    assert fit.coefficients is not None
    theta[: fit.coefficients.shape[0]] = fit.coefficients
    return MaActFit(
        theta=theta,
        evidence=np.bincount(it, weights=l1 - l0, minlength=pri.size).astype(np.float64),
        posterior=fit.posterior,
        sensitivity=fit.sensitivity,
        specificity=fit.specificity,
    )
