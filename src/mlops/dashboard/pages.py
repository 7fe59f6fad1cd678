"""HTML of the dashboard's pages: plain strings, every value escaped, no inline script.

Charts arrive as ready fragments (see :mod:`mlops.dashboard.charts`) and the
lineage as an SVG string; everything else is escaped here with :func:`e`.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

__all__ = ["e", "fmt_time", "layout", "link", "table", "yes_no"]

_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;"
    "color:#222;background:#f6f7f9}"
    "header{background:#263238;color:#fff;padding:10px 24px;display:flex;gap:24px;"
    "align-items:center;flex-wrap:wrap}"
    "header a{color:#cfd8dc;text-decoration:none;margin-right:14px}"
    "header a.on,header a:hover{color:#fff}header .brand{font-weight:600;color:#fff}"
    "header strong{margin-right:14px}main{padding:16px 24px;max-width:1400px}"
    "h1{font-size:22px;margin:8px 0 14px}h2{font-size:17px;margin:22px 0 8px}"
    "table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;margin-bottom:10px}"
    "th,td{border-bottom:1px solid #e3e6ea;padding:5px 8px;text-align:left;vertical-align:top}"
    "th{background:#eceff1}code{font-size:12px}.muted{color:#78909c}"
    ".bad{color:#c62828;font-weight:600}.ok{color:#2e7d32}"
    ".cards{display:flex;gap:12px;flex-wrap:wrap}"
    ".card{background:#fff;padding:10px 16px;border-radius:6px;min-width:150px;"
    "box-shadow:0 1px 2px #0002}"
    ".card b{display:block;font-size:22px}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:12px}"
    ".chart{background:#fff;border-radius:6px;min-height:300px}"
    ".error{background:#fff3e0;padding:8px 12px;border-left:4px solid #ef6c00;margin:8px 0}"
    ".pic{background:#fff;padding:12px;overflow-x:auto;border-radius:6px}"
    "svg.lineage text{font-size:12px;fill:#263238}svg.lineage text.title{font-weight:600}"
    "svg.lineage text.col{text-anchor:middle;fill:#546e7a;font-weight:600}"
    "svg.lineage rect{fill:#fff;stroke:#90a4ae;stroke-width:1.3}"
    "svg.lineage .data rect{fill:#e3f2fd}svg.lineage .run rect{fill:#f3e5f5}"
    "svg.lineage .model rect{fill:#e8f5e9}svg.lineage .bento rect{fill:#fff8e1}"
    "svg.lineage .monitor rect{fill:#fce4ec}"
    "svg.lineage .missing rect{stroke-dasharray:4 3;fill:#fafafa}"
    "svg.lineage .edge{fill:none;stroke:#607d8b;stroke-width:1.4}"
)
_PAGES = (
    ("", "Overview"),
    ("/runs", "Runs"),
    ("/data", "Data"),
    ("/models", "Models"),
    ("/monitoring", "Monitoring"),
    ("/lineage", "Lineage"),
)


def e(value: object) -> str:
    """Escape ``value`` for HTML text or attributes; None shows as an empty string."""
    return "" if value is None else html.escape(str(value), quote=True)


def link(href: str, text: object, cls: str = "") -> str:
    """An ``<a>`` with escaped href and text."""
    attr = f' class="{e(cls)}"' if cls else ""
    return f'<a href="{e(href)}"{attr}>{e(text)}</a>'


def project_url(project: str, page: str = "") -> str:
    """URL of a project page (``page`` like ``/runs``)."""
    return f"/p/{quote(project, safe='')}{page}"


def fmt_time(ms: float | None) -> str:
    """Milliseconds since the epoch as ``YYYY-MM-DD HH:MM:SS`` UTC; empty for None."""
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_num(value: Any) -> str:
    """A number in four significant digits; other values as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return e(value)
    return e(f"{value:.4g}")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str = "none yet") -> str:
    """A table of ready (already escaped) cells; ``empty`` when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{e(empty)}</p>'
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def yes_no(value: Any) -> str:
    """A yes/no fact (True, or MLflow's 1.0) as ``yes`` / ``no``; empty for None."""
    if value is None:
        return ""
    return '<span class="bad">yes</span>' if value else "no"


def kv_table(values: Mapping[str, Any], empty: str = "none", booleans: Collection[str] = ()) -> str:
    """Two-column key/value table, sorted by key; keys in ``booleans`` read yes/no."""
    rows = [
        [f"<code>{e(k)}</code>", yes_no(v) if k in booleans else fmt_num(v)]
        for k, v in sorted(values.items())
    ]
    return table(["key", "value"], rows, empty)


def errors_html(errors: Sequence[str]) -> str:
    """Notices for sections that could not be read (the rest of the page still shows)."""
    return "".join(f'<div class="error">{e(msg)}</div>' for msg in errors)


def json_block(value: Any) -> str:
    """A value as indented JSON in ``<pre>``."""
    return f"<pre>{e(json.dumps(value, indent=2, sort_keys=True, default=str))}</pre>"


def layout(
    title: str,
    body: str,
    project: str | None = None,
    current: str = "",
    projects: Sequence[str] = (),
) -> str:
    """A whole page: header with navigation, ``body`` inside ``<main>``, scripts at the end."""
    nav = [link("/", "All projects", "on" if project is None else "")]
    if project is not None:
        nav.append(f"<strong>{e(project)}</strong>")
        nav += [
            link(project_url(project, page), text, "on" if page == current else "")
            for page, text in _PAGES
        ]
    elif projects:
        nav += [link(project_url(p), p) for p in projects]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{e(title)} · mlops</title>'
        f"<style>{_CSS}</style></head><body><header>"
        f'<span class="brand">mlops dashboard</span><nav>{"".join(nav)}</nav></header>'
        f"<main><h1>{e(title)}</h1>{body}</main>"
        '<script src="/static/plotly.min.js"></script>'
        '<script src="/static/dashboard.js"></script></body></html>'
    )
