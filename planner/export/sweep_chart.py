"""Draws a sweep's small multiples (``answers/sweep_panels.Panels``): one panel per combination of
the outer swept axes, at most ``COLUMNS`` panels to a row so a row stays within a screen's width
(``PANEL_INCHES`` wide each at ``DPI``), one colour per value of at most one axis, the x axis the
swept axis with the most values. Lines for a measure (a gap where a point does not fit), stacked
bars for categories."""

from __future__ import annotations

import textwrap

from planner.answers.sweep_panels import Panels
from planner.answers.sweep_series import text

COLUMNS = 4
PANEL_INCHES = (4.0, 3.0)
DPI = 110
"""4 panels x 4 in x 110 dpi: 1,760 pixels, inside a 1,920-pixel screen."""


def _numeric(values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def draw_panels(plt, panels: Panels, title: str):
    n = len(panels.panel_labels)
    cols = min(COLUMNS, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows + 0.8), squeeze=False,
                             sharey=True)
    numeric = _numeric(panels.x_values)
    positions = list(panels.x_values) if numeric else list(range(len(panels.x_values)))
    log = numeric and min(panels.x_values) > 0 and max(panels.x_values) / min(panels.x_values) >= 8
    for k in range(rows * cols):
        ax = axes[k // cols][k % cols]
        if k >= n:
            ax.set_visible(False)
            continue
        bottom = [0.0] * len(positions)
        for c, label in enumerate(panels.colours):
            values = panels.values[k][c]
            if panels.stacked:
                heights = [v or 0.0 for v in values]
                ax.bar(range(len(positions)), heights, bottom=bottom, label=label)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
            else:
                ax.plot(positions, [float("nan") if v is None else v for v in values], marker="o", markersize=4,
                        label=label)
        if panels.stacked or not numeric:
            ax.set_xticks(range(len(positions)), [text(x) for x in panels.x_values], fontsize=7,
                          rotation=45 if len(positions) > 4 else 0)
        elif log:
            ax.set_xscale("log", base=2)
            ax.set_xticks(positions, [text(x) for x in panels.x_values], fontsize=7, rotation=45)
        if panels.panel_labels[k]:
            ax.set_title(textwrap.fill(panels.panel_labels[k], 46), fontsize=8)
        if k % cols == 0:
            ax.set_ylabel(panels.y_label, fontsize=8)
        if k // cols == rows - 1:
            ax.set_xlabel(panels.x_label, fontsize=8)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    height = fig.get_figheight()
    legend = len(panels.colours) > 1 or panels.stacked
    if legend:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8,
                   title=panels.colour_label, title_fontsize=8)
    fig.suptitle(textwrap.fill(title, 110), fontsize=10)
    fig.tight_layout(rect=(0, (0.7 if legend else 0.0) / height, 1, 1 - 0.4 / height))
    return fig
