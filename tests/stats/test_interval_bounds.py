"""Issue 10 item 21: a correlation interval never leaves [-1, 1] (demo showed [0.66, 1.02])."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from turkops.stats.correlation import (
    correlation_interval,
    correlation_intervals,
    weighted_correlation,
)


def test_heavy_weights_interval_is_clipped_to_the_correlation_range() -> None:
    # Few draws with large importance weights: the non-self-normalised bootstrap replicates
    # reach -2.5 and 1.2 here, far outside what a correlation can be.
    a = np.array([2.0, 2.0, 1.5, -0.5, -0.5, -0.5, -0.5, -0.5])
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0], dtype=float)
    w = np.array([3.0, 3.0, 3.0, 0.5, 0.5, 0.5, 0.5, 0.5])
    ci = correlation_interval(a, y, w, None, np.random.default_rng(0), n_boot=500)
    assert ci.low == -1.0 and ci.high == 1.0
    assert ci.se > 1.0  # the spread itself is reported unclipped
    assert ci.rho == weighted_correlation(a, y, w).rho  # the estimate is not touched


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=3, max_value=12),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    scale=st.floats(min_value=0.1, max_value=20.0),
)
def test_every_interval_lies_in_minus_one_one(n: int, seed: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, n))
    y = (rng.uniform(size=(3, n)) < 0.4).astype(float)
    w = rng.exponential(scale, size=(3, n))
    out = correlation_intervals(a, y, w, None, rng, n_boot=50)
    assert np.all(out.low >= -1.0) and np.all(out.high <= 1.0)
    assert np.all(out.low <= out.high)


def test_clip_correlation() -> None:
    from turkops.stats.correlation import clip_correlation  # new with the fix

    assert clip_correlation([-1.3, -0.2, 0.5, 1.02]).tolist() == [-1.0, -0.2, 0.5, 1.0]
