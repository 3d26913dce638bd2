"""Comparing explanation methods: mean ± standard error, Welch and paired t-tests.

The paper reports per method the mean correlation ± standard error over neurons and two-sample
t-tests of the best method against each other; paired tests apply when both methods explain the
same neurons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats


@dataclass(frozen=True, slots=True)
class MeanSummary:
    """mean and its standard error std/sqrt(n) (ddof=1; NaN for n < 2) over n finite values."""

    mean: float
    se: float
    n: int


@dataclass(frozen=True, slots=True)
class TTestResult:
    """kind: "welch" (two-sample, unequal variances) or "paired"; statistic: t; df: degrees of
    freedom (Welch-Satterthwaite for "welch"); mean_difference: mean(a) - mean(b); ci_low,
    ci_high: confidence interval of that difference at `level`; p_value: two-sided."""

    kind: Literal["welch", "paired"]
    statistic: float
    p_value: float
    df: float
    mean_difference: float
    ci_low: float
    ci_high: float
    level: float
    n_a: int
    n_b: int


def _finite(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def summarise_scores(values: npt.ArrayLike) -> MeanSummary:
    """Mean and standard error of scores (n,), e.g. one method's correlations over neurons."""
    x = _finite("values", values)
    if x.size == 0:
        raise ValueError("no values")
    se = float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")
    return MeanSummary(mean=float(x.mean()), se=se, n=int(x.size))


def welch_t_test(a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95) -> TTestResult:
    """Two-sample t-test without assuming equal variances. a: (n_a,), b: (n_b,), n >= 2 each."""
    x, y = _finite("a", a), _finite("b", b)
    if x.size < 2 or y.size < 2:
        raise ValueError("each sample needs at least 2 values")
    res = stats.ttest_ind(x, y, equal_var=False)
    ci = res.confidence_interval(confidence_level=level)
    return TTestResult(
        kind="welch",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.df),
        mean_difference=float(x.mean() - y.mean()),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        level=level,
        n_a=int(x.size),
        n_b=int(y.size),
    )


def paired_t_test(a: npt.ArrayLike, b: npt.ArrayLike, level: float = 0.95) -> TTestResult:
    """Paired t-test on a[i] - b[i]; a, b: (n,) with n >= 2 (the same neurons, two methods)."""
    x, y = _finite("a", a), _finite("b", b)
    if x.shape != y.shape:
        raise ValueError("paired samples must have the same length")
    if x.size < 2:
        raise ValueError("a paired test needs at least 2 pairs")
    res = stats.ttest_rel(x, y)
    ci = res.confidence_interval(confidence_level=level)
    return TTestResult(
        kind="paired",
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        df=float(res.df),
        mean_difference=float((x - y).mean()),
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        level=level,
        n_a=int(x.size),
        n_b=int(y.size),
    )


def holm_adjust(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm's step-down adjustment of m p-values (family-wise error), same order as given."""
    p = np.asarray(p_values, dtype=np.float64).ravel()
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    m = p.size
    scaled = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(scaled, 1.0)
    return out


@dataclass(frozen=True, slots=True)
class MethodInterval:
    """A method's mean correlation over its neurons with a bootstrap interval that includes
    each pair's estimation error (low, high at `level`)."""

    method: str
    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True, slots=True)
class MethodDifference:
    """mean(best) - mean(other) over the neurons both explain, with its interval, the two-sided
    p-value of "no difference" and the Holm-adjusted one across all comparisons made."""

    best: str
    other: str
    difference: float
    low: float
    high: float
    p_value: float
    p_holm: float
    n_paired: int


def compare_methods(
    scores: dict[str, dict[int, tuple[float, float]]],
    rng: np.random.Generator,
    *,
    n_boot: int = 4000,
    level: float = 0.95,
) -> tuple[dict[str, MethodInterval], dict[str, MethodDifference]]:
    """Means per method and differences of the best against each other, with the per-pair error.

    scores: method -> neuron -> (ρ̂, se(ρ̂)), se from the pair's bootstrap. Two-stage (paired)
    bootstrap: resample neurons with replacement (the same neurons for every method, so
    differences stay paired), then perturb each chosen pair by its own estimation error
    (ρ̂ + se·z). Between-neuron spread already holds part of that error, so the interval is on
    the safe side. The p-value of a difference is 2Φ(-|d|/sd*) with sd* its bootstrap standard
    deviation (no resolution floor at 1/n_boot); Holm-adjusted across the comparisons.
    Returns (intervals by method, differences by the other method's name; the best has none).
    """
    if n_boot < 10:
        raise ValueError("n_boot must be >= 10")
    neurons = sorted({n for per in scores.values() for n in per})
    methods = sorted(m for m in scores if scores[m])
    if not methods:
        raise ValueError("no scores")
    col = {n: j for j, n in enumerate(neurons)}
    rho = np.full((len(methods), len(neurons)), np.nan)
    se = np.zeros_like(rho)
    for i, m in enumerate(methods):
        for n, (r, s) in scores[m].items():
            rho[i, col[n]] = r
            se[i, col[n]] = s if np.isfinite(s) else 0.0
    have = np.isfinite(rho)
    tail = (1 - level) / 2
    pick = rng.integers(0, len(neurons), size=(n_boot, len(neurons)))
    noisy = np.where(have, rho, 0.0)[:, pick] + se[:, pick] * rng.standard_normal(
        (len(methods), n_boot, len(neurons))
    )
    mask = have[:, pick]  # (M, B, n)
    intervals: dict[str, MethodInterval] = {}
    means = {}
    for i, m in enumerate(methods):
        count = mask[i].sum(-1)
        boot = np.where(count > 0, (noisy[i] * mask[i]).sum(-1) / np.maximum(count, 1), np.nan)
        lo, hi = np.nanquantile(boot, [tail, 1 - tail])
        means[m] = float(np.nanmean(rho[i]))
        intervals[m] = MethodInterval(m, means[m], float(lo), float(hi), int(have[i].sum()))
    best = min(methods, key=lambda m: (-means[m], m))  # ties: the first name, as rank_methods
    b = methods.index(best)
    raw: list[tuple[str, float, float, float, float, int]] = []
    for i, m in enumerate(methods):
        if m == best:
            continue
        both = mask[b] & mask[i]
        shared = int((have[b] & have[i]).sum())
        if shared < 2:
            continue
        count = both.sum(-1)
        diff = np.where(
            count > 0, ((noisy[b] - noisy[i]) * both).sum(-1) / np.maximum(count, 1), np.nan
        )
        point = float(np.mean((rho[b] - rho[i])[have[b] & have[i]]))
        sd = float(np.nanstd(diff, ddof=1))
        lo, hi = np.nanquantile(diff, [tail, 1 - tail])
        p = float(2 * stats.norm.sf(abs(point) / sd)) if sd > 0 else float(point == 0)
        raw.append((m, point, float(lo), float(hi), p, shared))
    adjusted = holm_adjust([r[4] for r in raw]) if raw else np.zeros(0)
    differences = {
        m: MethodDifference(best, m, d, lo, hi, p, float(ph), k)
        for (m, d, lo, hi, p, k), ph in zip(raw, adjusted, strict=True)
    }
    return intervals, differences
