"""Expected RCE by design, measured on a pilot study's own ratings (for planning).

A pilot rates n0 drawn inputs per pair with M raters each. Its draws are i.i.d. from q, so any
n of them are a valid sample of size n, and any m of an input's M ratings are a valid m-rater
rating. Each design (n, m) is scored against the full pilot's estimate; the error of a subsample
against a sample it is part of is smaller than against the truth by sqrt(1 - n/n0), which is
divided out. The pilot cannot see the noise floor its own M-rater labels share with every
subsample: that part needs gold labels or the simulator.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from turkops.stats.correlation import (
    ConceptVariance,
    noise_corrected_correlation,
    weighted_correlations,
)
from turkops.stats.planning import RceSurface
from turkops.stats.strategies import AGGREGATORS, AggregatorOptions, RatingCell

FloatArray = npt.NDArray[np.float64]


def _estimate(
    aggregator: str,
    a: FloatArray,
    w: FloatArray,
    probs: FloatArray,
    votes: npt.NDArray[np.int8],
    workers: npt.NDArray[np.int32],
    n_workers: int,
    options: AggregatorOptions,
) -> FloatArray:
    k, n, m = votes.shape
    cell = RatingCell(
        positives=votes.sum(-1).astype(np.float64),
        n_raters=m,
        concept_probs=probs,
        activations_z=a,
        unique_of_draw=np.arange(k * n),
        votes=votes.reshape(k * n, m),
        workers=workers.reshape(k * n, m),
        n_workers=n_workers,
    )
    labels = AGGREGATORS[aggregator](cell, options)
    if labels.if_absent is not None and labels.if_present is not None:
        return noise_corrected_correlation(
            a, labels.values, labels.if_absent, labels.if_present, w
        ).rho
    variance: ConceptVariance = "binary" if labels.binary_variance else "weighted"
    return weighted_correlations(a, labels.values, w, concept_variance=variance).rho


def rce_surface_from_pilot(
    activations_z: npt.ArrayLike,
    weights: npt.ArrayLike,
    concept_probs: npt.ArrayLike,
    votes: npt.ArrayLike,
    workers: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    inputs: tuple[int, ...],
    raters: tuple[int, ...],
    aggregator: str = "bragg-model",
    n_repeats: int = 20,
    options: AggregatorOptions | None = None,
) -> tuple[RceSurface, FloatArray]:
    """Score designs (n inputs, m raters) by subsampling a pilot of K pairs.

    activations_z, weights, concept_probs: (K, n0) per drawn input (an input drawn twice appears
    twice); votes: (K, n0, M) 0/1 ratings, every input rated M times; workers: (K, n0, M) worker
    codes. inputs: subsample sizes < n0; raters: counts <= M. Returns the surface and the full
    pilot's estimates (K,) that serve as the reference.
    """
    a = np.asarray(activations_z, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    probs = np.asarray(concept_probs, dtype=np.float64)
    v = np.asarray(votes, dtype=np.int8)
    wk = np.asarray(workers, dtype=np.int32)
    if a.ndim != 2 or not a.shape == w.shape == probs.shape == v.shape[:2] == wk.shape[:2]:
        raise ValueError("pilot arrays must be (K, n0) and votes/workers (K, n0, M)")
    if v.shape != wk.shape:
        raise ValueError("votes and workers must have the same shape")
    k, n0, m_all = v.shape
    if not inputs or max(inputs) >= n0 or min(inputs) < 2:
        raise ValueError(f"inputs must lie in [2, {n0 - 1}] (a subsample of the pilot)")
    if not raters or max(raters) > m_all or min(raters) < 1:
        raise ValueError(f"raters must lie in [1, {m_all}]")
    if aggregator not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {aggregator!r}")
    opts = options or AggregatorOptions()
    n_workers = int(wk.max(initial=0)) + 1
    reference = _estimate(aggregator, a, w, probs, v, wk, n_workers, opts)
    denom = float(np.abs(reference).sum())
    if denom == 0:
        raise ValueError("every pilot estimate is 0; the RCE is undefined")
    rce = np.zeros((len(inputs), len(raters)))
    rows = np.arange(k)[:, None]
    for _ in range(n_repeats):
        order = np.argsort(rng.random((k, n0)), axis=1)
        slots = np.argsort(rng.random((k, n0, m_all)), axis=2)
        for d, n in enumerate(inputs):
            pick = order[:, :n]
            # A subsample of the pilot errs less against the pilot than against the truth.
            overlap = np.sqrt(1.0 - n / n0)
            for r, m in enumerate(raters):
                sl = slots[rows, pick, :m]
                sub_v = np.take_along_axis(v[rows, pick], sl, axis=2)
                sub_w = np.take_along_axis(wk[rows, pick], sl, axis=2)
                est = _estimate(
                    aggregator,
                    a[rows, pick],
                    w[rows, pick],
                    probs[rows, pick],
                    sub_v,
                    sub_w,
                    n_workers,
                    opts,
                )
                err = np.abs(est - reference).sum() / denom
                rce[d, r] += err / overlap
    rce /= n_repeats
    surface = RceSurface(
        inputs=np.asarray(inputs, dtype=np.float64),
        raters=tuple(raters),
        rce=rce,
        floor=np.full(len(raters), np.nan),
        source="pilot",
    )
    return surface, reference
