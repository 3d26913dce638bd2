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
