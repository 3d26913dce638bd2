"""Turning binary ratings into concept labels: mean, majority and BRAgg (Bayes rating aggregation).

Ratings arrive as counts per input: positives α (raters who said "present") and totals m. Every
function broadcasts over any shape, e.g. (n_pairs, n_inputs); the prior broadcasts against them.
BRAgg (METHOD.md): P(R|c=1) = (1-η)^α η^(m-α), P(R|c=0) = η^α (1-η)^(m-α), and the label is the
posterior P(c=1 | R) under a prior π (uniform β or a per-input model probability).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special, stats

FloatArray = npt.NDArray[np.float64]
LabelFunction = Callable[[FloatArray, FloatArray], FloatArray]

DEFAULT_ETA = 0.23
"""Rater error rate estimated on MTurk (METHOD.md)."""
DEFAULT_BETA = 0.05
"""Uniform prior of BRAgg (METHOD.md: values 0.02-0.2 work)."""
MODEL_PRIOR_CLIP = (0.001, 0.999)
"""The model probability is clipped to this range before it serves as a prior (METHOD.md)."""
BETA_ERROR_PARAMS = (0.75, 2.5)
"""η ~ Beta(0.75, 2.5) per (input, concept) in the Beta error model (METHOD.md, appendix B.4)."""


@dataclass(frozen=True, slots=True, eq=False)
class EtaEstimate:
    """EM fit of a shared rater error rate η (and optionally a uniform prior β).

    posterior: labels under the fitted η, shape of the ratings; prior: the fitted β, or None when
    the prior was held fixed; log_likelihood_history: marginal log-likelihood per iteration
    (non-decreasing up to round-off).
    """

    eta: float
    prior: float | None
    posterior: FloatArray
    n_iter: int
    converged: bool
    log_likelihood_history: tuple[float, ...]


@dataclass(frozen=True, slots=True, eq=False)
class LabelMoments:
    """E[ĉ | c] and E[ĉ² | c] of an aggregator's label for each input, for c = 0 and c = 1.

    Used to de-attenuate correlations (noise_corrected_correlation) and to compute the noise floor.
    """

    mean_absent: FloatArray
    mean_present: FloatArray
    square_absent: FloatArray
    square_present: FloatArray


def _counts(positives: npt.ArrayLike, totals: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    alpha = np.asarray(positives, dtype=np.float64)
    m = np.asarray(totals, dtype=np.float64)
    if np.any(alpha < 0) or np.any(alpha > m):
        raise ValueError("need 0 <= positives <= totals for every input")
    return alpha, m


def mean_vote(positives: npt.ArrayLike, totals: npt.ArrayLike) -> FloatArray:
    """Share of "present" votes α/m, same shape as the inputs. Every input needs m >= 1."""
    alpha, m = _counts(positives, totals)
    if np.any(m < 1):
        raise ValueError("mean_vote needs at least one rating per input")
    out: FloatArray = alpha / m
    return out


def majority_vote(positives: npt.ArrayLike, totals: npt.ArrayLike, tie: float = 0.0) -> FloatArray:
    """1.0 where α > m/2 (METHOD.md), 0.0 where α < m/2, and `tie` where α = m/2."""
    alpha, m = _counts(positives, totals)
    if np.any(m < 1):
        raise ValueError("majority_vote needs at least one rating per input")
    out: FloatArray = np.where(2 * alpha > m, 1.0, np.where(2 * alpha < m, 0.0, tie))
    return out


def _logit(p: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(p) - np.log1p(-p)
    return out


def _posterior_from_evidence(prior: FloatArray, evidence: FloatArray) -> FloatArray:
    """P(c=1 | R) from the log likelihood ratio; a prior of exactly 0 or 1 is never overruled."""
    with np.errstate(invalid="ignore"):
        post = special.expit(_logit(prior) + evidence)
    out: FloatArray = np.where(prior <= 0.0, 0.0, np.where(prior >= 1.0, 1.0, post))
    return out


def _check_prior(prior: npt.ArrayLike) -> FloatArray:
    p = np.asarray(prior, dtype=np.float64)
    if np.any(p < 0) or np.any(p > 1) or np.any(np.isnan(p)):
        raise ValueError("prior must lie in [0, 1]")
    return p


def bragg_posterior(
    positives: npt.ArrayLike,
    totals: npt.ArrayLike,
    eta: npt.ArrayLike = DEFAULT_ETA,
    prior: npt.ArrayLike = DEFAULT_BETA,
) -> FloatArray:
    """BRAgg label P(c=1 | α of m votes) with rater error η in [0, 1) and prior π in [0, 1].

    positives, totals: (...); eta: scalar or per-input (...); prior: scalar β or per-input (...).
    Returns (...) in [0, 1]. With η = 0 a unanimous vote decides (ties keep the prior).
    """
    alpha, m = _counts(positives, totals)
    p = _check_prior(prior)
    e = np.asarray(eta, dtype=np.float64)
    if np.any(e < 0) or np.any(e >= 1) or np.any(np.isnan(e)):
        raise ValueError("eta must lie in [0, 1)")
    d = 2.0 * alpha - m
    # log P(R|1)/P(R|0) = (2α - m) log((1-η)/η): one expression for every input.
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = np.where(e > 0, np.log1p(-e) - np.log(e), np.inf)
        evidence = np.where(d == 0, 0.0, d * lam)
    return _posterior_from_evidence(p, evidence)


def bragg_beta_posterior(
    positives: npt.ArrayLike,
    totals: npt.ArrayLike,
    prior: npt.ArrayLike = DEFAULT_BETA,
    error_params: tuple[float, float] = BETA_ERROR_PARAMS,
    n_bins: int | None = None,
) -> FloatArray:
    """BRAgg with the Beta error model: η ~ Beta(a, b) per input, integrated out.

    n_bins=None integrates exactly (Beta functions); n_bins=100 reproduces the paper's binned
    marginalisation (bin masses from the Beta CDF at bin midpoints). Shapes as bragg_posterior.
    """
    alpha, m = _counts(positives, totals)
    p = _check_prior(prior)
    a, b = error_params
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be > 0")
    if n_bins is None:
        # ∫ (1-η)^α η^(m-α) Beta(η; a, b) dη = B(a + m - α, b + α) / B(a, b), and symmetrically.
        evidence = special.betaln(a + m - alpha, b + alpha) - special.betaln(
            a + alpha, b + m - alpha
        )
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        mass = np.diff(stats.beta.cdf(edges, a, b))
        mid = (edges[:-1] + edges[1:]) / 2.0
        x = alpha[..., None]
        mm = m[..., None]
        like1 = (mass * (1 - mid) ** x * mid ** (mm - x)).sum(-1)
        like0 = (mass * mid**x * (1 - mid) ** (mm - x)).sum(-1)
        evidence = np.log(like1) - np.log(like0)
    return _posterior_from_evidence(p, evidence)


def model_prior(concept_probs: npt.ArrayLike) -> FloatArray:
    """Cheap-model probabilities clipped to MODEL_PRIOR_CLIP: BRAgg's per-input prior."""
    lo, hi = MODEL_PRIOR_CLIP
    out: FloatArray = np.clip(np.asarray(concept_probs, dtype=np.float64), lo, hi)
    return out


def _log_likelihood(alpha: FloatArray, m: FloatArray, eta: float, prior: FloatArray) -> float:
    with np.errstate(divide="ignore"):
        l1 = alpha * np.log1p(-eta) + (m - alpha) * np.log(eta)
        l0 = alpha * np.log(eta) + (m - alpha) * np.log1p(-eta)
        total = np.logaddexp(np.log(prior) + l1, np.log1p(-prior) + l0)
    return float(np.sum(total))


def estimate_eta_em(
    positives: npt.ArrayLike,
    totals: npt.ArrayLike,
    prior: npt.ArrayLike = DEFAULT_BETA,
    *,
    eta_init: float = 0.2,
    estimate_prior: bool = False,
    max_iter: int = 200,
    tol: float = 1e-8,
) -> EtaEstimate:
    """Fit one error rate η shared by all raters from the ratings alone (EM).

    positives, totals: (...), all inputs of a study (pool pairs for a stable estimate); prior:
    scalar or per-input. estimate_prior=True also fits a scalar prior β (only with a scalar prior).
    η is kept in [1e-4, 0.5]: above 0.5 the labels would swap meaning.
    """
    alpha, m = _counts(positives, totals)
    alpha, m = np.broadcast_arrays(alpha, m)
    p = np.broadcast_to(_check_prior(prior), alpha.shape).astype(np.float64)
    if estimate_prior and np.ndim(prior) != 0:
        raise ValueError("estimate_prior needs a scalar prior")
    p = np.clip(p, 1e-6, 1 - 1e-6)  # a certain prior would make the likelihood degenerate
    total_votes = float(m.sum())
    if total_votes == 0:
        raise ValueError("no ratings to estimate eta from")
    eta = float(np.clip(eta_init, 1e-4, 0.5))
    history: list[float] = [_log_likelihood(alpha, m, eta, p)]
    converged = False
    n_iter = 0
    for _ in range(max_iter):
        n_iter += 1
        post = bragg_posterior(alpha, m, eta, p)
        wrong = post * (m - alpha) + (1.0 - post) * alpha
        eta = float(np.clip(wrong.sum() / total_votes, 1e-4, 0.5))
        if estimate_prior:
            p = np.full_like(p, np.clip(post.mean(), 1e-6, 1 - 1e-6))
        history.append(_log_likelihood(alpha, m, eta, p))
        if abs(history[-1] - history[-2]) <= tol * max(1.0, abs(history[-1])):
            converged = True
            break
    return EtaEstimate(
        eta=eta,
        prior=float(p.flat[0]) if estimate_prior else None,
        posterior=bragg_posterior(alpha, m, eta, p),
        n_iter=n_iter,
        converged=converged,
        log_likelihood_history=tuple(history),
    )


def _binom_pmf(k: int, m: FloatArray | float, p: FloatArray) -> FloatArray:
    # scipy.stats.binom.pmf is general but slow on millions of entries; m is a small integer.
    with np.errstate(invalid="ignore"):
        out: FloatArray = special.comb(m, k) * p**k * (1.0 - p) ** np.maximum(m - k, 0.0)
    return out


def label_moments(
    label: LabelFunction,
    totals: npt.ArrayLike,
    vote_rate_if_present: npt.ArrayLike,
    vote_rate_if_absent: npt.ArrayLike,
) -> LabelMoments:
    """E[ĉ | c] and E[ĉ² | c] when each of m raters votes "present" i.i.d. with the given rate.

    label(positives, totals) -> labels must broadcast (e.g. lambda a, m: bragg_posterior(a, m,
    0.23, prior)). totals: (...) ints; rates: scalars or (...), e.g. 1-η and η. Returns (...).
    """
    m = np.asarray(totals, dtype=np.float64)
    r1 = np.asarray(vote_rate_if_present, dtype=np.float64)
    r0 = np.asarray(vote_rate_if_absent, dtype=np.float64)
    # With one rater count for every input (the usual case) the binomial weights are scalars.
    m_pmf: FloatArray | float = float(m.flat[0]) if m.size and np.all(m == m.flat[0]) else m
    mean0, mean1, sq0, sq1 = (np.zeros(m.shape) for _ in range(4))
    for k in range(int(m.max(initial=0)) + 1):
        valid = k <= m
        value = label(np.where(valid, float(k), 0.0), m)
        pk1 = np.where(valid, _binom_pmf(k, m_pmf, r1), 0.0)
        pk0 = np.where(valid, _binom_pmf(k, m_pmf, r0), 0.0)
        mean1 += pk1 * value
        mean0 += pk0 * value
        sq1 += pk1 * value * value
        sq0 += pk0 * value * value
    return LabelMoments(
        mean_absent=mean0, mean_present=mean1, square_absent=sq0, square_present=sq1
    )
