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


def test_holm_adjusts_step_down_and_keeps_the_order() -> None:
    from turkops.stats.comparison import holm_adjust

    np.testing.assert_allclose(holm_adjust([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm_adjust([0.5, 0.6]), [1.0, 1.0])


def test_small_p_values_print_as_below_the_last_digit() -> None:
    from turkops.formatting import fmt_p as format_p

    assert format_p(1e-12) == "< 0.0001"
    assert format_p(0.0) == "< 0.0001"
    assert format_p(0.01234) == "0.0123"
    assert format_p(None) == "n/a" and format_p(float("nan")) == "n/a"


def test_method_comparison_carries_each_pairs_estimation_error() -> None:
    from turkops.stats.comparison import compare_methods

    rng = np.random.default_rng(0)
    neurons = range(30)
    a = {n: 0.30 + 0.02 * rng.standard_normal() for n in neurons}
    b = {n: a[n] - 0.05 + 0.01 * rng.standard_normal() for n in neurons}
    exact = {"A": {n: (a[n], 0.0) for n in neurons}, "B": {n: (b[n], 0.0) for n in neurons}}
    noisy = {"A": {n: (a[n], 0.15) for n in neurons}, "B": {n: (b[n], 0.15) for n in neurons}}
    mi0, d0 = compare_methods(exact, np.random.default_rng(1))
    mi1, d1 = compare_methods(noisy, np.random.default_rng(1))
    assert set(d0) == {"B"} and d0["B"].best == "A"
    # Without the per-pair error the neurons alone make the difference look certain ...
    assert d0["B"].p_value < 1e-4 and d0["B"].low > 0
    # ... with pairs measured to ±0.15 it is not, and every interval is wider.
    assert d1["B"].p_value > 0.05 and d1["B"].low < 0 < d1["B"].high
    assert mi1["A"].high - mi1["A"].low > mi0["A"].high - mi0["A"].low
    assert d1["B"].difference == pytest.approx(0.05, abs=0.01)


def test_holm_is_applied_across_the_comparisons_with_the_best() -> None:
    from turkops.stats.comparison import compare_methods

    rng = np.random.default_rng(2)
    scores = {
        m: {n: (0.3 - shift + 0.05 * rng.standard_normal(), 0.02) for n in range(20)}
        for m, shift in (("A", 0.0), ("B", 0.02), ("C", 0.03), ("D", 0.2))
    }
    _, diffs = compare_methods(scores, np.random.default_rng(3))
    assert set(diffs) == {"B", "C", "D"}
    for d in diffs.values():
        assert d.p_holm >= d.p_value
    assert max(d.p_holm for d in diffs.values()) <= 1.0
    assert diffs["D"].p_holm < 0.001
