"""The lines of ``mlops runs list``: one line per run, fitted to the terminal's width.

Pure functions of plain values, so the layout is tested without a terminal. A
line never exceeds the width it is given: run names and metric lists are cut
with "…" (metric names at 20 characters, so their values show). When the key
metrics would not get the room they need, the run id is shortened to 8
characters, then the start time loses its year, names are cut shorter and at
last the start time gives way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["RunRow", "fit", "key_metrics", "render"]

SYSTEM_PREFIX = "system/"
SEP = "  "
ELLIPSIS = "…"
SHORT_ID = 8
MAX_KEY = 20  # a longer metric name is cut, so its value still shows
MIN_METRICS, GOOD_METRICS = 20, 40
# (run id, started, name) widths, tried in turn until the key metrics get what they
# need: the full id gives way first, then the year, the name's length, the start time.
LAYOUTS = ((32, 16, 24), (SHORT_ID, 16, 20), (SHORT_ID, 11, 16), (SHORT_ID, 0, 14))
# Metric families, most telling first; a metric belongs to the first family one of
# its words names (`val_log_loss` -> loss, `f1_score` -> f1).
_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"loss", "nll", "perplexity", "ppl"}),
    frozenset({"accuracy", "acc"}),
    frozenset({"f1", "fbeta"}),
    frozenset({"auc", "roc", "map"}),
    frozenset({"precision"}),
    frozenset({"recall"}),
    frozenset({"rmse", "mse", "mae", "mape", "r2", "error", "err"}),
    frozenset({"bleu", "rouge", "iou", "dice", "score"}),
)
_HELD_OUT = frozenset({"val", "valid", "validation", "eval", "test", "holdout"})
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RunRow:
    """What one line shows of a run."""

    name: str
    status: str
    start_ms: int | None
    metrics: Mapping[str, float]
    run_id: str


def key_metrics(metrics: Mapping[str, float]) -> list[tuple[str, float]]:
    """Training metrics, most telling first; ``system/...`` (hardware) metrics never.

    Loss-like, then accuracy-like, F1, AUC, precision, recall, error-like and
    score-like metrics; within a family held-out ones (``val_``, ``test_``)
    before the rest and ``train_`` ones last. One metric of each family comes
    before a second of any family; metrics of no family follow by name.
    """
    ranked = sorted(
        (_rank(key), key, value) for key, value in metrics.items() if not _is_system(key)
    )
    first: list[tuple[str, float]] = []
    rest: list[tuple[str, float]] = []
    seen: set[int] = set()
    for (family, _, _), key, value in ranked:
        target = first if family < len(_FAMILIES) and family not in seen else rest
        seen.add(family)
        target.append((key, value))
    return first + sorted(rest, key=lambda kv: (_rank(kv[0]), kv[0]))


def _is_system(key: str) -> bool:
    return key.startswith(SYSTEM_PREFIX)


def _rank(key: str) -> tuple[int, int, str]:
    words = _WORD.findall(key.lower())
    family = next(
        (i for i, names in enumerate(_FAMILIES) if any(w in names for w in words)),
        len(_FAMILIES),
    )
    split = 0 if _HELD_OUT & set(words) else 2 if "train" in words else 1
    return family, split, key


def render(rows: Sequence[RunRow], width: int) -> list[str]:
    """The header and one line per run, each at most ``width`` characters."""
    width = max(width, 20)
    names = [row.name or row.run_id[:SHORT_ID] for row in rows]
    status_w = max(len(s) for s in [row.status for row in rows] + ["status"])
    needed = max((len(_join(_shown(key_metrics(r.metrics)))) for r in rows), default=0)
    longest = max(len(n) for n in [*names, "name"])
    name_w, id_w, time_w, metrics_w = _layout(width, longest, status_w, needed)
    columns = [("name", name_w), ("status", status_w), ("started", time_w)]
    columns += [("key metrics", metrics_w), ("run id", id_w)]
    widths = [w for _, w in columns if w]  # no time column where it gave way
    lines = [_line([title for title, w in columns if w], widths)]
    for row, name in zip(rows, names, strict=True):
        values = [name, row.status, _time(row.start_ms, time_w)]
        values += [_metrics_cell(key_metrics(row.metrics), metrics_w), row.run_id[:id_w]]
        lines.append(_line([v for v, (_, w) in zip(values, columns, strict=True) if w], widths))
    return [_cut(line, width) for line in lines]


def _layout(width: int, longest_name: int, status_w: int, needed: int) -> tuple[int, ...]:
    """``(name, run id, time, metrics)`` widths.

    The first of :data:`LAYOUTS` that leaves the key metrics what they need (40
    at most) is taken, else the last, with names cut further on a narrow terminal.
    """
    wanted = min(needed, GOOD_METRICS)
    for id_w, time_w, name_cap in LAYOUTS:
        name_w = min(longest_name, name_cap)
        left = width - (name_w + status_w + id_w + time_w + (4 if time_w else 3) * len(SEP))
        if left >= wanted:
            break
    floor = max(min(needed, MIN_METRICS), len("key metrics"))
    if left < floor:  # a narrow terminal: names give way too
        cut = max(min(name_w - len("name"), floor - left), 0)
        name_w, left = name_w - cut, left + cut
    return name_w, id_w, time_w, max(len("key metrics"), min(left, needed))


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return SEP.join(_cut(v, w).ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + ELLIPSIS


_cut = fit


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _shown(items: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    return [(_cut(k, MAX_KEY), v) for k, v in items]


def _join(items: Sequence[tuple[str, float]]) -> str:
    return ", ".join(f"{k}={_fmt(v)}" for k, v in items)


def _metrics_cell(items: Sequence[tuple[str, float]], width: int) -> str:
    """As many whole ``key=value`` items as fit, then ``+N`` for those left out."""
    items = _shown(items)
    for shown in range(len(items), 0, -1):
        text = _join(items[:shown])
        more = f" +{len(items) - shown}" if shown < len(items) else ""
        if len(text) + len(more) <= width:
            return text + more
    if not items:
        return ""
    more = f" +{len(items) - 1}" if len(items) > 1 else ""
    return _cut(_join(items[:1]), width - len(more)) + more  # one long item, cut


def _time(ms: int | None, width: int) -> str:
    if not ms or not width:
        return ""
    stamp = dt.datetime.fromtimestamp(ms / 1000)
    return stamp.strftime("%Y-%m-%d %H:%M" if width >= 16 else "%m-%d %H:%M")
