"""Coverage, the null and mis-ranking, measured by simulation at a small size (seconds).

The grid is smaller than the docs' (docs/statistics.md, "Coverage"), so thresholds sit between
what the methods measured there, with room for the noise of 60-120 pairs.
"""

from __future__ import annotations

import numpy as np

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


def test_the_default_covers_and_stays_near_bragg_model_on_the_null_and_ranking() -> None:
    # Issue 12 asks for both: intervals that cover (item 1) and a null and ranking no worse than
    # bragg-model's (item 3). The default (ma-act) meets the first; on the second it is level
    # on mis-ranking with 3 raters and worse on the null, and with 1 rater worse on both
    # (docs/statistics.md 2c, four seeds of 600 pairs at N = 20,000). This pins what holds at a
    # small grid (120 pairs, N = 4000) so that a regression shows: bounds sit at or above the
    # figures measured here (1 rater: null 0.050, mis-ranking 0.075; 3 raters: null 0.008,
    # mis-ranking 0.033 against bragg-model's 0.050).
    cfg = _config(
        aggregators=tuple(dict.fromkeys((DEFAULT_AGGREGATOR, "bragg-model", "ds-act"))),
        n_pairs=120,
        raters=(1, 3),
        refit=False,
    )
    res = run_coverage(cfg, np.random.default_rng(0))
    for m in (1, 3):
        default, bragg = res.row(DEFAULT_AGGREGATOR, m), res.row("bragg-model", m)
        assert default.coverage >= 0.9 and bragg.coverage < 0.5, (default, bragg)
    three, bragg3 = res.row(DEFAULT_AGGREGATOR, 3), res.row("bragg-model", 3)
    assert three.null_spread <= 0.02 and three.misranking <= bragg3.misranking, (three, bragg3)
    one = res.row(DEFAULT_AGGREGATOR, 1)
    assert one.null_spread <= 0.08 and one.misranking <= 0.1, one
    # The measurement can tell: ds-act with one rater spreads unrelated explanations wider.
    assert res.row("ds-act", 1).null_spread > one.null_spread


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
