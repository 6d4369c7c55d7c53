"""Draws a what-if sweep's series (``answers/sweep_series.py``): grouped bars, one group per x
value, one bar per series; a missing bar means the point does not fit."""

from __future__ import annotations

from planner.answers.sweep_series import Series, text


def draw(plt, series: Series, title: str):
    """Grouped bars (one group per x value, one bar per series), each bar labelled if a point
    does not fit."""
    n = max(len(series.lines), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(series.x_values) * n + 2), 4))
    positions = range(len(series.x_values))
    for k, (label, values) in enumerate(series.lines.items()):
        xs = [p + (k - (n - 1) / 2) * width for p in positions]
        heights = [v if v is not None else 0.0 for v in values]
        bars = ax.bar(xs, heights, width=width, label=label)
        for bar, v in zip(bars, values, strict=True):
            if v is None:
                ax.annotate("does not fit", (bar.get_x() + bar.get_width() / 2, 0), rotation=90, fontsize=7,
                            ha="center", va="bottom")
    ax.set_xticks(list(positions), [text(x) for x in series.x_values], rotation=45 if len(series.x_values) > 4 else 0)
    ax.set_xlabel(series.x_label)
    ax.set_ylabel(series.y_label)
    ax.set_title(title)
    if n > 1 or next(iter(series.lines), "") not in ("points",):
        ax.legend(fontsize=8)
    return fig
