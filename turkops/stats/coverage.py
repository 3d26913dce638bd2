"""Do the intervals cover, does the null hold, does the ranking come out right? By simulation.

Intervals for any aggregator (a function RatingCell -> Labels, strategies.Aggregator): the
bootstrap resamples each pair's draws with their votes and, for an aggregator that fits
anything to the study (EM: η, per-worker errors, per-pair coefficients), re-runs the aggregator
on every replicate, so the interval carries the fit's uncertainty too. For aggregators whose
label is a function of the input's own votes and fixed parameters (PER_INPUT) the re-fit is the
same as holding the labels fixed, and the fast matrix bootstrap is used.

The coverage simulation builds, per study, K "right" pairs (a neuron and the concept it was made
to correlate with, ρ drawn from PopulationSetting.correlation) and K "wrong" pairs (the same
neurons with another pair's concept: unrelated, true ρ ≈ 0), draws MG-IS samples, simulates
ratings, and measures per aggregator and rater count: coverage of the true ρ, interval width,
the null spread P(|ρ̂_wrong| > 0.1), mis-ranking P(ρ̂_wrong >= ρ̂_right) per neuron, and RCE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from turkops.stats.aggregation import LabelMoments, bragg_posterior, label_moments, model_prior
from turkops.stats.correlation import bootstrap_replicates
from turkops.stats.intervals import (
    INTERVAL_METHODS,
    IntervalMethod,
    interval_from_replicates,
    jackknife_acceleration,
)
from turkops.stats.ma_act_cell import ma_act_cell, ma_act_population
from turkops.stats.model_assisted import (
    ModelAssistedEstimates,
    corrected_labels,
    model_assisted_correlations,
)
from turkops.stats.names import MA_ACT
from turkops.stats.sampling import DEFAULT_EPS, DEFAULT_GAMMA, draw_indices, mg_is_proposal, zscore
from turkops.stats.strategies import (
    AGGREGATORS,
    Aggregator,
    AggregatorOptions,
    Labels,
    RatingCell,
    score_labels,
    scoring_labels,
)
from turkops.stats.synthetic import (
    CrowdSetting,
    PopulationSetting,
    pearson_rows,
    simulate_crowd,
    simulate_population,
    simulate_votes,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]

PER_INPUT = frozenset({"majority", "mean", "bragg-uniform", "bragg-model", "bragg-beta"})
"""Aggregators whose label is a function of the input's own votes and fixed parameters."""
EXACT = "exact"
"""Reference 'aggregator' of the coverage simulation: the true labels (no rating noise)."""
MODEL_ASSISTED = {"bragg-model-ma": "bragg-model", "exact-ma": EXACT}
"""Model-assisted estimators (model_assisted.py) and the labels they de-attenuate."""
NULL_THRESHOLD = 0.1
HARD_RHO = 0.15
"""Right explanations with ρ below this make the hard mis-ranking cases."""
RHO_BINS = (-1.0, 0.1, 0.2, 0.3, 0.4)
"""Lower edges of the true-ρ bins of CoverageRow.by_rho (the last bin is open above). Why:
coverage over the whole grid averages over-coverage of weak pairs with under-coverage of strong
ones, and the strong ones are the explanations a paper calls right."""


@dataclass(frozen=True, slots=True, eq=False)
class PairIntervals:
    """point, low, high: (K,) estimates and intervals; replicates: (B, K)."""

    point: FloatArray
    low: FloatArray
    high: FloatArray
    replicates: FloatArray


def resample_cell(cell: RatingCell, positions: IntArray) -> RatingCell:
    """The cell whose pair k holds the draws positions[k] (K, n) of the original pair k.

    A draw picked twice is the same input shown once with multiplicity two, as in a study;
    the fits of the replicate see each distinct (pair, input) once, with its original votes.
    """
    k, n = cell.positives.shape
    rows = np.arange(k)[:, None]
    uniq = cell.unique_of_draw.reshape(k, n)[rows, positions]
    keys, inverse = np.unique(uniq.ravel(), return_inverse=True)
    return RatingCell(
        positives=cell.positives[rows, positions],
        n_raters=cell.n_raters,
        concept_probs=cell.concept_probs[rows, positions],
        activations_z=cell.activations_z[rows, positions],
        unique_of_draw=inverse.ravel(),
        votes=cell.votes[keys],
        workers=cell.workers[keys],
        n_workers=cell.n_workers,
    )


def refit_replicates(
    cell: RatingCell,
    aggregator: Aggregator,
    options: AggregatorOptions,
    weights: FloatArray,
    rng: np.random.Generator,
    n_boot: int = 200,
    self_normalised: bool = False,
) -> FloatArray:
    """Replicates (B, K) of ρ̂ with the aggregator re-run on each resampled study.

    weights: (K, n) p/q of the cell's draws. One aggregator call per replicate, over all K pairs
    at once, so study-level fits (a shared η, per-worker errors) are re-fitted as a whole.
    """
    k, n = cell.positives.shape
    rows = np.arange(k)[:, None]
    out = np.empty((n_boot, k))
    for b in range(n_boot):
        pos = rng.integers(0, n, size=(k, n))
        rep = resample_cell(cell, pos)
        out[b] = score_labels(
            aggregator(rep, options), rep.activations_z, weights[rows, pos], self_normalised
        )
    return out


def aggregator_intervals(
    cell: RatingCell,
    aggregator: Aggregator,
    options: AggregatorOptions,
    weights: FloatArray,
    rng: np.random.Generator,
    *,
    refit: bool = True,
    n_boot: int = 200,
    level: float = 0.95,
    method: IntervalMethod = "bca",
    self_normalised: bool = False,
) -> PairIntervals:
    """Point estimates and intervals for the K pairs of a cell under any aggregator.

    refit=False holds the labels fixed (exact for PER_INPUT aggregators, fast); refit=True
    re-runs the aggregator on each replicate. The BCa acceleration comes from a jackknife with
    the point labels held fixed (it corrects skew, a second-order term).
    """
    labels = aggregator(cell, options)
    values, variance = scoring_labels(labels)
    point = score_labels(labels, cell.activations_z, weights, self_normalised)
    if refit:
        reps = refit_replicates(cell, aggregator, options, weights, rng, n_boot, self_normalised)
    else:
        reps = bootstrap_replicates(
            cell.activations_z,
            values,
            weights,
            None,
            rng,
            n_boot=n_boot,
            self_normalised=self_normalised,
            concept_variance=variance,
        )
    acc = (
        jackknife_acceleration(
            cell.activations_z,
            values,
            weights,
            self_normalised=self_normalised,
            concept_variance=variance,
        )
        if method == "bca"
        else None
    )
    low, high = interval_from_replicates(point, reps, level=level, method=method, acceleration=acc)
    return PairIntervals(point, low, high, reps)


@dataclass(frozen=True, slots=True)
class CoverageConfig:
    """The paper-like grid: base rates 0.1%-5%, ρ 0-0.5, 180 draws, 1 and 3 raters, η = 0.23.

    n_pairs: right pairs in all (each with one wrong pair on the same neuron); n_boot: bootstrap
    replicates per interval; method: interval construction (intervals.INTERVAL_METHODS); refit:
    None = re-fit every aggregator not in PER_INPUT, False = hold labels fixed for all (the old
    behaviour, for comparison).
    """

    population: PopulationSetting = field(
        default_factory=lambda: PopulationSetting(base_rate=(0.001, 0.05), correlation=(0.0, 0.5))
    )
    crowd: CrowdSetting = field(default_factory=CrowdSetting)
    n_pairs: int = 60
    pairs_per_study: int = 30
    draws: int = 180
    raters: tuple[int, ...] = (1, 3)
    aggregators: tuple[str, ...] = ("bragg-model",)
    n_boot: int = 200
    level: float = 0.95
    method: IntervalMethod = "bca"
    refit: bool | None = None
    options: AggregatorOptions = field(default_factory=AggregatorOptions)

    def __post_init__(self) -> None:
        if self.n_pairs < 1 or self.pairs_per_study < 2:
            raise ValueError("n_pairs must be >= 1 and pairs_per_study >= 2")
        if self.draws < 2 or self.n_boot < 10:
            raise ValueError("draws must be >= 2 and n_boot >= 10")
        if not self.raters or min(self.raters) < 1 or max(self.raters) > self.crowd.n_workers:
            raise ValueError("raters must be >= 1 and at most the worker pool")
        unknown = set(self.aggregators) - set(AGGREGATORS) - {EXACT, MA_ACT, *MODEL_ASSISTED}
        if unknown:
            raise ValueError(f"unknown aggregators {sorted(unknown)}; known: {sorted(AGGREGATORS)}")
        if self.method not in INTERVAL_METHODS:
            raise ValueError(f"unknown interval method; known: {INTERVAL_METHODS}")


@dataclass(frozen=True, slots=True)
class RhoBin:
    """Right pairs whose true ρ lies in [low, high): how many, the share whose interval holds
    it, and the mean signed error of the point (negative: the estimate falls short)."""

    low: float
    high: float
    n_pairs: int
    coverage: float
    bias: float


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """One aggregator at one rater count. coverage: share of right pairs whose interval holds
    the true ρ; null_coverage: the same for wrong pairs; width: mean interval width (right
    pairs); null_spread: P(|ρ̂| > 0.1) over wrong pairs; misranking: P(ρ̂_wrong >= ρ̂_right) per
    neuron; misranking_hard: the same over neurons whose right ρ < HARD_RHO (NaN if none);
    rce: RCE over right pairs; n_pairs: right pairs (as many wrong ones); by_rho: coverage and
    bias of right pairs by true ρ (RHO_BINS, bins without pairs left out)."""

    aggregator: str
    raters: int
    coverage: float
    null_coverage: float
    width: float
    null_spread: float
    misranking: float
    misranking_hard: float
    rce: float
    n_pairs: int
    by_rho: tuple[RhoBin, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class PairEstimates:
    """Every simulated pair of one (aggregator, raters) row, right pairs first within each
    study: truth, point, low, high (P,), right (P,) True for a right pair, and neuron (P,) the
    simulated neuron, shared by its right and its unrelated pair (the mis-ranking comparison)."""

    aggregator: str
    raters: int
    truth: FloatArray
    point: FloatArray
    low: FloatArray
    high: FloatArray
    right: npt.NDArray[np.bool_]
    neuron: IntArray


@dataclass(frozen=True, slots=True)
class CoverageResult:
    config: CoverageConfig
    rows: tuple[CoverageRow, ...]
    pairs: tuple[PairEstimates, ...] = ()

    def row(self, aggregator: str, raters: int) -> CoverageRow:
        for r in self.rows:
            if r.aggregator == aggregator and r.raters == raters:
                return r
        raise KeyError((aggregator, raters))


def _exact(concept: FloatArray) -> Aggregator:
    def labels(cell: RatingCell, options: AggregatorOptions) -> Labels:
        return Labels(concept)

    return labels


def run_coverage(
    config: CoverageConfig, rng: np.random.Generator, progress: Progress | None = None
) -> CoverageResult:
    """Simulate config.n_pairs right pairs (and as many wrong ones) and measure every row."""
    cfg = config
    n_studies = math.ceil(cfg.n_pairs / cfg.pairs_per_study)
    base_seed = int(rng.integers(0, 2**63))
    keys = [(a, m) for m in cfg.raters for a in cfg.aggregators]
    acc: dict[tuple[str, int], dict[str, list[FloatArray]]] = {
        key: {"point": [], "low": [], "high": []} for key in keys
    }
    truths: list[FloatArray] = []
    for study in range(n_studies):
        k = min(cfg.pairs_per_study, cfg.n_pairs - study * cfg.pairs_per_study)
        k = max(k, 2)  # a wrong pair borrows another pair's concept
        seeds = np.random.SeedSequence([base_seed, study]).spawn(4)
        pop = simulate_population(cfg.population, k, np.random.default_rng(seeds[0]))
        crowd = simulate_crowd(cfg.crowd, np.random.default_rng(seeds[1]))
        # Wrong explanations: the same neurons with the next pair's concept and model scores.
        acts = np.concatenate([pop.activations, pop.activations])
        concept = np.concatenate([pop.concept, np.roll(pop.concept, 1, axis=0)])
        probs = np.concatenate([pop.concept_probs, np.roll(pop.concept_probs, 1, axis=0)])
        truth = pearson_rows(acts, concept)
        truths.append(truth)
        q = mg_is_proposal(acts, probs, gamma=DEFAULT_GAMMA, eps=DEFAULT_EPS)
        idx = draw_indices(q, cfg.draws, np.random.default_rng(seeds[2]))
        rows = np.arange(2 * k)[:, None]
        n_inputs = acts.shape[1]
        weights = 1.0 / (n_inputs * q[rows, idx])
        a_z = zscore(acts)[rows, idx]
        flat_keys = (idx + rows * n_inputs).ravel()
        uniq, inverse = np.unique(flat_keys, return_inverse=True)
        votes, workers = simulate_votes(
            crowd, concept.ravel()[uniq], max(cfg.raters), uniq.astype(np.int64)
        )
        boot_rng = np.random.default_rng(seeds[3])
        ma_pop = ma_act_population(acts, probs) if MA_ACT in cfg.aggregators else None
        for m in cfg.raters:
            cell = RatingCell(
                positives=votes[:, :m].sum(1)[inverse].reshape(idx.shape).astype(np.float64),
                n_raters=m,
                concept_probs=probs[rows, idx],
                activations_z=a_z,
                unique_of_draw=inverse.ravel(),
                votes=votes[:, :m],
                workers=workers[:, :m],
                n_workers=crowd.n_workers,
            )
            for name in cfg.aggregators:
                if name == MA_ACT:
                    assert ma_pop is not None
                    est = ma_act_cell(cell, ma_pop, q, idx, uniq, cfg.options, cfg.level)
                    store = acc[(name, m)]
                    store["point"].append(est.rho)
                    store["low"].append(est.low)
                    store["high"].append(est.high)
                    continue
                if name in MODEL_ASSISTED:
                    ma = _model_assisted(
                        name, cell, acts, probs, concept, q, idx, cfg.options, cfg.level
                    )
                    store = acc[(name, m)]
                    store["point"].append(ma.rho)
                    store["low"].append(ma.low)
                    store["high"].append(ma.high)
                    continue
                if name == EXACT:
                    fn, refit = _exact(concept[rows, idx]), False
                else:
                    fn = AGGREGATORS[name]
                    refit = name not in PER_INPUT if cfg.refit is None else cfg.refit
                res = aggregator_intervals(
                    cell,
                    fn,
                    cfg.options,
                    weights,
                    boot_rng,
                    refit=refit,
                    n_boot=cfg.n_boot,
                    level=cfg.level,
                    method=cfg.method,
                )
                store = acc[(name, m)]
                store["point"].append(res.point)
                store["low"].append(res.low)
                store["high"].append(res.high)
        if progress is not None:
            progress(study + 1, n_studies)
    rows_out, pairs_out = [], []
    true = np.concatenate(truths)
    sizes = [t.size // 2 for t in truths]
    right = np.zeros(true.size, dtype=bool)
    right[_right_index(sizes)] = True
    neuron = np.concatenate(
        [np.tile(np.arange(k), 2) + sum(sizes[:i]) for i, k in enumerate(sizes)]
    ).astype(np.int64)
    for name, m in keys:
        store = acc[(name, m)]
        point, low, high = (np.concatenate(store[f]) for f in ("point", "low", "high"))
        rows_out.append(_row(name, m, point, low, high, true, sizes))
        pairs_out.append(PairEstimates(name, m, true, point, low, high, right, neuron))
    return CoverageResult(cfg, tuple(rows_out), tuple(pairs_out))


def _model_assisted(
    name: str,
    cell: RatingCell,
    acts: FloatArray,
    probs: FloatArray,
    concept: FloatArray,
    q: FloatArray,
    idx: IntArray,
    opts: AggregatorOptions,
    level: float,
) -> ModelAssistedEstimates:
    prior_full = model_prior(probs)
    rows = np.arange(acts.shape[0])[:, None]
    if MODEL_ASSISTED[name] == EXACT:
        c = concept[rows, idx]
        s0, s1 = np.zeros_like(probs), np.ones_like(probs)
    else:
        m = cell.n_raters

        moments = label_moments(
            lambda k, mm: bragg_posterior(k, mm, opts.eta, prior_full),
            np.full(probs.shape, float(m)),
            1.0 - opts.eta,
            opts.eta,
        )
        _, s0, s1 = corrected_labels(np.zeros_like(probs), moments)
        labels = bragg_posterior(cell.positives, m, opts.eta, prior_full[rows, idx])
        draw_moments = LabelMoments(
            *(
                x[rows, idx]
                for x in (
                    moments.mean_absent,
                    moments.mean_present,
                    moments.square_absent,
                    moments.square_present,
                )
            )
        )
        c, _, _ = corrected_labels(labels, draw_moments)
    return model_assisted_correlations(zscore(acts), prior_full, q, idx, c, s0, s1, level=level)


def _row(
    name: str,
    m: int,
    point: FloatArray,
    low: FloatArray,
    high: FloatArray,
    truth: FloatArray,
    sizes: list[int],
) -> CoverageRow:
    right = _right_index(sizes)
    wrong = right + np.repeat(sizes, sizes)
    covered = (low <= truth) & (truth <= high)
    flipped = point[wrong] >= point[right]
    hard = truth[right] < HARD_RHO
    return CoverageRow(
        aggregator=name,
        raters=m,
        coverage=float(covered[right].mean()),
        null_coverage=float(covered[wrong].mean()),
        width=float((high - low)[right].mean()),
        null_spread=float((np.abs(point[wrong]) > NULL_THRESHOLD).mean()),
        misranking=float(flipped.mean()),
        misranking_hard=float(flipped[hard].mean()) if hard.any() else float("nan"),
        rce=float(np.abs(point[right] - truth[right]).sum() / np.abs(truth[right]).sum()),
        n_pairs=int(right.size),
        by_rho=_by_rho(covered[right], point[right] - truth[right], truth[right]),
    )


def _right_index(sizes: list[int]) -> IntArray:
    """Positions of the right pairs: each study holds its k right pairs, then k wrong ones."""
    out: IntArray = np.concatenate(
        [np.arange(k) + 2 * sum(sizes[:i]) for i, k in enumerate(sizes)]
    ).astype(np.int64)
    return out


def _by_rho(
    covered: npt.NDArray[np.bool_], error: FloatArray, truth: FloatArray
) -> tuple[RhoBin, ...]:
    edges = [*RHO_BINS, math.inf]
    bins = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (truth >= lo) & (truth < hi)
        if inside.any():
            bins.append(
                RhoBin(
                    lo,
                    hi,
                    int(inside.sum()),
                    float(covered[inside].mean()),
                    float(error[inside].mean()),
                )
            )
    return tuple(bins)
