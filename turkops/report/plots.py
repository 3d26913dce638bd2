"""Plots for the report, rendered to PNG bytes with matplotlib's Agg backend."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def method_bar_chart(
    methods: list[str], means: list[float], lows: list[float], highs: list[float], title: str
) -> bytes:
    """Mean correlation per method with its 95% interval (the one the tables show)."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(methods) + 1.5), 3.2), dpi=110)
    colours = ["#2e7d32" if m > 0.25 else "#f9a825" if m >= 0.10 else "#c62828" for m in means]
    err = [
        [max(m - lo, 0.0) for m, lo in zip(means, lows, strict=True)],
        [max(hi - m, 0.0) for m, hi in zip(means, highs, strict=True)],
    ]
    ax.bar(methods, means, yerr=err, capsize=5, color=colours, edgecolor="#333")
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_ylabel("mean correlation (95% CI)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
