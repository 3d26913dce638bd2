"""Turning image/text cosine similarities into concept probabilities (pure numpy/scipy, no torch).

Every calibration is the same two-parameter curve, P = sigmoid(a * (cos + b)):

- published constants (METHOD.md, calibrated by the Linear Explanations / NeuronEval group on
  ImageNet labels with raw concept text and no prompt template),
- the SigLIP model's own head, sigmoid(exp(logit_scale) * cos + logit_bias), which is the same
  curve with a = exp(logit_scale), b = logit_bias / a,
- constants the user gives, or constants fitted here on labelled data by minimising BCE.

Keeping one form means one `apply_calibration` and one record of (kind, a, b, source) stored
next to the scores, whichever way the constants were obtained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit

from turkops.concepts.calibration_mode import CalibrationMode
from turkops.domain import InputError, ModelError


class CalibrationKind(StrEnum):
    PUBLISHED = "published"  # METHOD.md constants for a listed model
    MODEL = "model"  # the SigLIP model's own logit_scale / logit_bias
    USER = "user"  # a, b given by the user
    FITTED = "fitted"  # fit_calibration on labelled data


# Open_clip model name -> (A, B) for P = sigmoid(A * (cos + B)); see METHOD.md. They were fitted
# for the weights the group used (webli for SigLIP, openai for CLIP ViT-L-14-336).
PUBLISHED_CONSTANTS: Mapping[str, tuple[float, float]] = {
    "ViT-SO400M-14-SigLIP-384": (58.0, -0.13),
    "ViT-L-16-SigLIP-384": (60.0, -0.09),
    "ViT-L-14-336": (58.0, -0.25),
}


@dataclass(frozen=True, slots=True)
class Calibration:
    """P = sigmoid(a * (cos + b)); `source` says in words where a and b come from."""

    kind: CalibrationKind
    a: float
    b: float
    source: str

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)) or self.a <= 0:
            raise InputError(f"calibration needs a finite a > 0 and a finite b, got a={self.a}, "
                             f"b={self.b}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "a": self.a, "b": self.b, "source": self.source}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        try:
            return cls(
                kind=CalibrationKind(data["kind"]),
                a=float(data["a"]),
                b=float(data["b"]),
                source=str(data.get("source", "")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(f"not a calibration record (need kind, a, b): {exc}") from exc

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"calibration is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError("calibration JSON must be an object with kind, a, b, source")
        return cls.from_dict(data)


@dataclass(frozen=True, slots=True)
class CalibrationFit:
    """Result of fit_calibration with its diagnostics (mean BCE in nats per labelled pair)."""

    calibration: Calibration
    bce: float
    n: int
    n_positive: float  # sum of labels (a count for 0/1 labels)
    iterations: int
    converged: bool


def published_calibration(model_name: str) -> Calibration | None:
    constants = PUBLISHED_CONSTANTS.get(model_name)
    if constants is None:
        return None
    a, b = constants
    return Calibration(
        CalibrationKind.PUBLISHED,
        a,
        b,
        f"METHOD.md constants for {model_name} (ImageNet-calibrated, raw concept text)",
    )


def model_calibration(model_name: str, logit_scale: float, logit_bias: float) -> Calibration:
    """The SigLIP head: `logit_scale` is the stored log-scale, so the slope is exp(logit_scale)."""
    a = math.exp(logit_scale)
    return Calibration(
        CalibrationKind.MODEL,
        a,
        logit_bias / a,
        f"{model_name} logit_scale={logit_scale:.6g} (exp={a:.6g}) logit_bias={logit_bias:.6g}",
    )


def choose_calibration(
    model_name: str,
    *,
    mode: CalibrationMode = CalibrationMode.AUTO,
    logit_scale: float | None = None,
    logit_bias: float | None = None,
    user: Calibration | None = None,
) -> Calibration:
    """Pick the calibration for a model; `user` (explicit constants) always wins.

    `logit_bias` is None for plain CLIP models: their logit_scale is a softmax temperature, not a
    calibrated probability, so they need published or user constants.
    """
    if user is not None:
        return user
    published = published_calibration(model_name)
    if mode in (CalibrationMode.AUTO, CalibrationMode.PUBLISHED) and published is not None:
        return published
    if mode is CalibrationMode.PUBLISHED:
        listed = ", ".join(PUBLISHED_CONSTANTS)
        raise ModelError(f"no published calibration for {model_name} (listed: {listed}); "
                         "use --calibration model or pass --calib-a/--calib-b")
    if logit_scale is not None and logit_bias is not None:
        return model_calibration(model_name, logit_scale, logit_bias)
    if mode is CalibrationMode.MODEL:
        raise ModelError(f"{model_name} has no logit_bias (a plain CLIP model), so "
                         "--calibration model does not apply: use published constants or pass "
                         "--calib-a and --calib-b")
    raise ModelError(
        f"{model_name} has no logit_bias (a plain CLIP model) and no published calibration: "
        "pass --calib-a and --calib-b (fit them with `turkops concepts calibrate`)"
    )


def apply_calibration(cos: ArrayLike, calibration: Calibration) -> NDArray[np.float32]:
    """cos: any shape, cosine similarities in [-1, 1] -> probabilities of the same shape."""
    c = np.asarray(cos, dtype=np.float64)
    return expit(calibration.a * (c + calibration.b)).astype(np.float32)


def _check_labelled(cos: ArrayLike, labels: ArrayLike,
                    weights: ArrayLike | None) -> tuple[NDArray[np.float64], ...]:
    x = np.asarray(cos, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if not (x.shape == y.shape == w.shape):
        raise InputError(f"cos, labels and weights need the same length, got "
                         f"{x.size}, {y.size}, {w.size}")
    if x.size == 0:
        raise InputError("no labelled pairs to calibrate on")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(np.isfinite(w))):
        raise InputError("cosines, labels and weights must be finite numbers")
    if np.any((y < 0) | (y > 1)):
        raise InputError("labels must lie in [0, 1] (1 = concept present)")
    if np.any(w < 0) or w.sum() <= 0:
        raise InputError("weights must be >= 0 and not all zero")
    return x, y, w


def bce(cos: ArrayLike, labels: ArrayLike, calibration: Calibration,
        weights: ArrayLike | None = None) -> float:
    """Weighted mean binary cross-entropy (nats) of the calibrated probabilities."""
    x, y, w = _check_labelled(cos, labels, weights)
    z = calibration.a * (x + calibration.b)
    # log(1 + e^z) - y z is BCE written on logits; logaddexp keeps it finite for |z| >> 1.
    return float(np.sum(w * (np.logaddexp(0.0, z) - y * z)) / np.sum(w))


def fit_calibration(
    cos: ArrayLike,
    labels: ArrayLike,
    *,
    weights: ArrayLike | None = None,
    source: str = "fitted on labelled data",
) -> CalibrationFit:
    """Fit a, b of P = sigmoid(a * (cos + b)) by minimising weighted mean BCE.

    cos, labels, weights: (n,) each; labels in [0, 1] (soft labels allowed), weights >= 0.
    The fit is a logistic regression z = w1 * cos + w0 (convex), solved on standardised cos for
    conditioning and mapped back to a = w1, b = w0 / w1.
    """
    x, y, w = _check_labelled(cos, labels, weights)
    n_pos = float(np.sum(y))
    if np.all(y[w > 0] == y[w > 0][0]):
        raise InputError("labels are all the same: need both present and absent examples")
    hard = np.all((y == 0) | (y == 1))
    if hard and x[(y == 0) & (w > 0)].max() < x[(y == 1) & (w > 0)].min():
        # The likelihood then keeps growing as a -> infinity: there is no finite optimum.
        raise InputError("the cosines separate the labels perfectly, so a is unbounded: "
                         "label more (or harder) examples")
    mu, sd = float(np.mean(x)), float(np.std(x))
    if sd == 0:
        raise InputError("all cosines are equal: nothing to calibrate")
    xs = (x - mu) / sd
    wn = w / np.sum(w)

    def loss(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        z = theta[0] * xs + theta[1]
        value = float(np.sum(wn * (np.logaddexp(0.0, z) - y * z)))
        r = wn * (expit(z) - y)
        return value, np.array([np.sum(r * xs), np.sum(r)])

    res = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B",
                   options={"maxiter": 1000, "gtol": 1e-10, "ftol": 1e-14})
    slope_std, intercept_std = float(res.x[0]), float(res.x[1])
    if slope_std <= 0:
        raise InputError("the fitted slope is not positive: higher cosines do not mean the "
                         "concept is more often present in these labels")
    a = slope_std / sd
    b = (intercept_std - slope_std * mu / sd) / a
    calibration = Calibration(CalibrationKind.FITTED, a, b, source)
    return CalibrationFit(
        calibration=calibration,
        bce=float(res.fun),
        n=int(x.size),
        n_positive=n_pos,
        iterations=int(res.nit),
        converged=bool(res.success),
    )
