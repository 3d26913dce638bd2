"""Names and default constants of the statistics core that the CLI needs to build its options
and --help: plain Python, no numpy, so `turkops --help` does not load the numerical stack.
The modules that implement them import these (one definition each).
"""

from __future__ import annotations

DEFAULT_GAMMA = 0.2
"""Share of the uniform proposal in every mixture (METHOD.md: best around 200 samples)."""

DEFAULT_EPS = 0.01
"""ε of q^model ∝ |ā·c̄ + ε|; chosen by simulation (docs/statistics.md, "Decisions")."""

SAMPLERS = ("uniform", "ag-is", "mg-is")
MA_ACT = "ma-act"
"""The model-assisted, activation-aware, model-averaged estimator (ma_act.py). Not a label
aggregator: it needs arrays over the whole probing set, so the simulators compute it themselves
(ma_act_cell.py) instead of through strategies.AGGREGATORS."""

DEFAULT_AGGREGATOR = MA_ACT
"""The one default aggregator of collect, report, plan, the docs and the demo, chosen by
measurement (docs/statistics.md, 2b and 2c): the only one whose 95% intervals cover the true ρ
(0.95 / 0.97 with 1 / 3 raters, against bragg-model's 0.20 / 0.42) with the best RCE; its null
spread is 2 points above bragg-model's. domain.DEFAULT_AGGREGATION is this value."""
TURKOPS_AGGREGATOR = DEFAULT_AGGREGATOR
DEFAULT_AGGREGATORS = ("majority", "mean", "bragg-uniform", "bragg-model", "ds-act", MA_ACT)

BASELINE = ("uniform", "majority")
"""The strategy every cost reduction is measured against (the paper's)."""

AGGREGATOR_NAMES = (
    "majority",
    "mean",
    "bragg-uniform",
    "bragg-model",
    "bragg-beta",
    "bragg-model-em",
    "bragg-model-corrected",
    "ds-model",
    "ds-act",
    "ds-act-soft",
    "two-coin",
    "two-coin-act",
)
"""The keys of strategies.AGGREGATORS, in order (a test keeps them equal)."""

SIMULATOR_AGGREGATORS = (*AGGREGATOR_NAMES, MA_ACT)
"""Every name the RCE simulator (`turkops simulate --aggregators`, `turkops plan`) accepts."""
