"""Model-assisted ρ̂ with an interval that sees the inputs nobody drew.

Why: at 180 draws a rare concept's error is dominated by inputs that are rarely drawn (a positive
the cheap model missed has a small q and a large weight). A bootstrap over draws never sees them,
so even with exact labels its intervals under-cover (docs/statistics.md, "Intervals"). The cheap
model's probability π is known on the whole probing set D, so it can stand in for the unseen part:

- difference estimator (model-assisted survey sampling): with ā z-scored over D (mean 0),
  cov = (1/N) Σ_D ā π + (1/|S|) Σ_S w ā (c̃ - π),  μ̂ = (1/N) Σ_D π + (1/|S|) Σ_S w (c̃ - π),
  ρ̂ = cov / sqrt(μ̂ (1 - μ̂)); unbiased in cov and μ̂ whatever π is, only its variance needs a good π;
- c̃ = (ĉ - f0) / (f1 - f0): the aggregated label de-attenuated with its expectations given c
  (aggregation.label_moments), so rating noise adds variance but no bias (exact labels: c̃ = c);
- variance: Var(cov̂) = (1/|S|) [Σ_D p²/q ā² e_i - (cov - mean_D ā π)²], with e_i = (c̃_i - π_i)²
  where input i was drawn and its expectation under c_i ~ Bernoulli(π_i) and the rating noise where
  it was not; se(ρ̂) = sd(cov̂) / σ̂; the interval is ρ̂ ± z se, clipped to [-1, 1].

The unseen part of the variance trusts the model's calibration; the seen part does not.
All arrays are batched over K pairs: full-set arrays (K, N), draw arrays (K, n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from turkops.stats.aggregation import LabelMoments

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class ModelAssistedEstimates:
    """rho, low, high, se, mu_c (the estimated base rate), cov (the estimated covariance of ā
    and c): (K,); level of the intervals."""

    rho: FloatArray
    low: FloatArray
    high: FloatArray
    se: FloatArray
    mu_c: FloatArray
    cov: FloatArray
    level: float


def corrected_labels(
    labels: FloatArray, moments: LabelMoments
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(c̃, E[c̃² | c=0], E[c̃² | c=1]) from labels ĉ and their moments (same shapes).

    Inputs whose label cannot tell c = 0 from c = 1 (f1 - f0 <= 1e-6) keep ĉ and moments c.
    """
    f0, f1 = moments.mean_absent, moments.mean_present
    spread = f1 - f0
    ok = spread > 1e-6
    s = np.where(ok, spread, 1.0)
    c = np.where(ok, (labels - f0) / s, labels)
    sq0 = np.where(ok, (moments.square_absent - 2 * f0 * f0 + f0 * f0) / s**2, 0.0)
    sq1 = np.where(ok, (moments.square_present - 2 * f0 * f1 + f0 * f0) / s**2, 1.0)
    return c, np.maximum(sq0, 0.0), np.maximum(sq1, 0.0)


def model_assisted_correlations(
    activations_z: npt.ArrayLike,
    prior: npt.ArrayLike,
    proposal: npt.ArrayLike,
    positions: npt.ArrayLike,
    corrected: npt.ArrayLike,
    square_absent: npt.ArrayLike,
    square_present: npt.ArrayLike,
    counts: npt.ArrayLike | None = None,
    *,
    level: float = 0.95,
) -> ModelAssistedEstimates:
    """ρ̂ and its interval per pair, see the module docstring.

    activations_z, prior, proposal, square_absent, square_present: (K, N) over the probing set
    (ā z-scored over D, the model probability π, the sampling proposal q, and E[c̃² | c] for each
    input had it been rated); positions: (K, n) indices into N of the draws (an input drawn twice
    appears twice, or once with counts 2); corrected: (K, n) c̃ of the draws; counts: (K, n)
    multiplicities (None: 1; 0 pads).
    """
    a = np.atleast_2d(np.asarray(activations_z, dtype=np.float64))
    pi = np.atleast_2d(np.asarray(prior, dtype=np.float64))
    q = np.atleast_2d(np.asarray(proposal, dtype=np.float64))
    pos = np.atleast_2d(np.asarray(positions, dtype=np.int64))
    ct = np.atleast_2d(np.asarray(corrected, dtype=np.float64))
    s0 = np.atleast_2d(np.asarray(square_absent, dtype=np.float64))
    s1 = np.atleast_2d(np.asarray(square_present, dtype=np.float64))
    cnt = np.ones(pos.shape) if counts is None else np.atleast_2d(np.asarray(counts, float))
    if not a.shape == pi.shape == q.shape == s0.shape == s1.shape:
        raise ValueError("full-set arrays must share one shape (K, N)")
    if not pos.shape == ct.shape == cnt.shape or pos.shape[0] != a.shape[0]:
        raise ValueError("draw arrays must share one shape (K, n) with the same K")
    if np.any(q <= 0):
        raise ValueError("the proposal must be > 0 everywhere (mix with uniform)")
    if not 0.0 < level < 1.0:
        raise ValueError("level must lie in (0, 1)")
    k, n_pop = a.shape
    rows = np.arange(k)[:, None]
    n = cnt.sum(-1)
    nn = np.maximum(n, 1.0)
    w = 1.0 / (n_pop * q[rows, pos])
    a_s, pi_s = a[rows, pos], pi[rows, pos]
    model_cov = (a * pi).mean(-1)
    resid_cov = (cnt * w * a_s * (ct - pi_s)).sum(-1) / nn
    cov = model_cov + resid_cov
    mu = pi.mean(-1) + (cnt * w * (ct - pi_s)).sum(-1) / nn
    mu_b = np.clip(mu, 1e-9, 1 - 1e-9)
    sigma = np.sqrt(mu_b * (1 - mu_b))
    # e_i for every input: expectation off-sample, observation where drawn (once per input).
    expected = pi * s1 + (1 - pi) * s0 - pi * pi
    e = expected.copy()
    seen = cnt > 0
    e[rows.repeat(pos.shape[1], 1)[seen], pos[seen]] = ((ct - pi_s) ** 2)[seen]
    second = (a * a * e / (n_pop * n_pop * q)).sum(-1)
    var_cov = np.maximum(second - resid_cov**2, 0.0) / nn
    rho = np.clip(cov / sigma, -1.0, 1.0)
    se = np.sqrt(var_cov) / sigma
    half = special.ndtri(0.5 + level / 2) * se
    return ModelAssistedEstimates(
        rho=rho,
        low=np.clip(rho - half, -1.0, 1.0),
        high=np.clip(rho + half, -1.0, 1.0),
        se=se,
        mu_c=mu,
        cov=cov,
        level=level,
    )
