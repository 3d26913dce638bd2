"""Which inputs raters see: uniform, MG-IS and AG-IS proposals, i.i.d. draws, importance weights.

Every proposal works on one pair, shape (N,), or on a batch of pairs, shape (K, N); the last axis
is always the probing set D. Probabilities along that axis sum to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turkops.stats.names import DEFAULT_EPS, DEFAULT_GAMMA

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DEFAULT_ALPHA = 2.0
"""Exponent of AG-IS, q^act ∝ |ā|^α (METHOD.md: α = 2 best)."""


def zscore(values: npt.ArrayLike) -> FloatArray:
    """Standardise along the last axis (population std, ddof=0); a constant row becomes zeros.

    values: (..., N). Returns (..., N) with mean 0 and std 1 per row.
    """
    x = np.asarray(values, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    # A constant row carries no information; zeros keep the proposals finite (they fall back
    # to uniform) instead of spreading NaN through a whole batch.
    safe = np.where(std > 0, std, 1.0)
    return np.where(std > 0, (x - mean) / safe, 0.0)


def uniform_proposal(n_population: int) -> FloatArray:
    """p(x_i) = 1/N for every input. Returns (N,)."""
    if n_population < 1:
        raise ValueError("n_population must be >= 1")
    return np.full(n_population, 1.0 / n_population)


def mix_with_uniform(scores: npt.ArrayLike, gamma: float = DEFAULT_GAMMA) -> FloatArray:
    """q = (1-γ) scores/Σscores + γ/N along the last axis.

    scores: (..., N) >= 0, need not sum to 1; a row summing to 0 becomes uniform.
    """
    s = np.asarray(scores, dtype=np.float64)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError("gamma must lie in [0, 1]")
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise ValueError("proposal scores must be finite and >= 0")
    n = s.shape[-1]
    total = s.sum(axis=-1, keepdims=True)
    shaped = np.where(total > 0, s / np.where(total > 0, total, 1.0), 1.0 / n)
    q: FloatArray = (1.0 - gamma) * shaped + gamma / n
    return q


def mg_is_proposal(
    activations: npt.ArrayLike,
    concept_probs: npt.ArrayLike,
    gamma: float = DEFAULT_GAMMA,
    eps: float = DEFAULT_EPS,
) -> FloatArray:
    """Model-guided proposal q ∝ (1-γ)|ā·c̄^model + ε| + γ p.

    activations: (..., N) raw activations of the neuron over D.
    concept_probs: (..., N) cheap-model (SigLIP) concept probabilities in [0, 1].
    Both are z-scored over D here. Returns q: (..., N), rows sum to 1.
    """
    a = np.asarray(activations, dtype=np.float64)
    c = np.asarray(concept_probs, dtype=np.float64)
    if a.shape != c.shape:
        raise ValueError(f"activations {a.shape} and concept_probs {c.shape} differ in shape")
    # |ā c̄| is the optimal proposal for E_p[ā c̄] (q* ∝ |h| p) with the model standing in for c.
    return mix_with_uniform(np.abs(zscore(a) * zscore(c) + eps), gamma)


def ag_is_proposal(
    activations: npt.ArrayLike, alpha: float = DEFAULT_ALPHA, gamma: float = DEFAULT_GAMMA
) -> FloatArray:
    """Activation-guided proposal q ∝ (1-γ)|ā|^α + γ p, for when no cheap model is available.

    activations: (..., N). Returns q: (..., N), rows sum to 1.
    """
    a = zscore(activations)
    return mix_with_uniform(np.abs(a) ** alpha, gamma)


def importance_weights(q_at_indices: npt.ArrayLike, n_population: int) -> FloatArray:
    """w_i = p_i / q_i = 1 / (N q_i) for drawn inputs. q_at_indices: (...,) > 0. Returns (...,)."""
    q = np.asarray(q_at_indices, dtype=np.float64)
    if np.any(q <= 0):
        raise ValueError("a drawn input must have q > 0")
    w: FloatArray = 1.0 / (n_population * q)
    return w


@dataclass(frozen=True, slots=True, eq=False)
class DrawnSample:
    """The inputs of one pair to show raters: each drawn input once, with its multiplicity.

    indices: (n_unique,) sorted positions in D; counts: (n_unique,) >= 1, summing to n_draws;
    q_at_indices: (n_unique,) proposal probability of each shown input.
    """

    indices: IntArray
    counts: IntArray
    q_at_indices: FloatArray
    n_draws: int
    n_population: int

    @property
    def weights(self) -> FloatArray:
        """Importance weights p/q of the shown inputs, (n_unique,)."""
        return importance_weights(self.q_at_indices, self.n_population)

    @property
    def n_unique(self) -> int:
        return int(self.indices.size)


def draw_indices(q: npt.ArrayLike, n_draws: int, rng: np.random.Generator) -> IntArray:
    """i.i.d. draws (with replacement) from q, in draw order, for one pair or a batch.

    q: (N,) or (K, N), rows sum to 1. Returns (n_draws,) or (K, n_draws) positions in D.
    """
    probs = np.asarray(q, dtype=np.float64)
    if n_draws < 0:
        raise ValueError("n_draws must be >= 0")
    if np.any(probs < 0) or not np.allclose(probs.sum(axis=-1), 1.0, rtol=0, atol=1e-8):
        raise ValueError("q must be >= 0 and sum to 1 along its last axis")
    rows = probs.reshape(-1, probs.shape[-1])
    cdf = np.cumsum(rows, axis=1)
    cdf[:, -1] = 1.0  # guards the last bin against round-off in the cumulative sum
    u = rng.random((rows.shape[0], n_draws))
    idx = np.empty((rows.shape[0], n_draws), dtype=np.int64)
    for k in range(rows.shape[0]):  # one binary search per pair; the draws themselves are batched
        idx[k] = np.searchsorted(cdf[k], u[k], side="right")
    out: IntArray = idx.astype(np.int64).reshape(probs.shape[:-1] + (n_draws,))
    return out


def draw_sample(q: npt.ArrayLike, n_draws: int, rng: np.random.Generator) -> DrawnSample:
    """Draw n_draws inputs i.i.d. from q (N,) and merge repeats: an input is shown once.

    Returns the unique indices (sorted), their multiplicities and q at them.
    """
    probs = np.asarray(q, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(
            "draw_sample takes one pair's q of shape (N,); use draw_indices for (K, N)"
        )
    drawn = draw_indices(probs, n_draws, rng)
    indices, counts = np.unique(drawn, return_counts=True)
    return DrawnSample(
        indices=indices.astype(np.int64),
        counts=counts.astype(np.int64),
        q_at_indices=probs[indices],
        n_draws=n_draws,
        n_population=probs.size,
    )


def count_unique(indices: npt.ArrayLike) -> IntArray:
    """Number of distinct inputs per row of drawn indices (..., n) -> (...,): inputs to pay for."""
    idx = np.sort(np.asarray(indices), axis=-1)
    if idx.shape[-1] == 0:
        return np.zeros(idx.shape[:-1], dtype=np.int64)
    changes = np.count_nonzero(np.diff(idx, axis=-1) != 0, axis=-1)
    out: IntArray = (changes + 1).astype(np.int64)
    return out
