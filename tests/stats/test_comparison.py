"""Mean ± standard error and the t-tests that compare explanation methods."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from turkops.stats.comparison import paired_t_test, summarise_scores, welch_t_test


def test_welch_matches_scipy_and_reports_the_difference() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.2, 0.1, 30), rng.normal(0.1, 0.3, 45)
    res = welch_t_test(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.mean_difference == pytest.approx(a.mean() - b.mean())
    assert res.ci_low < res.mean_difference < res.ci_high
    assert res.kind == "welch" and (res.n_a, res.n_b) == (30, 45)
    assert 30 < res.df < 75  # Welch-Satterthwaite, not n_a + n_b - 2


def test_paired_test_uses_differences() -> None:
    a = np.array([0.30, 0.20, 0.25, 0.40, 0.10])
    b = a - np.array([0.05, 0.04, 0.06, 0.05, 0.05])
    res = paired_t_test(a, b)
    assert res.p_value < 1e-3  # a consistent small gain is significant when paired
    assert welch_t_test(a, b).p_value > 0.3  # but not as independent samples
    assert res.df == 4 and res.mean_difference == pytest.approx(0.05)


def test_summary_and_errors() -> None:
    s = summarise_scores([1.0, 2.0, 3.0])
    assert (s.mean, s.n) == (2.0, 3) and s.se == pytest.approx(1 / np.sqrt(3))
    with pytest.raises(ValueError):
        paired_t_test([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        welch_t_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        summarise_scores([np.nan])
