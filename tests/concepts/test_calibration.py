"""Calibration: one curve P = sigmoid(a (cos + b)) for every source, and the BCE fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

from turkops.concepts.calibration import (
    Calibration,
    CalibrationKind,
    CalibrationMode,
    apply_calibration,
    bce,
    choose_calibration,
    fit_calibration,
    model_calibration,
    published_calibration,
)
from turkops.domain import InputError, ModelError


def test_published_constants_from_method() -> None:
    expected = {
        "ViT-SO400M-14-SigLIP-384": (58.0, -0.13),
        "ViT-L-16-SigLIP-384": (60.0, -0.09),
        "ViT-L-14-336": (58.0, -0.25),
    }
    for name, (a, b) in expected.items():
        cal = published_calibration(name)
        assert cal is not None and cal.kind is CalibrationKind.PUBLISHED
        assert (cal.a, cal.b) == (a, b)
    assert published_calibration("ViT-B-16-SigLIP") is None
    # P = sigmoid(58 (0.2 - 0.13))
    so400m = published_calibration("ViT-SO400M-14-SigLIP-384")
    assert so400m is not None
    p = apply_calibration(np.array([0.2]), so400m)
    assert p[0] == pytest.approx(expit(58 * 0.07), rel=1e-6)


def test_model_calibration_is_the_siglip_head() -> None:
    cos = np.linspace(-0.3, 0.5, 17)
    logit_scale, logit_bias = math.log(117.33), -12.93
    cal = model_calibration("ViT-B-16-SigLIP", logit_scale, logit_bias)
    direct = expit(math.exp(logit_scale) * cos + logit_bias)
    np.testing.assert_allclose(apply_calibration(cos, cal), direct, rtol=1e-5, atol=1e-7)


def test_choose_calibration_rules() -> None:
    so400m = "ViT-SO400M-14-SigLIP-384"
    assert choose_calibration(so400m, logit_scale=4.7, logit_bias=-16).kind == "published"
    forced = choose_calibration(so400m, mode=CalibrationMode.MODEL, logit_scale=4.7,
                                logit_bias=-16)
    assert forced.kind == "model"
    other = choose_calibration("ViT-B-16-SigLIP", logit_scale=4.7, logit_bias=-16)
    assert other.kind == "model"
    user = Calibration(CalibrationKind.USER, 30.0, -0.2, "cli")
    assert choose_calibration(so400m, user=user) is user
    with pytest.raises(ModelError, match="plain CLIP.*--calib-a"):
        choose_calibration("ViT-B-32", logit_scale=4.6, logit_bias=None)
    with pytest.raises(ModelError, match="no published calibration"):
        choose_calibration("ViT-B-16-SigLIP", mode=CalibrationMode.PUBLISHED, logit_scale=1,
                           logit_bias=0)
    with pytest.raises(ModelError, match="--calibration model does not apply"):
        choose_calibration("ViT-L-14-336", mode=CalibrationMode.MODEL, logit_scale=4.6,
                           logit_bias=None)
    clip336 = choose_calibration("ViT-L-14-336", logit_scale=4.6, logit_bias=None)
    assert (clip336.a, clip336.b) == (58.0, -0.25)


def test_calibration_json_roundtrip_and_validation() -> None:
    cal = Calibration(CalibrationKind.FITTED, 41.5, -0.11, "fitted on labels.csv")
    assert Calibration.from_json(cal.to_json()) == cal
    with pytest.raises(InputError):
        Calibration(CalibrationKind.USER, -1.0, 0.0, "negative slope")
    with pytest.raises(InputError):
        Calibration.from_json('{"a": 1}')


@given(st.floats(1.0, 200.0), st.floats(-1.0, 1.0))
def test_probabilities_in_unit_interval_and_monotone(a: float, b: float) -> None:
    cos = np.linspace(-1, 1, 101)
    p = apply_calibration(cos, Calibration(CalibrationKind.USER, a, b, "h"))
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= 0)


def test_fit_recovers_known_constants() -> None:
    rng = np.random.default_rng(7)
    a_true, b_true = 58.0, -0.13
    cos = rng.normal(0.1, 0.05, size=40_000)
    labels = (rng.random(cos.size) < expit(a_true * (cos + b_true))).astype(float)
    fit = fit_calibration(cos, labels, source="sim")
    assert fit.converged and fit.n == cos.size and fit.n_positive == labels.sum()
    assert fit.calibration.kind is CalibrationKind.FITTED
    assert fit.calibration.a == pytest.approx(a_true, rel=0.06)
    assert fit.calibration.b == pytest.approx(b_true, abs=0.005)
    # The optimum beats the truth (on this sample) and a wrong calibration by a margin.
    truth = Calibration(CalibrationKind.USER, a_true, b_true, "truth")
    wrong = Calibration(CalibrationKind.USER, 20.0, 0.0, "wrong")
    assert fit.bce <= bce(cos, labels, truth) + 1e-9
    assert bce(cos, labels, wrong) > fit.bce + 0.05
    assert fit.bce == pytest.approx(bce(cos, labels, fit.calibration), rel=1e-6)


def test_fit_weights_equal_repetition() -> None:
    rng = np.random.default_rng(3)
    cos = rng.normal(0.1, 0.05, size=500)
    labels = (rng.random(500) < expit(40 * (cos - 0.1))).astype(float)
    w = rng.integers(1, 4, size=500)
    weighted = fit_calibration(cos, labels, weights=w).calibration
    repeated = fit_calibration(np.repeat(cos, w), np.repeat(labels, w)).calibration
    assert weighted.a == pytest.approx(repeated.a, rel=1e-4)
    assert weighted.b == pytest.approx(repeated.b, abs=1e-5)


@pytest.mark.parametrize(
    ("cos", "labels", "match"),
    [
        ([0.1, 0.2, 0.3], [1, 1, 1], "all the same"),
        ([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], "separate the labels perfectly"),
        ([0.1, 0.2], [0, 2], r"\[0, 1\]"),
        ([0.1, 0.2, 0.3], [0, 1], "same length"),
        ([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0.0], "slope is not positive"),
        ([], [], "no labelled pairs"),
    ],
)
def test_fit_rejects_unusable_labels(cos: list[float], labels: list[float], match: str) -> None:
    with pytest.raises(InputError, match=match):
        fit_calibration(cos, labels)
