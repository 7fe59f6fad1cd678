"""The lineage chain as an inline SVG picture: data -> run -> model -> bentos -> monitoring.

Pure string building on the dict ``client.lineage()`` returns (keys ``data``,
``run``, ``model``, ``bentos``, ``monitoring``); unknown or missing parts are
drawn as "not recorded" boxes rather than failing. Every text is escaped.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mlops.monitoring.results import BOOLEAN_METRICS

__all__ = ["lineage_svg"]

BOX_W, LINE_H, PAD, GAP_X, GAP_Y, MAX_LINES, MAX_CHARS = 215, 16, 10, 40, 16, 7, 29
_MONITOR_KEYS = (
    "check",
    "timestamp",
    "drift_share",
    "drift_detected",
    "dataset_drift",
    "alerts",
    "retraining_suggested",
    "digest",
    "rows",
)

_LABELS = {"timestamp": "time (UTC)"}
_YES_NO = BOOLEAN_METRICS | {"drift_detected"}
Box = tuple[str, list[str], str]  # title, lines, css class


def lineage_svg(lineage: Mapping[str, Any]) -> str:
    """Render ``lineage`` as an ``<svg>`` element (columns of boxes joined by arrows)."""
    columns = [
        ("Data versions", [_data_box(d) for d in lineage.get("data") or []]),
        ("Run", [_run_box(lineage.get("run") or {})] if lineage.get("run") else []),
        ("Model version", [_model_box(lineage.get("model") or {})] if lineage.get("model") else []),
        ("Bentos", [_bento_box(b) for b in lineage.get("bentos") or []]),
        ("Monitoring", _monitor_boxes(lineage.get("monitoring"))),
    ]
    filled = [(title, boxes or [("not recorded", [], "missing")]) for title, boxes in columns]
    heights = [[_height(b) for b in boxes] for _, boxes in filled]
    total_h = max(sum(h) + GAP_Y * (len(h) - 1) for h in heights) + 40
    width = len(filled) * BOX_W + (len(filled) - 1) * GAP_X + 2
    parts = [_header(width, total_h)]
    anchors: list[list[tuple[float, float, float]]] = []
    for i, (title, boxes) in enumerate(filled):
        x = 1 + i * (BOX_W + GAP_X)
        parts.append(f'<text class="col" x="{x + BOX_W / 2}" y="16">{_t(title)}</text>')
        anchors.append(_column(parts, boxes, heights[i], x, total_h))
    parts.extend(_arrows(anchors))
    parts.append("</svg>")
    return "".join(parts)


def _header(width: int, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
        f'aria-label="lineage chain" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><defs><marker id="arrow" viewBox="0 0 10 10" '
        'refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#607d8b"/></marker></defs>'
    )


def _column(
    parts: list[str], boxes: Sequence[Box], heights: list[int], x: int, total_h: int
) -> list[tuple[float, float, float]]:
    """Draw one column of boxes, vertically centred; return each box's (x, y-middle, x-right)."""
    used = sum(heights) + GAP_Y * (len(heights) - 1)
    y = 28 + (total_h - 28 - used) / 2
    out = []
    for (title, lines, cls), h in zip(boxes, heights, strict=True):
        parts.append(
            f'<g class="node {cls}"><rect x="{x}" y="{y:.0f}" width="{BOX_W}" height="{h}" '
            f'rx="6"/><text class="title" x="{x + PAD}" y="{y + PAD + 11:.0f}">{_t(title)}</text>'
        )
        for n, line in enumerate(lines):
            ty = y + PAD + 11 + LINE_H * (n + 1)
            parts.append(f'<text x="{x + PAD}" y="{ty:.0f}">{_t(line)}</text>')
        parts.append("</g>")
        out.append((float(x), y + h / 2, float(x + BOX_W)))
        y += h + GAP_Y
    return out


def _arrows(anchors: list[list[tuple[float, float, float]]]) -> list[str]:
    out = []
    for left, right in itertools.pairwise(anchors):
        for _, ly, lx in left:
            for rx, ry, _ in right:
                out.append(
                    f'<path class="edge" d="M {lx:.0f} {ly:.0f} C {lx + GAP_X / 2:.0f} {ly:.0f}, '
                    f'{rx - GAP_X / 2:.0f} {ry:.0f}, {rx - 2:.0f} {ry:.0f}" '
                    'marker-end="url(#arrow)"/>'
                )
    return out


def _height(box: Box) -> int:
    return PAD * 2 + LINE_H * (1 + len(box[1]))


def _t(text: object) -> str:
    value = str(text)
    if len(value) > MAX_CHARS:
        value = value[: MAX_CHARS - 1] + "…"
    return html.escape(value)


def _data_box(data: Mapping[str, Any]) -> Box:
    lines = [f"md5 {str(data.get('md5', '?'))[:12]}"]
    if data.get("size") is not None:
        lines.append(f"{data['size']} bytes, {data.get('nfiles') or 1} file(s)")
    if data.get("rev"):
        lines.append(f"git {str(data['rev'])[:10]}")
    return str(data.get("path", "?")), lines, "data"


def _run_box(run: Mapping[str, Any]) -> Box:
    lines = [f"{k} = {v}" for k, v in sorted((run.get("params") or {}).items())][:2]
    metrics = sorted((run.get("metrics") or {}).items())
    lines += [f"{k}: {_num(v)}" for k, v in metrics if not str(k).startswith("system/")][:3]
    return f"run {str(run.get('run_id', '?'))[:12]}", lines, "run"


def _model_box(model: Mapping[str, Any]) -> Box:
    lines = [str(model.get("source") or "")] if model.get("source") else []
    return f"{model.get('name', '?')} v{model.get('version', '?')}", lines, "model"


def _bento_box(bento: Mapping[str, Any]) -> Box:
    labels = bento.get("labels") or {}
    lines = [f"run {str(labels['run_id'])[:12]}"] if labels.get("run_id") else []
    return str(bento.get("tag", "?")), lines, "bento"


def _monitor_boxes(monitoring: Any) -> list[Box]:
    if not isinstance(monitoring, Mapping) or not monitoring:
        return []
    flat: dict[str, Any] = {}
    for key, value in monitoring.items():
        if isinstance(value, Mapping):
            flat.update({k: v for k, v in value.items() if k not in flat})
        elif value is not None:
            flat.setdefault(key, value)
    lines = [
        f"{_LABELS.get(k, k)}: {_short(k, flat[k])}"
        for k in _MONITOR_KEYS
        if flat.get(k) is not None
    ]
    if not lines:
        return []
    return [("latest check", lines[:MAX_LINES], "monitor")]


def _short(key: str, value: Any) -> str:
    if key in _YES_NO or isinstance(value, bool):
        return "yes" if value else "no"  # MLflow keeps these facts as 1.0 / 0.0
    if key == "timestamp" and isinstance(value, int | float) and value > 1e11:
        return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, list | tuple):
        return str(len(value))
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _num(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
