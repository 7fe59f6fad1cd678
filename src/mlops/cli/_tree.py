"""The lineage chain (``client.lineage()``) as a tree on the console."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["render_lineage"]


def render_lineage(chain: dict[str, Any], out: Console) -> None:
    """Print a lineage chain (``client.lineage()``) as a tree."""
    from rich.tree import Tree

    from mlops.monitoring.results import LIMIT_SUFFIX

    model = chain["model"]
    tree = Tree(f"[bold]{model['name']} v{model['version']}[/]  ({model['source']})")
    data = tree.add("data versions")
    for v in chain["data"] or [{"path": "(none recorded)", "md5": ""}]:
        data.add(f"{v['path']}  md5 {v['md5']}")
    run = chain["run"]
    if run:
        node = tree.add(f"run {run['run_id']} ({run['status']})")
        node.add("params: " + ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items())))
        node.add("metrics: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(run["metrics"].items())))
    bentos = tree.add("bentos")
    for b in chain["bentos"] or [{"tag": "(none built)", "path": ""}]:
        bentos.add(f"{b['tag']}  {b['path']}")
    mon = chain["monitoring"]
    node = tree.add(
        f"monitoring: {mon['checks']} checks, reference {mon['reference'].get('digest')}"
    )
    if mon["latest"]:
        latest = mon["latest"]
        keys = sorted(k for k in latest if "/" not in k and not k.endswith(LIMIT_SUFFIX))
        node.add("latest check: " + ", ".join(f"{k}={_shown(k, latest[k])}" for k in keys))
    out.print(tree)


def _shown(key: str, value: float) -> str:
    from mlops.monitoring.results import BOOLEAN_METRICS

    if key in BOOLEAN_METRICS:  # yes/no facts, logged to MLflow as 1/0
        return "yes" if value else "no"
    return f"{value:.4g}"
