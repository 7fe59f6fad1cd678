"""Plotly figures as HTML fragments that need no inline script.

Each chart is an empty ``<div class="chart">`` followed by its figure as
``<script type="application/json">``; the dashboard's own static script draws
them with the plotly.js bundled in the ``plotly`` package. The pages can then
forbid inline scripts (Content-Security-Policy) and work offline.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

__all__ = ["Series", "chart", "drift_chart", "line_chart"]

# One point: {"step", "timestamp", "value"} (as ProjectData.histories returns).
Series = Sequence[Mapping[str, float]]

_counter = itertools.count(1)
_LAYOUT: dict[str, Any] = {
    "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
    "height": 300,
    "template": "plotly_white",
    "legend": {"orientation": "h", "y": -0.2},
    "font": {"size": 12},
}


def chart(figure: go.Figure) -> str:
    """The HTML fragment of ``figure``; its JSON is escaped so it cannot close the script tag."""
    data = figure.to_json()
    safe = data.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    ident = f"chart-{next(_counter)}"
    return (
        f'<div class="chart" data-figure="{ident}"></div>'
        f'<script type="application/json" id="{ident}">{safe}</script>'
    )


def line_chart(
    title: str,
    traces: Mapping[str, Series],
    x: str = "step",
    y_title: str | None = None,
    legend: bool | None = None,
) -> str:
    """Lines, one per named series, against ``step`` or seconds since the first point.

    Args:
        title: Chart title (usually the metric key).
        traces: Trace name -> points.
        x: ``"step"``, or ``"time"`` for seconds since each series' first point.
        y_title: Label of the y axis.
        legend: Show the legend; default only with several traces.
    """
    figure = go.Figure()
    for name, points in traces.items():
        if not points:
            continue
        first = points[0]["timestamp"]
        xs = [p["step"] if x == "step" else (p["timestamp"] - first) / 1000 for p in points]
        mode = "lines+markers" if len(points) < 50 else "lines"
        line = {"dash": dash} if (dash := _dash(name)) else None
        figure.add_trace(
            go.Scatter(x=xs, y=[p["value"] for p in points], name=name, mode=mode, line=line)
        )
    figure.update_layout(
        title={"text": html.escape(title), "x": 0.01},
        xaxis_title="step" if x == "step" else "seconds since start",
        yaxis_title=y_title,
        showlegend=len(traces) > 1 if legend is None else legend,
        **_LAYOUT,
    )
    return chart(figure)


def _dash(name: str) -> str | None:
    # A check's limit and its reference value are drawn as dashed / dotted lines.
    if name.endswith("_limit"):
        return "dash"
    return "dot" if name.endswith("_reference") else None


def drift_chart(checks: Sequence[Mapping[str, Any]], configured: float | None) -> str:
    """Drift share per check, alerting checks marked, each check's limit beside it.

    The limit drawn for a check is the one it was judged with (its recorded
    ``drift_share_limit``). Only when no check recorded one (checks made before
    limits were recorded) is the ``configured`` value drawn, labelled as such.
    """
    xs = [c["check"] for c in checks]
    shares = [c.get("drift_share") for c in checks]
    alerts = [c for c in checks if c.get("alerts")]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=xs, y=shares, name="drift share", mode="lines+markers"))
    figure.add_trace(
        go.Scatter(
            x=[c["check"] for c in alerts],
            y=[c.get("drift_share") for c in alerts],
            name="check with alerts",
            mode="markers",
            marker={"symbol": "x", "size": 13, "color": "#c62828"},
        )
    )
    limits = [c.get("drift_share_limit") for c in checks]
    if any(limit is not None for limit in limits):
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=limits,
                name="limit of the check",
                mode="lines+markers",
                line={"dash": "dash", "color": "#777", "shape": "hv"},
                marker={"symbol": "line-ew-open", "size": 12},
            )
        )
    elif configured is not None:
        figure.add_hline(
            y=configured,
            line_dash="dash",
            line_color="#999",
            annotation_text="configured limit (not recorded with these checks)",
        )
    figure.update_layout(
        title={"text": "Drift share per check", "x": 0.01},
        xaxis_title="check",
        yaxis_title="share of drifted columns",
        yaxis_range=[0, 1.05],
        xaxis={"dtick": 1},
        **_LAYOUT,
    )
    return chart(figure)
