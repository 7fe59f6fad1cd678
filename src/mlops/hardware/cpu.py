"""CPU, memory, disk and network readings through psutil, named as MLflow names them."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import psutil

from mlops.hardware.base import Probe, megabytes

__all__ = ["PsutilProbe"]

#: A CPU-utilisation window shorter than this is noise (psutil's ticks are 10 ms).
MIN_CPU_WINDOW_S = 0.1


class PsutilProbe(Probe):
    """CPU utilisation, system memory, disk and network, on any OS psutil supports.

    Metric names are MLflow's own (``system/cpu_utilization_percentage``...), so
    runs logged by ``mlops`` and by ``mlflow.start_run(log_system_metrics=True)``
    chart together. Network counters are megabytes since the probe was created,
    as MLflow reports them.

    Args:
        disk_path: The filesystem whose usage is reported (default: the root, as MLflow).
    """

    name = "cpu"

    def __init__(self, disk_path: str | Path = os.sep) -> None:
        self.disk_path = str(disk_path)
        # The first cpu_percent(None) call only starts the measurement window; it returns 0.
        psutil.cpu_percent(interval=None)
        self._cpu_window_start = time.monotonic()
        net = psutil.net_io_counters()
        self._net_start = (net.bytes_recv, net.bytes_sent) if net else (0, 0)

    def available(self) -> bool:
        """Always true: psutil is a core dependency."""
        return True

    def sample(self) -> dict[str, float]:
        """CPU %, memory, disk and network since the probe started."""
        mem = psutil.virtual_memory()
        disk = psutil.disk_usage(self.disk_path)
        out = {
            "system/system_memory_usage_megabytes": megabytes(mem.used),
            "system/system_memory_usage_percentage": mem.used / mem.total * 100.0,
            "system/disk_usage_percentage": disk.percent,
            "system/disk_usage_megabytes": megabytes(disk.used),
            "system/disk_available_megabytes": megabytes(disk.free),
        }
        out.update(self._cpu())
        net = psutil.net_io_counters()
        if net is not None:
            out["system/network_receive_megabytes"] = megabytes(net.bytes_recv - self._net_start[0])
            out["system/network_transmit_megabytes"] = megabytes(
                net.bytes_sent - self._net_start[1]
            )
        return out

    def _cpu(self) -> dict[str, float]:
        # A sample taken right after the previous one (the sampler's first, at run
        # start) would report a meaningless few-millisecond window: leave it out.
        now = time.monotonic()
        if now - self._cpu_window_start < MIN_CPU_WINDOW_S:
            return {}
        self._cpu_window_start = now
        return {"system/cpu_utilization_percentage": psutil.cpu_percent(interval=None)}

    def host_facts(self) -> dict[str, str]:
        """OS, CPU model, core counts and total memory."""
        return {
            "os": platform.platform(),
            "cpu_model": _cpu_model(),
            "cpu_cores_physical": str(psutil.cpu_count(logical=False) or 0),
            "cpu_cores_logical": str(psutil.cpu_count(logical=True) or 0),
            "memory_total_megabytes": f"{megabytes(psutil.virtual_memory().total):.0f}",
        }


def _cpu_model() -> str:
    # platform.processor() is just "x86_64" on Linux; /proc/cpuinfo has the model name.
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"
