"""``client.lineage()``: where a model came from and how it is doing, from what was recorded.

The chain: data versions (recorded on the run by ``dvc_add``/``dvc_pull``) -> the run
(params, final metrics) -> the registered model version -> the Bentos built from it
(their labels, written by ``deploy_model``) -> the latest monitoring check and the
reference it compared against (written by ``monitor_predictions``). Nothing is
reconstructed or re-computed: every value was stored when it happened.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mlops.components import is_available
from mlops.errors import InvalidInputError, NotFoundError, translate_errors

if TYPE_CHECKING:
    from rich.console import Console

    from mlops.client import MLOpsClient

__all__ = ["bento_summary", "build_lineage", "read_json", "render_lineage"]


def build_lineage(
    client: MLOpsClient, model_name: str, version: str | None = None
) -> dict[str, Any]:
    """The recorded chain of ``model_name`` (latest version unless ``version``)."""
    from mlops.tracking.mlflow_tracker import map_mlflow_error
    from mlops.versioning.lineage import versions_from_run

    if not isinstance(model_name, str) or not model_name:
        raise InvalidInputError(
            "lineage needs a registered model name",
            component="lineage",
            operation="lineage",
            hint="e.g. client.lineage('demo-classifier')",
        )
    with translate_errors("lineage", "lineage", map_mlflow_error):
        mv = _model_version(client, model_name, version)
        run = client.mlflow_client.get_run(mv.run_id) if mv.run_id else None
    return {
        "model": {
            "name": mv.name,
            "version": str(mv.version),
            "source": mv.source,
            "run_id": mv.run_id,
            "model_id": getattr(mv, "model_id", None),
        },
        "data": versions_from_run(run) if run else [],
        "run": _run_part(run),
        "bentos": _bentos(client, mv.name, str(mv.version)),
        "monitoring": _monitoring(client),
    }


def _model_version(client: MLOpsClient, name: str, version: str | None) -> Any:
    mlflow = client.mlflow_client
    if version is not None:
        return mlflow.get_model_version(name, version)
    versions = mlflow.search_model_versions(f"name = '{name}'")
    if not versions:
        raise NotFoundError(
            f"no registered model {name!r} in {client.settings.tracking_uri}",
            component="lineage",
            operation="lineage",
            hint="register one: client.log_model(model, 'model', registered_model_name=...)",
        )
    return max(versions, key=lambda v: int(v.version))


def _run_part(run: Any) -> dict[str, Any]:
    if run is None:
        return {}
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name,
        "status": run.info.status,
        "params": dict(run.data.params),
        "metrics": {k: v for k, v in run.data.metrics.items() if not k.startswith("system/")},
    }


def bento_summary(bento: Any) -> dict[str, Any]:
    """Tag, path, creation time and labels of a BentoML ``Bento`` (labels' JSON decoded)."""
    labels: dict[str, Any] = dict(bento.info.labels)
    if isinstance(labels.get("data_versions"), str):
        try:
            labels["data_versions"] = json.loads(labels["data_versions"])
        except ValueError:
            pass
    created = bento.info.creation_time
    return {
        "tag": str(bento.tag),
        "path": str(bento.path),
        "labels": labels,
        "created": created.isoformat(timespec="seconds") if created else None,
    }


def _bentos(client: MLOpsClient, name: str, version: str) -> list[dict[str, Any]]:
    if not is_available("serving") or not (client.bentoml_home / "bentos").is_dir():
        return []
    found = [bento_summary(b) for b in client.deployer.bento_store.list()]
    return [
        b
        for b in found
        if b["labels"].get("registered_model") == name
        and str(b["labels"].get("registered_version")) == version
    ]


def _monitoring(client: MLOpsClient) -> dict[str, Any]:
    folder = client.workspace.path("monitoring", create=False)
    reference = read_json(folder / "reference.json")
    run = client.find_monitoring_run()
    return {
        "checks": read_json(folder / "state.json").get("checks", 0),
        "latest": dict(run.data.metrics) if run else None,
        "monitoring_run_id": run.info.run_id if run else None,
        "reference": {
            k: reference.get(k) for k in ("digest", "rows", "created_at", "target", "prediction")
        },
    }


def read_json(path: Any) -> dict[str, Any]:
    """A JSON object from ``path``; empty when missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def render_lineage(chain: dict[str, Any], console: Console) -> None:
    """Print the chain as a tree."""
    from rich.tree import Tree

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
        keys = sorted(k for k in mon["latest"] if "/" not in k)
        node.add("latest check: " + ", ".join(f"{k}={mon['latest'][k]:.4g}" for k in keys))
    console.print(tree)
