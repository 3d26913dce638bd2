"""One dispatch from long-format ratings to labels, used by `turkops collect` and `aggregate`.

Both commands hand the same arrays to aggregate_labels: ratings coded 0..n-1 by item and worker,
and per item an optional model prior, activation and group (the pair). What an aggregator needs
and does not get is an InputError, so the message reaches the user as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from turkops.domain import Aggregation, InputError
from turkops.ratingfiles import read_gold, read_priors, read_ratings
from turkops.stats import aggregation as agg
from turkops.stats.dawid_skene import dawid_skene_one_coin, dawid_skene_with_activation
from turkops.stats.glad import glad
from turkops.stats.item_difficulty import two_coin_marginal_clarity
from turkops.stats.mace import mace
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
    if aggregation == Aggregation.MA_ACT:
        raise InputError(
            "ma-act estimates correlations, it does not label items: use `turkops collect "
            "--aggregation ma-act`"
        )
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
    # Every EM model takes the same long-format ratings and prior.
    long = (ratings.items, ratings.workers, ratings.values, prior)
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
                *long,
                info.activations_z,
                info.groups,
                n_workers=ratings.n_workers,
            )
        else:
            one = dawid_skene_one_coin(*long, n_items=n, n_workers=ratings.n_workers)
        lab, sens, spec = one.posterior, 1.0 - one.worker_eta, 1.0 - one.worker_eta
        n_iter, converged = one.n_iter, one.converged
    elif aggregation in (Aggregation.TWO_COIN, Aggregation.TWO_COIN_ACT):
        if aggregation == Aggregation.TWO_COIN_ACT:
            assert info.activations_z is not None and info.groups is not None
            two = two_coin_with_activation(
                *long,
                info.activations_z,
                info.groups,
                n_workers=ratings.n_workers,
            )
        else:
            two = dawid_skene_two_coin(*long, n_items=n, n_workers=ratings.n_workers)
        lab, sens, spec = two.posterior, two.sensitivity, two.specificity
        n_iter, converged = two.n_iter, two.converged
    elif aggregation == Aggregation.GLAD:
        gl = glad(*long, n_items=n, n_workers=ratings.n_workers)
        # A worker's rates on an item of clarity 1: σ(α_w) for both classes.
        lab, sens = gl.posterior, 1.0 / (1.0 + np.exp(-gl.ability))
        spec, n_iter, converged = sens, gl.n_iter, gl.converged
    elif aggregation == Aggregation.MACE:
        ma = mace(*long, n_items=n, n_workers=ratings.n_workers)
        lab, sens, spec = ma.posterior, ma.sensitivity, ma.specificity
        n_iter, converged = ma.n_iter, ma.converged
    elif aggregation == Aggregation.TWO_COIN_MIX:
        mix = two_coin_marginal_clarity(*long, n_items=n, n_workers=ratings.n_workers)
        lab, sens, spec = mix.mixed_posterior, mix.sensitivity, mix.specificity
        n_iter, converged = mix.n_iter, mix.converged
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


@dataclass(frozen=True, slots=True, eq=False)
class WorkerEstimate:
    worker: str
    ratings: int
    sensitivity: float | None
    specificity: float | None
    agreement: float  # share of the worker's ratings equal to the rounded label


@dataclass(frozen=True, slots=True, eq=False)
class FileAggregation:
    """`turkops aggregate`'s result: labels (n_items,) by item id, per-worker estimates, and
    the Pearson correlation / accuracy with gold labels when a gold file was given."""

    fit: AggregatedLabels
    item_ids: list[str]
    workers: list[WorkerEstimate]
    n_ratings: int
    gold_pearson: float | None
    gold_accuracy: float | None
    n_gold: int


def subsample_per_item(ratings: LongRatings, per_item: int, seed: int) -> LongRatings:
    """Keep at most per_item ratings of each item, chosen at random (numpy default_rng(seed);
    items in code order, rng.choice without replacement among the item's ratings in file order).
    Used to measure an aggregator with fewer raters than a data set has."""
    if per_item < 1:
        raise InputError("--per-item must be at least 1")
    rng = np.random.default_rng(seed)
    order = np.argsort(ratings.items, kind="stable")
    starts = np.searchsorted(ratings.items[order], np.arange(ratings.n_items + 1))
    keep: list[np.ndarray] = []
    for i in range(ratings.n_items):
        rows = order[starts[i] : starts[i + 1]]
        keep.append(rows if rows.size <= per_item else rng.choice(rows, per_item, replace=False))
    idx = np.sort(np.concatenate(keep)) if keep else np.zeros(0, dtype=np.int64)
    return LongRatings(
        ratings.items[idx],
        ratings.workers[idx],
        ratings.values[idx],
        ratings.n_items,
        ratings.n_workers,
    )


def aggregate_file(
    ratings_path: Path,
    aggregation: Aggregation,
    *,
    prior_path: Path | None = None,
    gold_path: Path | None = None,
    eta: float = agg.DEFAULT_ETA,
    beta: float = agg.DEFAULT_BETA,
    per_item: int | None = None,
    seed: int = 0,
) -> FileAggregation:
    """Aggregate a long-format ratings CSV (ratingfiles.py) with the code collect uses."""
    data = read_ratings(ratings_path)
    ratings = LongRatings(
        data.items, data.workers, data.values, len(data.item_ids), len(data.worker_ids)
    )
    info = ItemInfo()
    if prior_path is not None:
        pri = read_priors(prior_path, data.item_ids)
        info = ItemInfo(agg.model_prior(pri.prior), pri.activation, pri.group)
    gold = read_gold(gold_path, data.item_ids) if gold_path is not None else None
    check_inputs(aggregation, info)
    if per_item is not None:
        ratings = subsample_per_item(ratings, per_item, seed)
    fit = aggregate_labels(aggregation, ratings, info, eta=eta, beta=beta)
    pearson = accuracy = None
    n_gold = 0
    if gold:
        code = {item: k for k, item in enumerate(data.item_ids)}
        idx = np.array([code[i] for i in gold])
        truth = np.array(list(gold.values()), dtype=np.float64)
        lab = fit.labels[idx]
        ok = np.isfinite(lab)
        n_gold = int(ok.sum())
        if n_gold >= 2 and np.std(lab[ok]) > 0 and np.std(truth[ok]) > 0:
            pearson = float(np.corrcoef(lab[ok], truth[ok])[0, 1])
        if n_gold:
            accuracy = float(np.mean((lab[ok] >= 0.5) == (truth[ok] > 0.5)))
    return FileAggregation(
        fit=fit,
        item_ids=data.item_ids,
        workers=_worker_estimates(ratings, fit, data.worker_ids),
        n_ratings=int(ratings.values.size),
        gold_pearson=pearson,
        gold_accuracy=accuracy,
        n_gold=n_gold,
    )


def _worker_estimates(
    ratings: LongRatings, fit: AggregatedLabels, worker_ids: list[str]
) -> list[WorkerEstimate]:
    n_w = ratings.n_workers
    count = np.bincount(ratings.workers, minlength=n_w)
    agree = np.bincount(
        ratings.workers,
        weights=(ratings.values == (fit.labels[ratings.items] >= 0.5)).astype(np.float64),
        minlength=n_w,
    )
    out = []
    for w, name in enumerate(worker_ids):
        if count[w] == 0:  # every rating of this worker fell out of a --per-item subsample
            continue
        out.append(
            WorkerEstimate(
                worker=name,
                ratings=int(count[w]),
                sensitivity=float(fit.sensitivity[w]) if fit.sensitivity is not None else None,
                specificity=float(fit.specificity[w]) if fit.specificity is not None else None,
                agreement=float(agree[w] / count[w]),
            )
        )
    return out
