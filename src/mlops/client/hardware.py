"""Facade methods for hardware metrics: ``log_apple_silicon_metrics`` and the sampler.

The sampler starts with a run opened by ``start_run(log_system_metrics=True)``
(default ``hardware.system_metrics``), samples every ``hardware.interval``
seconds into the same write-ahead-logged pipeline as ``log_metrics``, and
stops before the run ends. Host facts are logged once as ``mlops.hardware.*`` tags.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.config import Settings
from mlops.errors import ConfigurationError

if TYPE_CHECKING:
    from mlops.hardware import Probe, Sampler

__all__ = ["HOST_TAG_PREFIX", "HardwareMixin"]

#: Host facts are logged as tags named ``mlops.hardware.<fact>``.
HOST_TAG_PREFIX = "mlops.hardware."
#: CPU utilisation needs a measuring window; a one-off reading waits this long.
_SNAPSHOT_WINDOW_S = 0.25


class HardwareMixin(ClientBase):
    """Hardware metrics: Apple Silicon readings by hand, and sampled system metrics."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._samplers: dict[str, tuple[Sampler, list[Probe]]] = {}

    def log_apple_silicon_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None
    ) -> None:
        """Log a hand-made dict of Apple Silicon readings on the active run.

        Numbers become metrics named ``apple_silicon/<key>``. A thermal-state
        string (``nominal``/``fair``/``serious``/``critical`` as NSProcessInfo
        names them, or powermetrics' ``Nominal``/``Light``/``Moderate``/``Heavy``/
        ``Critical``) becomes its number on the scale in docs/hardware.md plus a
        tag ``apple_silicon/<key>`` holding the string. Any other string raises
        :class:`~mlops.errors.InvalidInputError` before anything is written.

        Example:
            >>> with client.start_run():  # doctest: +SKIP
            ...     client.log_apple_silicon_metrics(
            ...         {"mps_utilization": 87.5, "memory_gb": 14.2, "thermal_state": "nominal"},
            ...         step=10)

        Args:
            metrics: Reading name to number or thermal-state string.
            step: Training step; default 0.
        """
        from mlops.hardware.thermal import split_apple_silicon_metrics
        from mlops.tracking.validation import validate_tags

        operation = "log_apple_silicon_metrics"
        run_id = self._require_run(operation)
        values, tags = split_apple_silicon_metrics(metrics)
        tags = validate_tags(tags, operation)
        self._submit_metrics(values, step, run_id=run_id, operation=operation)
        if tags:
            self._set_run_tags(run_id, tags, operation)

    def hardware_probes(self) -> list[Probe]:
        """The probes this machine can report through, configured from ``[hardware]``.

        The caller owns them: call ``probe.close()`` when done (it stops
        powermetrics/macmon and releases NVML).
        """
        from mlops.hardware import detect_probes

        hw = self.settings.hardware
        return detect_probes(hw.powermetrics, hw.macmon, _checked_interval(hw.interval))

    def hardware_report(self) -> dict[str, Any]:
        """One look at this machine: ``{"probes": [...], "host": {...}, "metrics": {...}}``."""
        from mlops.hardware import WarnOnce, collect_host_facts, merge_samples

        probes = self.hardware_probes()
        try:
            warn = WarnOnce()
            facts = collect_host_facts(probes, warn)
            time.sleep(_SNAPSHOT_WINDOW_S)
            sample = merge_samples(probes, warn)
        finally:
            for probe in probes:
                probe.close()
        return {"probes": [p.name for p in probes], "host": facts, "metrics": sample}

    def _on_run_start(self, run_id: str, options: dict[str, Any]) -> None:
        super()._on_run_start(run_id, options)
        enabled = options.get("log_system_metrics")
        if enabled is None:
            enabled = self.settings.hardware.system_metrics
        if enabled:
            self._start_system_metrics(run_id)

    def _on_run_end(self, run_id: str, status: str) -> None:
        try:
            self._stop_system_metrics(run_id)
        finally:
            super()._on_run_end(run_id, status)

    def _start_system_metrics(self, run_id: str) -> None:
        from mlops.hardware import Sampler

        probes = self.hardware_probes()
        try:
            self._log_host_facts(run_id, probes)
        except BaseException:
            for probe in probes:  # nothing else will release NVML or stop powermetrics
                probe.close()
            raise

        def deliver(sample: dict[str, float], step: int, timestamp_ms: int) -> None:
            self._submit_metrics(
                sample,
                step=step,
                run_id=run_id,
                timestamp_ms=timestamp_ms,
                operation="system_metrics",
            )

        interval = self.settings.hardware.interval
        sampler = Sampler(probes, interval, deliver, name=f"mlops-system-metrics-{run_id[:8]}")
        with self._lock:
            self._samplers[run_id] = (sampler, probes)
        sampler.start()

    def _log_host_facts(self, run_id: str, probes: list[Probe]) -> None:
        from mlops.hardware import collect_host_facts
        from mlops.tracking.validation import validate_tags

        facts = collect_host_facts(probes)
        if facts:
            tags = {f"{HOST_TAG_PREFIX}{k}": v for k, v in facts.items()}
            self._set_run_tags(run_id, validate_tags(tags, "system_metrics"), "system_metrics")

    def _stop_system_metrics(self, run_id: str) -> None:
        with self._lock:
            entry = self._samplers.pop(run_id, None)
        if entry is None:
            return
        sampler, probes = entry
        sampler.stop()
        for probe in probes:
            probe.close()


def _checked_interval(interval: float) -> float:
    if not interval > 0:
        raise ConfigurationError(
            f"hardware.interval must be a positive number of seconds, got {interval!r}",
            component="hardware",
            operation="system_metrics",
            hint="set MLOPS_SYSTEM_METRICS_INTERVAL (or [hardware] interval) to e.g. 10",
        )
    return interval
