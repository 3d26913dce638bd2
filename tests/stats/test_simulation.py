"""The simulator's claims at a small size: sampling gain, noise floor, fewer raters, floor broken.

docs/benchmarks.md reports the same claims at the paper's size (N = 50,000).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from turkops.stats.simulation import (
    DEFAULT_AGGREGATORS,
    TURKOPS_AGGREGATOR,
    SimulationConfig,
    evaluations_to_target,
    run_simulation,
)
from turkops.stats.synthetic import CrowdSetting, PopulationSetting

RARE = PopulationSetting(n_inputs=5000, base_rate=(0.002, 0.01))
DRAWS = (10, 25, 50, 100, 200, 400, 800, 1600)


def test_mg_is_needs_far_fewer_evaluations_than_uniform_with_exact_labels() -> None:
    cfg = SimulationConfig(
        population=RARE,
        crowd=CrowdSetting(eta=0.0),
        n_pairs=40,
        pairs_per_study=40,
        draws=DRAWS,
        raters=(1,),
        samplers=("uniform", "mg-is"),
        aggregators=("majority",),
    )
    res = run_simulation(cfg, np.random.default_rng(0))
    by = {(s.sampler, s.aggregator): s for s in res.summaries()}
    uniform, mg = by[("uniform", "majority")], by[("mg-is", "majority")]
    assert uniform.evaluations_to_target is not None and mg.evaluations_to_target is not None
    assert mg.cost_reduction is not None and mg.cost_reduction >= 5
    assert np.all(np.diff(res.rce[0, 0, :, 0][2:]) < 0.05)  # the error falls with the sample


def test_rating_noise_sets_a_floor_that_only_aggregation_lowers() -> None:
    cfg = SimulationConfig(
        population=RARE,
        n_pairs=30,
        pairs_per_study=30,
        draws=DRAWS,
        raters=(1, 3, 9),
        samplers=("uniform", "mg-is"),
        aggregators=("majority", "bragg-uniform", "bragg-model", "ds-act"),
    )
    res = run_simulation(cfg, np.random.default_rng(1))
    floor = dict(zip(cfg.aggregators, res.floor_rce, strict=True))
    assert floor["majority"][1] > 0.6  # 3 raters, 23% symmetric noise, rare concepts
    assert floor["bragg-model"][1] < floor["bragg-uniform"][1] < floor["majority"][1]
    assert np.all(np.diff(floor["majority"]) < 0)  # more raters, lower floor
    # With this noise the paper's baseline never reaches 27.5% RCE: there is no 40x to measure.
    by = {(s.sampler, s.aggregator): s for s in res.summaries()}
    assert by[("uniform", "majority")].evaluations_to_target is None
    # The floor does not shrink with more inputs: majority stays above it at every budget.
    mg = cfg.samplers.index("mg-is")
    assert res.rce[mg, 0, -1, 1] > 0.9 * floor["majority"][1]
    # ds-act conditions on the activation too and goes through BRAgg's floor (in RCE; its
    # null and ranking are worse, which is why it is not the default: docs/statistics.md).
    ours = cfg.aggregators.index("ds-act")
    assert res.rce[mg, ours, -1, 1] < 0.8 * floor["bragg-model"][1]
    assert by[("mg-is", "ds-act")].evaluations_to_target is not None


def test_bragg_needs_fewer_raters_than_majority() -> None:
    common = PopulationSetting(n_inputs=5000, base_rate=(0.05, 0.2))
    cfg = SimulationConfig(
        population=common,
        n_pairs=30,
        pairs_per_study=30,
        draws=DRAWS,
        raters=(1, 3, 5, 9),
        samplers=("uniform",),
        aggregators=("majority", "bragg-model"),
    )
    res = run_simulation(cfg, np.random.default_rng(2))
    by = {s.aggregator: s for s in res.summaries()}
    majority, bragg = by["majority"], by["bragg-model"]
    assert bragg.min_raters_reaching_target is not None
    assert majority.min_raters_reaching_target is None or (
        bragg.min_raters_reaching_target < majority.min_raters_reaching_target
    )


def test_evaluations_to_target_interpolates_in_log_evaluations() -> None:
    rce = np.array([[0.5, 0.6], [0.3, 0.4], [0.2, 0.35]])
    evals = np.array([[10.0, 30.0], [20.0, 60.0], [40.0, 120.0]])
    ev, raters, fewest = evaluations_to_target(rce, evals, (1, 3), 0.25)
    assert raters == 1 == fewest
    assert ev == pytest.approx(np.exp((np.log(20) + np.log(40)) / 2))
    assert evaluations_to_target(rce, evals, (1, 3), 0.1) == (None, None, None)


def test_result_serialises_and_feeds_the_planner() -> None:
    cfg = SimulationConfig(
        population=PopulationSetting(n_inputs=1000),
        n_pairs=4,
        pairs_per_study=2,
        draws=(20, 80),
        raters=(1, 3),
        aggregators=("majority", "bragg-model"),
    )
    res = run_simulation(cfg, np.random.default_rng(3))
    data = json.loads(json.dumps(res.to_dict()))
    assert set(data["strategies"]) == {f"{s}+{a}" for s in cfg.samplers for a in cfg.aggregators}
    assert data["noise_floor_rce"]["majority"][0] is not None
    surface = res.surface("mg-is", "bragg-model")
    assert surface.at(float(res.unique_inputs[2, 1]), 3) == pytest.approx(res.rce[2, 1, 1, 1])
    again = run_simulation(cfg, np.random.default_rng(3))
    np.testing.assert_array_equal(res.rce, again.rce)


def test_invalid_configs_raise() -> None:
    with pytest.raises(ValueError):
        SimulationConfig(draws=(100, 50))
    with pytest.raises(ValueError):
        SimulationConfig(aggregators=("nonsense",))
    with pytest.raises(ValueError):
        SimulationConfig(raters=(200,))
    with pytest.raises(ValueError, match="ma-act"):  # its estimator divides by q everywhere
        SimulationConfig(aggregators=("ma-act",), gamma=0.0)


def test_a_strategy_scores_the_same_whatever_it_is_compared_with() -> None:
    base = dict(
        population=PopulationSetting(n_inputs=2000),
        n_pairs=6,
        pairs_per_study=3,
        draws=(20, 80),
        raters=(1, 3),
    )
    alone = run_simulation(
        SimulationConfig(samplers=("mg-is",), aggregators=("bragg-model",), **base),
        np.random.default_rng(5),
    )
    crowd = run_simulation(
        SimulationConfig(aggregators=("majority", "bragg-model"), **base),
        np.random.default_rng(5),
    )
    np.testing.assert_allclose(alone.rce[0, 0], crowd.rce[2, 1])


def test_one_default_aggregator_everywhere() -> None:
    from turkops.cli.results import AGG_OPT
    from turkops.cli.stats import COLLECT_TO_SIMULATOR
    from turkops.domain import DEFAULT_AGGREGATION
    from turkops.services.collect import CollectOptions
    from turkops.stats import DEFAULT_AGGREGATOR

    assert DEFAULT_AGGREGATION.value == DEFAULT_AGGREGATOR == TURKOPS_AGGREGATOR
    assert CollectOptions().aggregations == (DEFAULT_AGGREGATION,)
    assert AGG_OPT.default == DEFAULT_AGGREGATOR
    assert COLLECT_TO_SIMULATOR[DEFAULT_AGGREGATOR] in DEFAULT_AGGREGATORS


def test_ma_act_runs_for_every_sampler_from_the_whole_probing_set() -> None:
    base = dict(
        population=PopulationSetting(n_inputs=2000),
        n_pairs=6,
        pairs_per_study=3,
        draws=(20, 80),
        raters=(1, 3),
    )
    both = run_simulation(
        SimulationConfig(aggregators=("bragg-model", "ma-act"), **base), np.random.default_rng(7)
    )
    ours = both.config.aggregators.index("ma-act")
    assert np.all(np.isfinite(both.rce[:, ours])) and np.all(both.rce[:, ours] > 0)
    assert np.all(np.isnan(both.floor_rce[ours]))  # no closed-form floor: the planner holds it
    data = json.loads(json.dumps(both.to_dict()))
    assert {f"{s}+ma-act" for s in both.config.samplers} <= set(data["strategies"])
    # Common random numbers hold for it too: the same draws and votes whatever joins.
    alone = run_simulation(
        SimulationConfig(samplers=("ag-is",), aggregators=("ma-act",), **base),
        np.random.default_rng(7),
    )
    np.testing.assert_allclose(alone.rce[0, 0], both.rce[1, ours])


def test_ma_act_beats_bragg_model_in_rce_at_the_papers_design() -> None:
    # 180 MG-IS draws x 3 raters, rare concepts. Measured (seeds 0-9 of this config): ma-act's
    # RCE is 0.72-0.89 of bragg-model's (seed 0: 0.276 against 0.352); BRAgg's labels carry
    # the noise floor, ma-act's difference estimator corrects the cheap model with the votes.
    cfg = SimulationConfig(
        population=RARE,
        n_pairs=120,
        pairs_per_study=30,
        draws=(180,),
        raters=(3,),
        samplers=("mg-is",),
        aggregators=("bragg-model", "ma-act"),
    )
    res = run_simulation(cfg, np.random.default_rng(0))
    bragg, ours = res.rce[0, :, 0, 0]
    assert np.isfinite(ours) and ours < 0.9 * bragg
