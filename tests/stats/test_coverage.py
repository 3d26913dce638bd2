"""Coverage, the null and mis-ranking, measured by simulation at a small size (seconds).

The grid is smaller than the docs' (docs/statistics.md, "Coverage"), so thresholds sit between
what the methods measured there, with room for the noise of 60-120 pairs.
"""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats import DEFAULT_AGGREGATOR
from turkops.stats.coverage import (
    CoverageConfig,
    aggregator_intervals,
    resample_cell,
    run_coverage,
)
from turkops.stats.strategies import AGGREGATORS, AggregatorOptions, Labels, RatingCell
from turkops.stats.synthetic import PopulationSetting

SMALL_POP = PopulationSetting(n_inputs=4000, base_rate=(0.002, 0.05), correlation=(0.0, 0.5))


def _config(**kw: object) -> CoverageConfig:
    args: dict = {"population": SMALL_POP, "n_pairs": 60, "n_boot": 40, "raters": (1,)}
    args.update(kw)
    return CoverageConfig(**args)


def test_refitting_the_aggregator_per_replicate_covers_better_than_fixed_labels() -> None:
    # ds-act fits worker errors and per-pair slopes by EM: the old bootstrap held its labels
    # fixed and missed that uncertainty (the audit: 48% coverage with 1 rater).
    refit = run_coverage(_config(aggregators=("ds-act",)), np.random.default_rng(0)).rows[0]
    fixed = run_coverage(
        _config(aggregators=("ds-act",), refit=False), np.random.default_rng(0)
    ).rows[0]
    assert refit.coverage >= fixed.coverage + 0.1, (refit, fixed)
    assert refit.null_coverage >= fixed.null_coverage + 0.1, (refit, fixed)


def test_model_assisted_interval_covers_rare_concepts_where_the_bootstrap_does_not() -> None:
    cfg = _config(aggregators=("exact", "exact-ma"), n_pairs=120, method="percentile", refit=False)
    rows = {r.aggregator: r for r in run_coverage(cfg, np.random.default_rng(0)).rows}
    # Exact labels: no rating noise, so only the sampling of rare positives is left.
    assert rows["exact"].coverage < 0.85, rows["exact"]
    assert rows["exact-ma"].coverage >= 0.88, rows["exact-ma"]
    assert rows["exact-ma"].null_coverage >= 0.88, rows["exact-ma"]


def test_the_default_covers_and_ranks_at_least_as_well_as_bragg_model() -> None:
    # Issue 12 asks for both: intervals that cover (item 1) and a null and ranking no worse than
    # bragg-model's (item 3). ma-act's pooled point (pooling.py) ranks better than bragg-model
    # at both rater counts; its null matches bragg-model's with 3 raters and is a little wider
    # with 1 (docs/statistics.md 2d). At this small grid (600 pairs, N = 4000, seed 0) it
    # measured: 1 rater null 0.005, mis-ranking 0.035 (bragg-model 0.0017, 0.047); 3 raters
    # null 0.0033, mis-ranking 0.037 (0.0067, 0.043). The pairs' own estimates, unpooled, gave
    # 0.043, 0.065 and 0.015, 0.050.
    cfg = _config(
        aggregators=tuple(dict.fromkeys((DEFAULT_AGGREGATOR, "bragg-model"))),
        n_pairs=600,
        raters=(1, 3),
        refit=False,
    )
    res = run_coverage(cfg, np.random.default_rng(0))
    for m in (1, 3):
        default, bragg = res.row(DEFAULT_AGGREGATOR, m), res.row("bragg-model", m)
        assert default.coverage >= 0.9 and bragg.coverage < 0.5, (default, bragg)
        assert default.misranking <= bragg.misranking, (default, bragg)
        assert default.rce < bragg.rce, (default, bragg)
    three, bragg3 = res.row(DEFAULT_AGGREGATOR, 3), res.row("bragg-model", 3)
    assert three.null_spread <= bragg3.null_spread, (three, bragg3)
    assert res.row(DEFAULT_AGGREGATOR, 1).null_spread <= 0.01, res.row(DEFAULT_AGGREGATOR, 1)


def test_ds_act_spreads_unrelated_explanations_wider_than_the_default() -> None:
    # The measurement can tell: ds-act with one rater puts unrelated explanations at |ρ̂| > 0.1
    # far more often (0.20 against 0.008 at 120 pairs).
    cfg = _config(aggregators=(DEFAULT_AGGREGATOR, "ds-act"), n_pairs=120, refit=False)
    res = run_coverage(cfg, np.random.default_rng(0))
    assert res.row("ds-act", 1).null_spread > res.row(DEFAULT_AGGREGATOR, 1).null_spread + 0.1


def _cell(rng: np.random.Generator, k: int = 4, n: int = 30, m: int = 3) -> RatingCell:
    votes = (rng.uniform(size=(k * n, m)) < 0.3).astype(np.int8)
    return RatingCell(
        positives=votes.sum(1).reshape(k, n).astype(float),
        n_raters=m,
        concept_probs=rng.uniform(0.01, 0.9, size=(k, n)),
        activations_z=rng.normal(size=(k, n)),
        unique_of_draw=np.arange(k * n),
        votes=votes,
        workers=rng.integers(0, 10, size=(k * n, m)).astype(np.int32),
        n_workers=10,
    )


def test_any_aggregator_function_plugs_in() -> None:
    rng = np.random.default_rng(5)
    cell = _cell(rng)

    def share(c: RatingCell, opts: AggregatorOptions) -> Labels:  # not a turkops aggregator
        return Labels(c.positives / c.n_raters)

    w = np.ones(cell.positives.shape)
    res = aggregator_intervals(cell, share, AggregatorOptions(), w, rng, n_boot=30)
    assert res.replicates.shape == (30, 4)
    assert np.all(res.low <= res.high) and np.all(np.abs(res.point) <= 1)


def test_resampling_every_draw_once_gives_back_the_study() -> None:
    rng = np.random.default_rng(6)
    cell = _cell(rng)
    same = resample_cell(cell, np.tile(np.arange(30), (4, 1)))
    for name in ("bragg-model", "ds-act"):
        a = AGGREGATORS[name](cell, AggregatorOptions()).values
        b = AGGREGATORS[name](same, AggregatorOptions()).values
        np.testing.assert_allclose(a, b)


def test_coverage_by_true_rho_adds_up_and_shows_attenuation_growing_with_rho() -> None:
    # bragg-model's labels hold a noise floor (docs/statistics.md 2b): its estimate falls short
    # of the truth more, the stronger the pair. The bins must show that, and add up to the row.
    cfg = _config(aggregators=("bragg-model", "exact"), n_pairs=120)
    res = run_coverage(cfg, np.random.default_rng(2))
    for row, pairs in zip(res.rows, res.pairs, strict=True):
        assert (row.aggregator, row.raters) == (pairs.aggregator, pairs.raters)
        assert sum(b.n_pairs for b in row.by_rho) == row.n_pairs == int(pairs.right.sum())
        pooled = sum(b.coverage * b.n_pairs for b in row.by_rho) / row.n_pairs
        assert pooled == pytest.approx(row.coverage)
        held = (pairs.low <= pairs.truth) & (pairs.truth <= pairs.high)
        assert held[pairs.right].mean() == pytest.approx(row.coverage)
        wrong_first = pairs.point[~pairs.right] >= pairs.point[pairs.right]
        assert np.array_equal(pairs.neuron[~pairs.right], pairs.neuron[pairs.right])
        assert wrong_first.mean() == pytest.approx(row.misranking)
    bragg = res.row("bragg-model", 1).by_rho
    assert bragg[-1].low >= 0.4 and bragg[-1].bias < bragg[0].bias - 0.1, bragg
    exact = res.row("exact", 1).by_rho
    assert abs(exact[-1].bias) < abs(bragg[-1].bias) / 2, (exact, bragg)
