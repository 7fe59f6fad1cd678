"""``get_status()`` / ``mlops status``: what is installed, configured and reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.client.hardware import HardwareMixin
from mlops.components import COMPONENTS, is_available, version_of
from mlops.errors import MLOpsClientError, redact
from mlops.telemetry.wal import iter_segments
from mlops.versioning.remote import remote_spec

__all__ = ["StatusMixin"]


class StatusMixin(HardwareMixin):
    """``get_status()``: per component installed, configured, reachable; pending data."""

    def get_status(self, check_reachable: bool = True) -> dict[str, Any]:
        """Per component: installed, configured, reachable, version and install hint.

        Also the shared services (``services``: tracking, artifact store, DVC remote, Bento
        registry, monitoring workspace, each with ``reachable``, ``version`` and ``fix``;
        probed at once, within a few seconds, only with ``check_reachable``), the metric
        data waiting on disk (``telemetry``) and the hardware probes.
        """
        from mlops.client._services import probe_services

        s = self.settings
        configured = {
            "tracking": redact(s.tracking_uri),
            "versioning": redact(remote_spec(s).url),
            "serving": str(s.bentoml_home),
            "monitoring": s.monitoring_location,
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
        tracking = components["tracking"]
        if check_reachable and tracking["installed"]:
            tracking["reachable"], tracking["error"] = self._tracking_reachable()
        return {
            "project": self.project,
            "root": str(s.root),
            "config_file": str(s.config_file) if s.config_file else None,
            "tracking_uri": redact(s.tracking_uri),
            "workspace": str(self.workspace.root),
            "components": components,
            "services": probe_services(s) if check_reachable else [],
            "telemetry": self._pending_on_disk(),
            "hardware": self._probe_names(),
        }

    def _probe_names(self) -> dict[str, Any]:
        """Which probes this machine reports through (nothing is sampled)."""
        try:
            probes = self.hardware_probes()
        except MLOpsClientError as err:
            return {"probes": [], "error": str(err)}
        names = [p.name for p in probes]
        for probe in probes:
            probe.close()
        return {"probes": names, "system_metrics_default": self.settings.hardware.system_metrics}

    def _tracking_reachable(self) -> tuple[bool, str | None]:
        try:
            _ = self._tracker("status").experiment_id
        except MLOpsClientError as err:
            return False, str(err)
        return True, None

    def _pending_on_disk(self) -> dict[str, Any]:
        """What the project's log still holds (any process), offline runs, the agent."""
        from mlops.telemetry.runs import offline_info, server_id
        from mlops.telemetry.sync import pending_on_disk
        from mlops.telemetry.wal import PointCounter

        wal = self.workspace.root / "wal"
        segments = list(iter_segments(wal))
        pending = pending_on_disk(wal, counter=PointCounter())
        dead = list((wal / "dead").rglob("*.jsonl")) if (wal / "dead").is_dir() else []
        set_aside = sum(len(p.read_text().splitlines()) for p in dead)
        offline = [
            p.name
            for p in (wal.iterdir() if wal.is_dir() else [])
            if p.is_dir() and offline_info(p) is not None and server_id(p) is None
        ]
        return {
            "segments": len(segments),
            "runs": len(pending["runs"]),
            "pending_runs": pending["runs"],
            "pending_bytes": pending["bytes"],
            "pending_points": pending["points"],
            "offline_runs": sorted(offline),
            "rejected_records": set_aside,
            "rejected_segments": len(dead),
            "agent": self._agent_state(wal),
        }

    def _agent_state(self, wal: Path) -> dict[str, Any]:
        """The delivery agent's last published state, if it still runs; else "not running"."""
        from mlops.telemetry.agent import agent_files, is_running, read_status, store_key

        agent = read_status(agent_files(wal, store_key(self.settings))["status"])
        keys = ("pid", "state", "last_error", "rate", "delivered_points", "updated")
        shown = {k: agent.get(k) for k in keys}
        if not is_running(agent):  # its file outlives it (a kill, or a normal exit)
            shown.update(pid=None, state="not running", rate=None)
        return shown
