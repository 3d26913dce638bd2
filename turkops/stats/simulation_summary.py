"""Results of a simulation: the RCE grid, and what each strategy needs to reach a target RCE."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from turkops.stats.names import BASELINE
from turkops.stats.planning import RceSurface

if TYPE_CHECKING:
    from turkops.stats.simulation import SimulationConfig

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class StrategySummary:
    """One (sampler, aggregator) against the target RCE.

    evaluations_to_target: inputs x raters per pair needed (log-interpolated on the grid), None
    if the grid never reaches the target; raters_at_target: the rater count of that cheapest
    design; cost_reduction: baseline (uniform + majority) evaluations / these; when only the
    baseline misses the target, cost_reduction_at_least bounds it with the baseline's largest
    budget; best_rce: lowest RCE anywhere on the grid.
    """

    sampler: str
    aggregator: str
    evaluations_to_target: float | None
    raters_at_target: int | None
    min_raters_reaching_target: int | None
    cost_reduction: float | None
    cost_reduction_at_least: float | None
    best_rce: float


@dataclass(frozen=True, slots=True, eq=False)
class SimulationResult:
    """rce, mean_relative_error: (samplers, aggregators, draws, raters) pooled and per-pair
    forms; unique_inputs: (samplers, draws) mean distinct inputs per pair; floor_rce:
    (aggregators, raters) RCE of the aggregator's labels on the whole probing set, i.e. the bias
    no sample size removes (NaN where no closed form exists); siglip_rce: RCE of scoring with
    the cheap model's probabilities alone (costs no ratings)."""

    config: SimulationConfig
    rce: FloatArray
    mean_relative_error: FloatArray
    unique_inputs: FloatArray
    floor_rce: FloatArray
    siglip_rce: float
    true_rho: FloatArray
    base_rate: FloatArray

    @property
    def evaluations(self) -> FloatArray:
        """(samplers, draws, raters): mean distinct inputs x raters per pair."""
        out: FloatArray = (
            self.unique_inputs[:, :, None] * np.asarray(self.config.raters)[None, None]
        )
        return out

    def summaries(self, target_rce: float | None = None) -> tuple[StrategySummary, ...]:
        """Every strategy against target_rce (default: the config's)."""
        target = self.config.target_rce if target_rce is None else target_rce
        cfg = self.config
        evals = self.evaluations
        found: dict[tuple[str, str], tuple[float | None, int | None, int | None]] = {}
        for s, sampler in enumerate(cfg.samplers):
            for a, agg in enumerate(cfg.aggregators):
                found[(sampler, agg)] = evaluations_to_target(
                    self.rce[s, a], evals[s], cfg.raters, target
                )
        base = found.get(BASELINE)
        base_evals = base[0] if base else None
        base_max = None
        if BASELINE[0] in cfg.samplers:
            base_max = float(evals[cfg.samplers.index(BASELINE[0])].max())
        out = []
        for s, sampler in enumerate(cfg.samplers):
            for a, agg in enumerate(cfg.aggregators):
                ev, raters, min_raters = found[(sampler, agg)]
                reduction = base_evals / ev if base_evals is not None and ev else None
                at_least = None
                if base is not None and base_evals is None and ev and base_max is not None:
                    at_least = base_max / ev
                out.append(
                    StrategySummary(
                        sampler=sampler,
                        aggregator=agg,
                        evaluations_to_target=ev,
                        raters_at_target=raters,
                        min_raters_reaching_target=min_raters,
                        cost_reduction=reduction,
                        cost_reduction_at_least=at_least,
                        best_rce=float(np.nanmin(self.rce[s, a])),
                    )
                )
        return tuple(out)

    def surface(self, sampler: str, aggregator: str) -> RceSurface:
        """Expected RCE of one strategy by (distinct inputs per pair, raters), for planning."""
        s = self.config.samplers.index(sampler)
        a = self.config.aggregators.index(aggregator)
        return RceSurface(
            inputs=self.unique_inputs[s].copy(),
            raters=tuple(self.config.raters),
            rce=self.rce[s, a].copy(),
            floor=self.floor_rce[a].copy(),
            source="simulation",
        )

    def to_dict(
        self, target_rce: float | None = None, also_targets: tuple[float, ...] = ()
    ) -> dict[str, Any]:
        """JSON-ready: config, per-strategy summaries and the full RCE grid (docs/statistics.md).

        also_targets: further target RCEs, summarised per strategy under "by_target".
        """
        cfg = self.config
        target = cfg.target_rce if target_rce is None else target_rce
        extra = {
            t: {f"{x.sampler}+{x.aggregator}": x for x in self.summaries(t)} for t in also_targets
        }
        strategies = {}
        for summ in self.summaries(target):
            s = cfg.samplers.index(summ.sampler)
            a = cfg.aggregators.index(summ.aggregator)
            entry = asdict(summ)
            entry["rce_grid"] = _nan_to_none(self.rce[s, a])
            entry["mean_relative_error_grid"] = _nan_to_none(self.mean_relative_error[s, a])
            entry["evaluations_grid"] = _nan_to_none(self.evaluations[s])
            name = f"{summ.sampler}+{summ.aggregator}"
            entry["by_target"] = {
                str(t): {
                    k: v
                    for k, v in asdict(extra[t][name]).items()
                    if k not in ("sampler", "aggregator", "best_rce")
                }
                for t in also_targets
            }
            strategies[name] = entry
        return {
            "target_rce": target,
            "config": asdict(cfg),
            "draws": list(cfg.draws),
            "raters": list(cfg.raters),
            "unique_inputs": {
                sampler: _nan_to_none(self.unique_inputs[s])
                for s, sampler in enumerate(cfg.samplers)
            },
            "siglip_only_rce": self.siglip_rce,
            "noise_floor_rce": {
                agg: _nan_to_none(self.floor_rce[a]) for a, agg in enumerate(cfg.aggregators)
            },
            "strategies": strategies,
        }


def _nan_to_none(values: FloatArray) -> Any:
    listed = np.asarray(values, dtype=np.float64).tolist()

    def clean(x: Any) -> Any:
        if isinstance(x, list):
            return [clean(v) for v in x]
        return None if x is None or math.isnan(x) else x

    return clean(listed)


def evaluations_to_target(
    rce: FloatArray, evaluations: FloatArray, raters: tuple[int, ...], target: float
) -> tuple[float | None, int | None, int | None]:
    """Cheapest evaluations reaching `target` on an RCE grid (draws, raters).

    Along each rater column, the first crossing is interpolated linearly in log(evaluations).
    Returns (evaluations, raters of that design, fewest raters that reach the target at all),
    or Nones when no design reaches it.
    """
    best: float | None = None
    best_raters: int | None = None
    min_raters: int | None = None
    for r, m in enumerate(raters):
        col = rce[:, r]
        hits = np.flatnonzero(col <= target)
        if hits.size == 0:
            continue
        d = int(hits[0])
        if d == 0:
            ev = float(evaluations[0, r])
        else:
            hi, lo = col[d - 1], col[d]
            t = (hi - target) / (hi - lo) if hi > lo else 1.0
            e0, e1 = np.log(evaluations[d - 1, r]), np.log(evaluations[d, r])
            ev = float(np.exp(e0 + t * (e1 - e0)))
        min_raters = m if min_raters is None else min(min_raters, m)
        if best is None or ev < best:
            best, best_raters = ev, m
    return best, best_raters, min_raters
