"""How numbers are written for people: one place for collect's tables, the HTML report and
`simulate`, so a p-value or an interval reads the same everywhere. Machine outputs (JSON, CSV)
keep the raw numbers. Stdlib only: the CLI imports this at start-up.
"""

from __future__ import annotations

import math

P_FLOOR = 1e-4
"""p-values below this print as "< 0.0001": four decimals would show a misleading 0.0000."""


def fmt_num(x: float | None, digits: int = 3, missing: str = "n/a") -> str:
    """x with `digits` decimals; None or NaN as `missing`."""
    if x is None or math.isnan(x):
        return missing
    return f"{x:.{digits}f}"


def fmt_p(p: float | None, missing: str = "n/a") -> str:
    """A p-value with four decimals, or "< 0.0001" below P_FLOOR (never "0.0000")."""
    if p is None or math.isnan(p):
        return missing
    if p < P_FLOOR:
        return f"< {P_FLOOR:.4f}"
    return f"{p:.4f}"


def fmt_interval(low: float | None, high: float | None, digits: int = 2) -> str:
    """The interval as [low, high], or "n/a" when either end is undefined."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"
