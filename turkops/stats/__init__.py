"""Pure statistics core of turkops: numpy/scipy only, no I/O, randomness only from a Generator.

Modules: sampling (MG-IS/AG-IS proposals, draws, weights), correlation (importance-weighted
Pearson, bootstrap, RCE), aggregation (mean, majority, BRAgg), dawid_skene (per-worker errors),
agreement (Fleiss' kappa), comparison (t-tests), planning (MTurk cost model, budget plans),
pilot (RCE by design from a pilot), synthetic / strategies / simulation (the simulator),
intervals (percentile / BCa / Fisher-z from replicates), coverage (intervals for any aggregator
with a re-fit per replicate; coverage, null and mis-ranking by simulation), model_assisted
(a difference estimator whose variance sees undrawn inputs), ma_act / ma_act_cell (the
model-assisted activation-aware estimator, and its bridge from a simulated cell), pooling
(a study's per-pair estimates shrunk towards the cheap model's line, robust Fay-Herriot).
The API is documented in docs/statistics.md.
"""

from turkops.stats.names import DEFAULT_AGGREGATOR

__all__ = ["DEFAULT_AGGREGATOR"]
