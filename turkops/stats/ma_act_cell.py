"""`ma-act` on a simulated cell: the bridge from a RatingCell to ma_act.py's full-set estimator.

Why a module of its own: the aggregators in strategies.py see only the draws (RatingCell), but
ma-act needs arrays over the whole probing set (ā, its normal score, the cheap model's prior,
the proposal q the cell was drawn from). Both simulators (coverage.py: intervals; simulation.py:
RCE by budget) hold those arrays and call this one function, so they score the same estimator.
The arrays that do not depend on the draws are built once per study (MaActPopulation) and reused
by every (sampler, draws, raters) cell. The estimates come pooled across the cell's pairs
(ma_act.pool_ma_act), as collect pools a study's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turkops.stats.aggregation import model_prior
from turkops.stats.ma_act import (
    MaActEstimates,
    fit_ma_act,
    ma_act_correlations,
    normal_scores,
    pool_ma_act,
)
from turkops.stats.sampling import zscore
from turkops.stats.strategies import AggregatorOptions, RatingCell
from turkops.stats.two_coin import ACTIVATION_PENALTY

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class MaActPopulation:
    """The draw-independent full-set arrays of K pairs, each (K, N): ā z-scored over the probing
    set, the working model's covariate (normal scores of ā) and the cheap model's prior."""

    activations_z: FloatArray
    feature: FloatArray
    prior: FloatArray

    @property
    def n_inputs(self) -> int:
        return int(self.activations_z.shape[1])


def ma_act_population(activations: npt.ArrayLike, concept_probs: npt.ArrayLike) -> MaActPopulation:
    """Build the (K, N) arrays once per study: the rank transform is the costly part."""
    acts = np.atleast_2d(np.asarray(activations, dtype=np.float64))
    probs = np.atleast_2d(np.asarray(concept_probs, dtype=np.float64))
    if acts.shape != probs.shape:
        raise ValueError("activations and concept_probs must share one shape (K, N)")
    return MaActPopulation(zscore(acts), normal_scores(acts), model_prior(probs))


def ma_act_cell(
    cell: RatingCell,
    population: MaActPopulation,
    proposal: FloatArray,
    positions: IntArray,
    codes: IntArray,
    options: AggregatorOptions,
    level: float = 0.95,
) -> MaActEstimates:
    """ma-act's ρ̂ and interval for the K pairs of a cell.

    proposal: (K, N) the q the cell's draws came from; positions: (K, n) the draws (indices into
    N, a repeated draw appears again with count 1, as i.i.d. draws); codes: (U,) each distinct
    rated input of the cell as pair * N + input, aligned with cell.votes. One fit_ma_act over
    the cell's K pairs (worker rates shared, as in collect), then one pass over (K, N). Memoised
    in cell.memo, so a cell scored twice (two callers, one level) is fitted once.
    """
    key = f"ma-act@{level}"
    if key in cell.memo:
        cached: MaActEstimates = cell.memo[key]
        return cached
    n_pairs, n_inputs = population.activations_z.shape
    pos = np.asarray(positions, dtype=np.int64)
    code = np.asarray(codes, dtype=np.int64)
    if pos.shape != cell.positives.shape or code.shape != (cell.votes.shape[0],):
        raise ValueError("positions must be the cell's draws and codes its distinct inputs")
    if pos.shape[0] != n_pairs:
        raise ValueError("the population and the cell must hold the same K pairs")
    pair_u, inp_u = code // n_inputs, code % n_inputs
    m = cell.n_raters
    fit = fit_ma_act(
        np.repeat(np.arange(code.size), m),
        cell.workers.ravel().astype(np.int64),
        cell.votes.ravel().astype(np.float64),
        population.prior[pair_u, inp_u],
        population.feature[pair_u, inp_u],
        pair_u,
        n_pairs,
        n_workers=cell.n_workers,
        eta_init=options.eta,
        max_iter=options.em_max_iter,
        tol=options.em_tol,
    )
    est = ma_act_correlations(
        population.activations_z,
        population.feature,
        population.prior,
        proposal,
        pos,
        np.ones(pos.shape),
        pair_u,
        inp_u,
        fit.evidence,
        fit.theta,
        penalty=ACTIVATION_PENALTY,
        level=level,
    )
    # The cell is one study: its pairs pool as collect's do (one group: a simulated study has
    # one explanation method).
    est = pool_ma_act(est)
    cell.memo[key] = est
    return est
