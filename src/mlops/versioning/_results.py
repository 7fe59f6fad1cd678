"""Shaping DVC's result structures into plain dicts (pure logic, no DVC import)."""

from __future__ import annotations

from typing import Any

__all__ = ["as_paths", "cloud_counts", "flatten_local"]


def as_paths(value: Any) -> list[str]:
    """``value`` as a list of strings when DVC gave a collection, else empty."""
    return [str(v) for v in value] if isinstance(value, list | tuple | set) else []


def flatten_local(status: dict[str, Any]) -> list[dict[str, Any]]:
    """DVC's ``{stage: [{"changed outs": {path: state}}]}`` as ``[{"path", "state"}]``."""
    rows = []
    for stage, changes in status.items():
        for change in changes:
            if isinstance(change, dict):
                for kind in change.values():
                    rows += [{"dvc_file": stage, "path": p, "state": s} for p, s in kind.items()]
            else:
                rows.append({"dvc_file": stage, "path": None, "state": str(change)})
    return rows


def cloud_counts(status: dict[str, str]) -> dict[str, int]:
    """Counts per state of DVC's cloud status (``new``, ``missing``, ``deleted``)."""
    counts = {"new": 0, "missing": 0, "deleted": 0}
    for state in status.values():
        counts[state] = counts.get(state, 0) + 1
    return counts
