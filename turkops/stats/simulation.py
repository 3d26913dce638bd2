"""Simulated studies: RCE of every (sampler, aggregator) over a grid of budgets.

A budget is (draws per pair, raters per input); its cost in evaluations is (distinct inputs shown)
x raters, averaged over pairs. Pairs are simulated in studies that share one worker pool, so
per-worker models see each worker across many pairs, as on MTurk. Draw prefixes and rater
prefixes are nested (the 100-draw sample is the start of the 200-draw one), and every study,
sampler and input has its own random stream: comparisons between budgets and strategies are
free of unrelated noise (common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from turkops.stats.aggregation import (
    bragg_beta_posterior,
    bragg_posterior,
    label_moments,
    majority_vote,
    mean_vote,
    model_prior,
)
from turkops.stats.ma_act_cell import MaActPopulation, ma_act_cell, ma_act_population
from turkops.stats.names import (
    DEFAULT_AGGREGATORS,
    MA_ACT,
    SAMPLERS,
    SIMULATOR_AGGREGATORS,
    TURKOPS_AGGREGATOR,
)
from turkops.stats.sampling import (
    DEFAULT_ALPHA,
    DEFAULT_EPS,
    DEFAULT_GAMMA,
    ag_is_proposal,
    count_unique,
    draw_indices,
    mg_is_proposal,
    zscore,
)
from turkops.stats.simulation_summary import (
    BASELINE,
    SimulationResult,
    StrategySummary,
    evaluations_to_target,
)
from turkops.stats.strategies import (
    AGGREGATORS,
    AggregatorOptions,
    Labels,
    RatingCell,
    score_labels,
)
from turkops.stats.synthetic import (
    Crowd,
    CrowdSetting,
    Population,
    PopulationSetting,
    simulate_crowd,
    simulate_population,
    simulate_votes,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]

DEFAULT_TARGET_RCE = 0.275

__all__ = [
    "BASELINE",
    "DEFAULT_AGGREGATORS",
    "SAMPLERS",
    "TURKOPS_AGGREGATOR",
    "SimulationConfig",
    "SimulationResult",
    "StrategySummary",
    "evaluations_to_target",
    "run_simulation",
]


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """What to simulate. draws: sample sizes |S| per pair (i.i.d. draws; distinct inputs are
    fewer); raters: ratings per shown input; eps/gamma/alpha: proposal parameters (sampling);
    self_normalised: which IS estimator; target_rce: the RCE the summary asks each strategy for."""

    population: PopulationSetting = field(default_factory=PopulationSetting)
    crowd: CrowdSetting = field(default_factory=CrowdSetting)
    n_pairs: int = 60
    pairs_per_study: int = 30
    draws: tuple[int, ...] = (25, 50, 100, 200, 400, 800, 1600, 3200)
    raters: tuple[int, ...] = (1, 3, 5, 9)
    samplers: tuple[str, ...] = SAMPLERS
    aggregators: tuple[str, ...] = DEFAULT_AGGREGATORS
    gamma: float = DEFAULT_GAMMA
    eps: float = DEFAULT_EPS
    alpha: float = DEFAULT_ALPHA
    options: AggregatorOptions = field(default_factory=AggregatorOptions)
    self_normalised: bool = False
    target_rce: float = DEFAULT_TARGET_RCE

    def __post_init__(self) -> None:
        if self.n_pairs < 1 or self.pairs_per_study < 1:
            raise ValueError("n_pairs and pairs_per_study must be >= 1")
        if not self.draws or min(self.draws) < 2 or list(self.draws) != sorted(set(self.draws)):
            raise ValueError("draws must be increasing sample sizes >= 2")
        if not self.raters or min(self.raters) < 1 or list(self.raters) != sorted(set(self.raters)):
            raise ValueError("raters must be increasing counts >= 1")
        if max(self.raters) > self.crowd.n_workers:
            raise ValueError("more raters per input than workers in the pool")
        unknown = set(self.samplers) - set(SAMPLERS)
        if unknown:
            raise ValueError(f"unknown samplers {sorted(unknown)}; known: {SAMPLERS}")
        unknown = set(self.aggregators) - set(SIMULATOR_AGGREGATORS)
        if unknown:
            raise ValueError(
                f"unknown aggregators {sorted(unknown)}; known: {sorted(SIMULATOR_AGGREGATORS)}"
            )
        if MA_ACT in self.aggregators and self.gamma <= 0 and set(self.samplers) != {"uniform"}:
            raise ValueError("ma-act needs a proposal > 0 on every input: gamma must be > 0")
        if not 0 < self.target_rce:
            raise ValueError("target_rce must be > 0")


def _proposal(name: str, pop: Population, cfg: SimulationConfig) -> FloatArray:
    if name == "uniform":
        n = pop.activations.shape[1]
        return np.full(pop.activations.shape, 1.0 / n)
    if name == "ag-is":
        return ag_is_proposal(pop.activations, alpha=cfg.alpha, gamma=cfg.gamma)
    return mg_is_proposal(pop.activations, pop.concept_probs, gamma=cfg.gamma, eps=cfg.eps)


_FLOOR_LABELS: dict[str, Callable[[FloatArray, float, FloatArray, AggregatorOptions], Any]] = {
    "majority": lambda k, m, probs, o: majority_vote(k, m),
    "mean": lambda k, m, probs, o: mean_vote(k, m),
    "bragg-uniform": lambda k, m, probs, o: bragg_posterior(k, m, o.eta, o.beta),
    "bragg-model": lambda k, m, probs, o: bragg_posterior(k, m, o.eta, model_prior(probs)),
    "bragg-beta": lambda k, m, probs, o: bragg_beta_posterior(k, m, o.beta),
}


def _floor_rho(
    pop: Population,
    a_z: FloatArray,
    agg: str,
    m: int,
    rates: tuple[float, float],
    opts: AggregatorOptions,
) -> FloatArray:
    """ρ that the estimator converges to with infinitely many draws: E over rating noise of the
    population moments of the labels (each input's votes are binomial at the pool's rates)."""
    label = _FLOOR_LABELS[agg]
    probs = pop.concept_probs
    mom = label_moments(
        lambda k, mm: label(k, m, probs, opts), np.full(probs.shape, float(m)), rates[0], rates[1]
    )
    c = pop.concept
    mean = mom.mean_absent * (1 - c) + mom.mean_present * c
    square = mom.square_absent * (1 - c) + mom.square_present * c
    var = square.mean(-1) - mean.mean(-1) ** 2
    cov = (a_z * mean).mean(-1)
    out: FloatArray = np.where(var > 0, cov / np.sqrt(np.maximum(var, 1e-300)), 0.0)
    return out


def _estimate(
    labels: Labels, a_z: FloatArray, weights: FloatArray, cfg: SimulationConfig
) -> FloatArray:
    """ρ̂ per pair (K,) from one aggregator's labels, as that aggregator asks to be scored."""
    return score_labels(labels, a_z, weights, cfg.self_normalised)


@dataclass(frozen=True, slots=True, eq=False)
class _Study:
    """One simulated study: its pairs, crowd, every sampler's draws and the shared ratings.

    keys: (U,) each rated (pair, input) as pair * N + input, aligned with votes and workers;
    ma_act: the full-set arrays ma-act needs (None unless it is simulated)."""

    pop: Population
    crowd: Crowd
    a_z: FloatArray
    draws: dict[str, IntArray]
    key_of_draw: dict[str, IntArray]
    keys: IntArray
    votes: npt.NDArray[np.int8]
    workers: npt.NDArray[np.int32]
    ma_act: MaActPopulation | None


def _simulate_study(cfg: SimulationConfig, k_s: int, seed: np.random.SeedSequence) -> _Study:
    # Independent streams for the population, the crowd and each sampler: a strategy's numbers
    # do not change when other samplers or aggregators join the comparison.
    pop_seed, crowd_seed, *sampler_seeds = seed.spawn(2 + len(SAMPLERS))
    pop = simulate_population(cfg.population, k_s, np.random.default_rng(pop_seed))
    crowd = simulate_crowd(cfg.crowd, np.random.default_rng(crowd_seed))
    n_max, n_inputs = max(cfg.draws), pop.activations.shape[1]
    draws = {
        s: draw_indices(
            _proposal(s, pop, cfg), n_max, np.random.default_rng(sampler_seeds[SAMPLERS.index(s)])
        )
        for s in cfg.samplers
    }
    # One set of ratings per distinct (pair, input), whichever samplers drew it.
    pair_offset = (np.arange(k_s) * n_inputs)[:, None]
    keys, inverse = np.unique(
        np.concatenate([(d + pair_offset).ravel() for d in draws.values()]), return_inverse=True
    )
    votes, workers = simulate_votes(crowd, pop.concept.ravel()[keys], max(cfg.raters), keys)
    size = k_s * n_max
    key_of_draw = {
        s: inverse[i * size : (i + 1) * size].reshape(k_s, n_max) for i, s in enumerate(draws)
    }
    ma_act = (
        ma_act_population(pop.activations, pop.concept_probs) if MA_ACT in cfg.aggregators else None
    )
    return _Study(
        pop,
        crowd,
        zscore(pop.activations),
        draws,
        key_of_draw,
        keys.astype(np.int64),
        votes,
        workers,
        ma_act,
    )


def run_simulation(
    config: SimulationConfig, rng: np.random.Generator, progress: Progress | None = None
) -> SimulationResult:
    """Simulate config.n_pairs pairs and score every strategy on the budget grid.

    progress(done, total) is called after each (study, sampler) step.
    """
    cfg = config
    n_s, n_a, n_d, n_r = len(cfg.samplers), len(cfg.aggregators), len(cfg.draws), len(cfg.raters)
    abs_err = np.zeros((n_s, n_a, n_d, n_r))
    rel_err = np.zeros((n_s, n_a, n_d, n_r))
    unique_sum = np.zeros((n_s, n_d))
    floor_err = np.zeros((n_a, n_r))
    floor_known = np.array([agg in _FLOOR_LABELS for agg in cfg.aggregators])
    truths: list[FloatArray] = []
    base_rates: list[FloatArray] = []
    siglip_err = 0.0
    n_studies = math.ceil(cfg.n_pairs / cfg.pairs_per_study)
    base_seed = int(rng.integers(0, 2**63))
    step = 0
    for study in range(n_studies):
        k_s = min(cfg.pairs_per_study, cfg.n_pairs - study * cfg.pairs_per_study)
        st = _simulate_study(cfg, k_s, np.random.SeedSequence([base_seed, study]))
        pop, truth = st.pop, st.pop.rho
        truths.append(truth)
        base_rates.append(pop.base_rate)
        siglip_err += float(np.abs(pop.model_rho - truth).sum())
        for r, m in enumerate(cfg.raters):
            for a, agg in enumerate(cfg.aggregators):
                if floor_known[a]:
                    rho_f = _floor_rho(pop, st.a_z, agg, m, st.crowd.pool_rates(), cfg.options)
                    floor_err[a, r] += float(np.abs(rho_f - truth).sum())
        rows = np.arange(k_s)[:, None]
        cum_votes = np.cumsum(st.votes, axis=1, dtype=np.int16)
        for s, sampler in enumerate(cfg.samplers):
            idx, key_of_draw = st.draws[sampler], st.key_of_draw[sampler]
            q = _proposal(sampler, pop, cfg)
            weights = 1.0 / (pop.activations.shape[1] * q[rows, idx])
            a_d, probs_d = st.a_z[rows, idx], pop.concept_probs[rows, idx]
            for d, n in enumerate(cfg.draws):
                unique_sum[s, d] += float(count_unique(idx[:, :n]).sum())
                sub_keys, sub_inv = np.unique(key_of_draw[:, :n].ravel(), return_inverse=True)
                for r, m in enumerate(cfg.raters):
                    cell = RatingCell(
                        positives=cum_votes[key_of_draw[:, :n], m - 1].astype(np.float64),
                        n_raters=m,
                        concept_probs=probs_d[:, :n],
                        activations_z=a_d[:, :n],
                        unique_of_draw=sub_inv.ravel(),
                        votes=st.votes[sub_keys, :m],
                        workers=st.workers[sub_keys, :m],
                        n_workers=st.crowd.n_workers,
                    )
                    for a, agg in enumerate(cfg.aggregators):
                        if agg == MA_ACT:
                            # Full-set estimator: q over the whole set is what was drawn from.
                            assert st.ma_act is not None
                            est = ma_act_cell(
                                cell, st.ma_act, q, idx[:, :n], st.keys[sub_keys], cfg.options
                            )
                            # The pair's own estimate, not the study-pooled point: in this
                            # simulator the cheap model predicts the true ρ more consistently
                            # than a real one does, and designs planned on the pooled RCE lean
                            # on that (`plan --budget 2160` picked 60 inputs x 9 raters).
                            err = np.abs(est.rho_own - truth)
                        else:
                            labels = AGGREGATORS[agg](cell, cfg.options)
                            rho = _estimate(labels, a_d[:, :n], weights[:, :n], cfg)
                            err = np.abs(rho - truth)
                        abs_err[s, a, d, r] += float(err.sum())
                        rel_err[s, a, d, r] += float((err / np.abs(truth)).sum())
            step += 1
            if progress is not None:
                progress(step, n_studies * n_s)
    true_rho = np.concatenate(truths)
    denom = float(np.abs(true_rho).sum())
    return SimulationResult(
        config=cfg,
        rce=abs_err / denom,
        mean_relative_error=rel_err / cfg.n_pairs,
        unique_inputs=unique_sum / cfg.n_pairs,
        floor_rce=np.where(floor_known[:, None], floor_err / denom, np.nan),
        siglip_rce=siglip_err / denom,
        true_rho=true_rho,
        base_rate=np.concatenate(base_rates),
    )
