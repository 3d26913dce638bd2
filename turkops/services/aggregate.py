"""One dispatch from long-format ratings to labels, used by `turkops collect` and `aggregate`.

Both commands hand the same arrays to aggregate_labels: ratings coded 0..n-1 by item and worker,
and per item an optional model prior, activation and group (the pair). What an aggregator needs
and does not get is an InputError, so the message reaches the user as one line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turkops.domain import Aggregation, InputError
from turkops.stats import aggregation as agg
from turkops.stats.dawid_skene import dawid_skene_one_coin, dawid_skene_with_activation
from turkops.stats.two_coin import dawid_skene_two_coin, two_coin_with_activation

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NEEDS_MODEL_PRIOR = frozenset({Aggregation.BRAGG_MODEL})
NEEDS_ACTIVATIONS = frozenset({Aggregation.DS_ACT, Aggregation.TWO_COIN_ACT})
BINARY_VARIANCE = frozenset({Aggregation.DS_ACT, Aggregation.TWO_COIN_ACT})
"""Posteriors that condition on the activation too are scored with σ̂² = μ̂(1-μ̂)."""
SHARED_ETA = frozenset({Aggregation.BRAGG_UNIFORM, Aggregation.BRAGG_MODEL})


@dataclass(frozen=True, slots=True, eq=False)
class LongRatings:
    """items, workers: (R,) codes 0..n_items-1 and 0..n_workers-1; values: (R,) 0/1.
    Items without a rating are allowed (their label is NaN)."""

    items: IntArray
    workers: IntArray
    values: IntArray
    n_items: int
    n_workers: int


@dataclass(frozen=True, slots=True, eq=False)
class ItemInfo:
    """Per item (n_items,): model_prior clipped to agg.MODEL_PRIOR_CLIP or None;
    activations_z (activation z-scored over the probing set) and groups (pair codes) or None."""

    model_prior: FloatArray | None = None
    activations_z: FloatArray | None = None
    groups: IntArray | None = None


@dataclass(frozen=True, slots=True, eq=False)
class AggregatedLabels:
    """labels: (n_items,) in [0, 1], NaN where an item has no rating. Per worker (n_workers,)
    where the model has them: sensitivity P(1 | present), specificity P(0 | absent) (one-coin:
    both 1 - η_w). eta: the shared error rate used (BRAgg), else None. n_iter/converged: EM."""

    aggregation: Aggregation
    labels: FloatArray
    sensitivity: FloatArray | None
    specificity: FloatArray | None
    eta: float | None
    n_iter: int | None
    converged: bool | None

    @property
    def binary_variance(self) -> bool:
        return self.aggregation in BINARY_VARIANCE


def check_inputs(aggregation: Aggregation, info: ItemInfo) -> None:
    """InputError when the aggregator needs something the caller does not have."""
    if aggregation in NEEDS_MODEL_PRIOR and info.model_prior is None:
        raise InputError(
            f"{aggregation} needs concept probabilities as a prior (collect: turkops concepts "
            "score/import; aggregate: --prior PRIORS.csv); or use bragg-uniform"
        )
    if aggregation in NEEDS_ACTIVATIONS and (info.activations_z is None or info.groups is None):
        raise InputError(
            f"{aggregation} needs each item's activation (collect has them; aggregate: an "
            "'activation' column in --prior PRIORS.csv)"
        )


def aggregate_labels(
    aggregation: Aggregation,
    ratings: LongRatings,
    info: ItemInfo,
    *,
    eta: float = agg.DEFAULT_ETA,
    beta: float = agg.DEFAULT_BETA,
) -> AggregatedLabels:
    """Labels of every item under one aggregator. eta: BRAgg's shared error rate; beta: the
    uniform prior of bragg-uniform/bragg-beta, and of the EM models where no model prior is given.
    """
    check_inputs(aggregation, info)
    n = ratings.n_items
    positives = np.bincount(ratings.items, weights=ratings.values, minlength=n)
    totals = np.bincount(ratings.items, minlength=n).astype(np.float64)
    rated = totals > 0
    prior: FloatArray = info.model_prior if info.model_prior is not None else np.full(n, beta)
    sens = spec = None
    n_iter: int | None = None
    converged: bool | None = None
    if aggregation == Aggregation.MEAN:
        lab = agg.mean_vote(positives, np.maximum(totals, 1))
    elif aggregation == Aggregation.MAJORITY:
        lab = agg.majority_vote(positives, np.maximum(totals, 1))
    elif aggregation == Aggregation.BRAGG_UNIFORM:
        lab = agg.bragg_posterior(positives, totals, eta, beta)
    elif aggregation == Aggregation.BRAGG_MODEL:
        lab = agg.bragg_posterior(positives, totals, eta, prior)
    elif aggregation == Aggregation.BRAGG_BETA:
        lab = agg.bragg_beta_posterior(positives, totals, beta)
    elif aggregation in (Aggregation.DAWID_SKENE, Aggregation.DS_ACT):
        if aggregation == Aggregation.DS_ACT:
            assert info.activations_z is not None and info.groups is not None
            one = dawid_skene_with_activation(
                ratings.items,
                ratings.workers,
                ratings.values,
                prior,
                info.activations_z,
                info.groups,
                n_workers=ratings.n_workers,
            )
        else:
            one = dawid_skene_one_coin(
                ratings.items,
                ratings.workers,
                ratings.values,
                prior,
                n_items=n,
                n_workers=ratings.n_workers,
            )
        lab, sens, spec = one.posterior, 1.0 - one.worker_eta, 1.0 - one.worker_eta
        n_iter, converged = one.n_iter, one.converged
    elif aggregation in (Aggregation.TWO_COIN, Aggregation.TWO_COIN_ACT):
        if aggregation == Aggregation.TWO_COIN_ACT:
            assert info.activations_z is not None and info.groups is not None
            two = two_coin_with_activation(
                ratings.items,
                ratings.workers,
                ratings.values,
                prior,
                info.activations_z,
                info.groups,
                n_workers=ratings.n_workers,
            )
        else:
            two = dawid_skene_two_coin(
                ratings.items,
                ratings.workers,
                ratings.values,
                prior,
                n_items=n,
                n_workers=ratings.n_workers,
            )
        lab, sens, spec = two.posterior, two.sensitivity, two.specificity
        n_iter, converged = two.n_iter, two.converged
    else:  # pragma: no cover - every Aggregation is handled above
        raise InputError(f"unknown aggregation {aggregation!r}")
    return AggregatedLabels(
        aggregation=aggregation,
        labels=np.where(rated, np.asarray(lab, dtype=np.float64), np.nan),
        sensitivity=sens,
        specificity=spec,
        eta=eta if aggregation in SHARED_ETA else None,
        n_iter=n_iter,
        converged=converged,
    )
