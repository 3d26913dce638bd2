"""The aggregators the simulator compares, behind one signature.

Each takes the ratings of one simulated cell (K pairs x n draws, m raters per input) and returns
labels (K, n), plus E[label | c=0] and E[label | c=1] when the correlation is to be
noise-corrected (de-attenuated), or a flag asking for the binary concept variance μ̂(1-μ̂).
Inputs drawn twice share one set of ratings; the EM fits see each (pair, input) once. The
pilot planner (pilot.py) scores real ratings through the same functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from turkops.stats.aggregation import (
    DEFAULT_BETA,
    DEFAULT_ETA,
    bragg_beta_posterior,
    bragg_posterior,
    estimate_eta_em,
    label_moments,
    majority_vote,
    mean_vote,
    model_prior,
)
from turkops.stats.correlation import ConceptVariance, weighted_correlations
from turkops.stats.dawid_skene import dawid_skene_one_coin, dawid_skene_with_activation
from turkops.stats.two_coin import dawid_skene_two_coin, two_coin_with_activation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class RatingCell:
    """Ratings of K pairs x n draws with m raters each.

    positives: (K, n) "present" votes per draw; n_raters: m; concept_probs: (K, n) cheap-model
    probability; activations_z: (K, n) activation z-scored over the probing set;
    unique_of_draw: (K*n,) index of each draw's distinct (pair, input) in the unique arrays;
    votes, workers: (U, m) ratings of the distinct inputs; n_workers: the study's pool size.
    """

    positives: FloatArray
    n_raters: int
    concept_probs: FloatArray
    activations_z: FloatArray
    unique_of_draw: IntArray
    votes: npt.NDArray[np.int8]
    workers: npt.NDArray[np.int32]
    n_workers: int
    # Fits shared by aggregators that differ only in how their labels are used (e.g. the
    # activation-aware posterior with either variance): one EM per cell, not one per name.
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class Labels:
    """values: (K, n) labels; if_absent / if_present: (K, n) expectations for de-attenuation;
    binary_variance: score with σ̂² = μ̂(1-μ̂) instead of the labels' weighted variance."""

    values: FloatArray
    if_absent: FloatArray | None = None
    if_present: FloatArray | None = None
    binary_variance: bool = False


@dataclass(frozen=True, slots=True)
class AggregatorOptions:
    """Fixed parameters of the paper's aggregators (η and β as in METHOD.md)."""

    eta: float = DEFAULT_ETA
    beta: float = DEFAULT_BETA
    em_max_iter: int = 60
    em_tol: float = 1e-5


Aggregator = Callable[[RatingCell, AggregatorOptions], Labels]


def scoring_labels(labels: Labels) -> tuple[FloatArray, ConceptVariance]:
    """The per-draw values ρ̂ is computed from and the concept variance to use with them.

    Noise-corrected labels become c̃ = (ĉ - f0)/(f1 - f0) with the binary variance (as
    correlation.noise_corrected_correlation); others are used as they are.
    """
    if labels.if_absent is not None and labels.if_present is not None:
        spread = labels.if_present - labels.if_absent
        ok = spread > 1e-6
        corrected: FloatArray = np.where(
            ok, (labels.values - labels.if_absent) / np.where(ok, spread, 1.0), labels.values
        )
        return corrected, "binary"
    return labels.values, "binary" if labels.binary_variance else "weighted"


def score_labels(
    labels: Labels, activations_z: FloatArray, weights: FloatArray, self_normalised: bool = False
) -> FloatArray:
    """ρ̂ per pair (K,) from one aggregator's labels, as that aggregator asks to be scored."""
    values, variance = scoring_labels(labels)
    return weighted_correlations(
        activations_z,
        values,
        weights,
        self_normalised=self_normalised,
        concept_variance=variance,
    ).rho


def _unique_positives(cell: RatingCell) -> FloatArray:
    out: FloatArray = cell.votes.sum(axis=1).astype(np.float64)
    return out


def _unique_prior(cell: RatingCell) -> FloatArray:
    flat = model_prior(cell.concept_probs).ravel()
    prior = np.empty(cell.votes.shape[0])
    prior[cell.unique_of_draw] = flat
    return prior


def _to_draws(cell: RatingCell, per_unique: FloatArray) -> FloatArray:
    out: FloatArray = per_unique[cell.unique_of_draw].reshape(cell.positives.shape)
    return out


def _majority(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(majority_vote(cell.positives, cell.n_raters))


def _mean(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(mean_vote(cell.positives, cell.n_raters))


def _bragg_uniform(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(bragg_posterior(cell.positives, cell.n_raters, opts.eta, opts.beta))


def _bragg_model(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    prior = model_prior(cell.concept_probs)
    return Labels(bragg_posterior(cell.positives, cell.n_raters, opts.eta, prior))


def _bragg_beta(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(bragg_beta_posterior(cell.positives, cell.n_raters, opts.beta))


def _em_eta(cell: RatingCell, opts: AggregatorOptions) -> float:
    fit = estimate_eta_em(
        _unique_positives(cell),
        np.full(cell.votes.shape[0], float(cell.n_raters)),
        _unique_prior(cell),
        eta_init=opts.eta,
        max_iter=opts.em_max_iter,
        tol=opts.em_tol,
    )
    return fit.eta


def _bragg_model_em(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    eta = _em_eta(cell, opts)
    prior = model_prior(cell.concept_probs)
    return Labels(bragg_posterior(cell.positives, cell.n_raters, eta, prior))


def _dawid_skene(cell: RatingCell, opts: AggregatorOptions) -> FloatArray:
    """Posterior of each distinct (pair, input)."""
    m = cell.n_raters
    n_unique = cell.votes.shape[0]
    fit = dawid_skene_one_coin(
        np.repeat(np.arange(n_unique), m),
        cell.workers.ravel().astype(np.int64),
        cell.votes.ravel(),
        _unique_prior(cell),
        n_items=n_unique,
        n_workers=cell.n_workers,
        eta_init=opts.eta,
        max_iter=opts.em_max_iter,
        tol=opts.em_tol,
    )
    return fit.posterior


def _ds_act_posterior(cell: RatingCell, opts: AggregatorOptions) -> FloatArray:
    if "ds-act" in cell.memo:
        cached: FloatArray = cell.memo["ds-act"]
        return cached
    m = cell.n_raters
    n_unique = cell.votes.shape[0]
    k, n = cell.positives.shape
    act = np.empty(n_unique)
    act[cell.unique_of_draw] = cell.activations_z.ravel()
    pair = np.empty(n_unique, dtype=np.int64)
    pair[cell.unique_of_draw] = np.repeat(np.arange(k), n)
    fit = dawid_skene_with_activation(
        np.repeat(np.arange(n_unique), m),
        cell.workers.ravel().astype(np.int64),
        cell.votes.ravel(),
        _unique_prior(cell),
        act,
        pair,
        n_workers=cell.n_workers,
        eta_init=opts.eta,
        max_iter=opts.em_max_iter,
        tol=opts.em_tol,
    )
    post = _to_draws(cell, fit.posterior)
    cell.memo["ds-act"] = post
    return post


def _ds_act(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    # The posterior is calibrated given the activation, so Var(c) = μ(1-μ) is the consistent
    # variance; the soft labels' own spread would understate it (see _ds_act_soft).
    return Labels(_ds_act_posterior(cell, opts), binary_variance=True)


def _ds_act_soft(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(_ds_act_posterior(cell, opts), binary_variance=False)


def _ds_model(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    return Labels(_to_draws(cell, _dawid_skene(cell, opts)))


def _two_coin(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    """Two-coin Dawid-Skene with the model prior, over each distinct (pair, input)."""
    m = cell.n_raters
    n_unique = cell.votes.shape[0]
    fit = dawid_skene_two_coin(
        np.repeat(np.arange(n_unique), m),
        cell.workers.ravel().astype(np.int64),
        cell.votes.ravel(),
        _unique_prior(cell),
        n_items=n_unique,
        n_workers=cell.n_workers,
        eta_init=opts.eta,
        max_iter=opts.em_max_iter,
        tol=opts.em_tol,
    )
    return Labels(_to_draws(cell, fit.posterior))


def _two_coin_act(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    """Two-coin with the model prior and the activation refinement, scored as ds-act."""
    m = cell.n_raters
    n_unique = cell.votes.shape[0]
    k, n = cell.positives.shape
    act = np.empty(n_unique)
    act[cell.unique_of_draw] = cell.activations_z.ravel()
    pair = np.empty(n_unique, dtype=np.int64)
    pair[cell.unique_of_draw] = np.repeat(np.arange(k), n)
    fit = two_coin_with_activation(
        np.repeat(np.arange(n_unique), m),
        cell.workers.ravel().astype(np.int64),
        cell.votes.ravel(),
        _unique_prior(cell),
        act,
        pair,
        n_workers=cell.n_workers,
        eta_init=opts.eta,
        max_iter=opts.em_max_iter,
        tol=opts.em_tol,
    )
    return Labels(_to_draws(cell, fit.posterior), binary_variance=True)


def _bragg_model_corrected(cell: RatingCell, opts: AggregatorOptions) -> Labels:
    """BRAgg(model) labels with E[label | c] under the EM η, for de-attenuation."""
    eta = _em_eta(cell, opts)
    prior = model_prior(cell.concept_probs)
    values = bragg_posterior(cell.positives, cell.n_raters, eta, prior)
    moments = label_moments(
        lambda k, m: bragg_posterior(k, m, eta, prior),
        np.full(values.shape, float(cell.n_raters)),
        1.0 - eta,
        eta,
    )
    return Labels(values, moments.mean_absent, moments.mean_present)


AGGREGATORS: dict[str, Aggregator] = {
    "majority": _majority,
    "mean": _mean,
    "bragg-uniform": _bragg_uniform,
    "bragg-model": _bragg_model,
    "bragg-beta": _bragg_beta,
    "bragg-model-em": _bragg_model_em,
    "bragg-model-corrected": _bragg_model_corrected,
    "ds-model": _ds_model,
    "ds-act": _ds_act,
    "ds-act-soft": _ds_act_soft,
    "two-coin": _two_coin,
    "two-coin-act": _two_coin_act,
}
"""Every aggregator the simulator knows, by the name used in tables and JSON."""
