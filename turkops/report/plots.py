"""Plots for the report, rendered to PNG bytes with matplotlib's Agg backend."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def method_bar_chart(
    methods: list[str], means: list[float], sems: list[float], title: str
) -> bytes:
    """Mean correlation per method with ±1 s.e.m. error bars."""
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(methods) + 1.5), 3.2), dpi=110)
    colours = ["#2e7d32" if m > 0.25 else "#f9a825" if m >= 0.10 else "#c62828" for m in means]
    ax.bar(methods, means, yerr=sems, capsize=5, color=colours, edgecolor="#333")
    ax.axhline(0, color="#333", linewidth=0.8)
    ax.set_ylabel("mean correlation (±1 s.e.m.)")
    ax.set_title(title)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
