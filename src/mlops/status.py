"""``get_status()`` / ``mlops status``: what is installed, configured and reachable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops.components import COMPONENTS, is_available, version_of
from mlops.errors import MLOpsClientError, redact
from mlops.telemetry.wal import iter_segments
from mlops.versioning.remote import remote_spec

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

__all__ = ["collect_status", "pending_on_disk"]


def collect_status(client: MLOpsClient, check_reachable: bool = True) -> dict[str, Any]:
    """Per component: installed, configured, reachable, version, install hint; plus pending data."""
    s = client.settings
    configured = {
        "tracking": redact(s.tracking_uri),
        "versioning": redact(remote_spec(s).url),
        "serving": s.serving.bentoml_home or str(s.mlops_dir / "bentoml"),
        "monitoring": s.monitoring.workspace or str(s.mlops_dir / "evidently"),
    }
    components: dict[str, Any] = {}
    for name, comp in COMPONENTS.items():
        installed = is_available(name)
        components[name] = {
            "installed": installed,
            "version": version_of(name) if installed else None,
            "configured": configured.get(name),
            "reachable": None,
            "hint": None if installed else comp.hint,
            "purpose": comp.purpose,
        }
    if check_reachable and components["tracking"]["installed"]:
        components["tracking"]["reachable"], components["tracking"]["error"] = _tracking_reachable(
            client
        )
    return {
        "project": client.project,
        "root": str(s.root),
        "config_file": str(s.config_file) if s.config_file else None,
        "tracking_uri": redact(s.tracking_uri),
        "workspace": str(client.workspace.root),
        "components": components,
        "telemetry": pending_on_disk(client),
        "hardware": _hardware(client),
    }


def _hardware(client: MLOpsClient) -> dict[str, Any]:
    """Which probes this machine reports through (nothing is sampled)."""
    try:
        probes = client.hardware_probes()
    except MLOpsClientError as err:
        return {"probes": [], "error": str(err)}
    names = [p.name for p in probes]
    for probe in probes:
        probe.close()
    return {"probes": names, "system_metrics_default": client.settings.hardware.system_metrics}


def _tracking_reachable(client: MLOpsClient) -> tuple[bool, str | None]:
    try:
        _ = client.tracker.experiment_id
    except MLOpsClientError as err:
        return False, str(err)
    return True, None


def pending_on_disk(client: MLOpsClient) -> dict[str, int]:
    """Undelivered metric data in the project's WAL, read from disk (any process)."""
    wal = client.workspace.root / "wal"
    segments = list(iter_segments(wal))
    pending = 0
    for path in segments:
        ack = path.with_suffix(".ack")
        acked = int(ack.read_text().strip() or 0) if ack.exists() else 0
        pending += max(0, path.stat().st_size - acked)
    dead = list((wal / "dead").rglob("*.wal")) if (wal / "dead").is_dir() else []
    runs = {p.parent.name for p in segments}
    return {
        "segments": len(segments),
        "runs": len(runs),
        "pending_bytes": pending,
        "rejected_segments": len(dead),
    }
