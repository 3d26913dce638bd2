"""Inter-rater agreement: Fleiss' kappa, also when items have different numbers of ratings.

Formula (Fleiss 1971, with the per-item agreement averaged over items that have >= 2 ratings,
as in Fleiss, Levin & Paik 2003, sec. 18.3, for unequal numbers of raters):

    P_i  = (Σ_j n_ij² - n_i) / (n_i (n_i - 1))         agreement among the n_i ratings of item i
    P̄   = mean_i P_i                                   over items with n_i >= 2
    p_j  = Σ_i n_ij / Σ_i n_i                          category shares over the same items
    P̄_e = Σ_j p_j²,    κ = (P̄ - P̄_e) / (1 - P̄_e)

With the same n for every item this is exactly Fleiss' kappa. Items with fewer than 2 ratings
(e.g. missing assignments) carry no agreement information and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class KappaResult:
    """kappa: Fleiss' κ (NaN when every rating falls in one category); observed: P̄; expected:
    P̄_e; n_items: items used (>= 2 ratings); n_ratings: ratings on those items."""

    kappa: float
    observed: float
    expected: float
    n_items: int
    n_ratings: int


def fleiss_kappa(counts: npt.ArrayLike) -> KappaResult:
    """Fleiss' kappa from a table of counts (n_items, n_categories): ratings of item i in class j.

    Rows may sum to different numbers of ratings; see the module docstring for the formula.
    """
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValueError("counts must be (n_items, n_categories) with at least 2 categories")
    if np.any(table < 0) or np.any(table != np.round(table)):
        raise ValueError("counts must be whole numbers >= 0")
    n_i = table.sum(axis=1)
    used = table[n_i >= 2]
    n_used = n_i[n_i >= 2]
    if used.shape[0] == 0:
        raise ValueError("no item has two or more ratings")
    p_i = ((used * used).sum(axis=1) - n_used) / (n_used * (n_used - 1))
    observed = float(p_i.mean())
    shares = used.sum(axis=0) / n_used.sum()
    expected = float((shares * shares).sum())
    kappa = (observed - expected) / (1.0 - expected) if expected < 1.0 else float("nan")
    return KappaResult(
        kappa=float(kappa),
        observed=observed,
        expected=expected,
        n_items=int(used.shape[0]),
        n_ratings=int(n_used.sum()),
    )


def fleiss_kappa_binary(positives: npt.ArrayLike, totals: npt.ArrayLike) -> KappaResult:
    """Fleiss' kappa of "present"/"absent" ratings given as counts per item, both (n_items,)."""
    alpha = np.asarray(positives, dtype=np.float64).ravel()
    m = np.asarray(totals, dtype=np.float64).ravel()
    if alpha.shape != m.shape or np.any(alpha < 0) or np.any(alpha > m):
        raise ValueError(
            "need positives and totals of the same shape with 0 <= positives <= totals"
        )
    return fleiss_kappa(np.stack([m - alpha, alpha], axis=1))
