"""Planning from a pilot's own ratings."""

from __future__ import annotations

import numpy as np
import pytest

from turkops.stats.pilot import rce_surface_from_pilot


def _pilot(seed: int = 0, k: int = 30, n0: int = 400, m: int = 5):
    rng = np.random.default_rng(seed)
    truth = rng.uniform(size=(k, n0)) < 0.3
    act = rng.normal(size=(k, n0)) + 1.0 * truth
    votes = (truth[..., None] ^ (rng.uniform(size=(k, n0, m)) < 0.25)).astype(np.int8)
    workers = rng.integers(0, 40, (k, n0, m))
    probs = np.clip(0.5 * truth + 0.25 + 0.1 * rng.normal(size=(k, n0)), 0.01, 0.99)
    return (act - act.mean()) / act.std(), np.ones((k, n0)), probs, votes, workers


def test_expected_error_falls_with_inputs_and_raters() -> None:
    surface, reference = rce_surface_from_pilot(
        *_pilot(),
        np.random.default_rng(1),
        inputs=(25, 50, 100, 200),
        raters=(1, 3, 5),
        aggregator="bragg-model",
        n_repeats=10,
    )
    assert reference.shape == (30,)
    assert surface.source == "pilot" and surface.rce.shape == (4, 3)
    assert np.all(np.diff(surface.rce, axis=0) < 0)  # more inputs, less error
    assert surface.rce[2, 0] > surface.rce[2, 2]  # more raters, less error
    assert surface.at(100, 3) == pytest.approx(surface.rce[2, 1])


def test_pilot_arguments_are_checked() -> None:
    args = _pilot(k=3, n0=50)
    with pytest.raises(ValueError):
        rce_surface_from_pilot(*args, np.random.default_rng(0), inputs=(50,), raters=(1,))
    with pytest.raises(ValueError):
        rce_surface_from_pilot(*args, np.random.default_rng(0), inputs=(10,), raters=(6,))
    with pytest.raises(ValueError):
        rce_surface_from_pilot(
            *args, np.random.default_rng(0), inputs=(10,), raters=(1,), aggregator="nope"
        )
