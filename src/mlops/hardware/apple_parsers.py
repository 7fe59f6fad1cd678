"""Parsers for what macOS tools print: powermetrics plists, ``macmon pipe`` JSON, ioreg, sysctl.

Pure functions of text or bytes, so they are tested on real captures without a
Mac (``shared/fixtures/apple_silicon``). Units, checked against those captures:

* powermetrics ``processor.*_power`` are milliwatts; cluster ``freq_hz`` is Hz but
  ``gpu.freq_hz`` is MHz despite its name; GPU busy share is ``1 - gpu.idle_ratio``;
  a stream of samples is separated by NUL bytes.
* ``macmon pipe`` powers are watts; 0.6 gives usage as ``[mhz, ratio]`` pairs, 0.8
  adds ``*_freq_mhz`` and ``*_active_ratio`` fields (preferred when present: the
  share of time busy, as NVML counts utilisation).
"""

from __future__ import annotations

import json
import plistlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mlops.hardware.base import megabytes
from mlops.hardware.thermal import thermal_value

__all__ = [
    "parse_ioreg_accelerator",
    "parse_macmon",
    "parse_powermetrics",
    "parse_sysctl",
    "split_powermetrics_stream",
]

_PROCESSOR_POWER = {
    "cpu_power": "system/cpu_power_watts",
    "gpu_power": "system/gpu_0_power_usage_watts",
    "ane_power": "system/ane_power_watts",
    "combined_power": "system/package_power_watts",
}


def split_powermetrics_stream(data: bytes) -> Iterator[bytes]:
    """The plist documents of a ``powermetrics -f plist`` stream (NUL separated)."""
    for chunk in data.split(b"\0"):
        if chunk.strip():
            yield chunk.strip()


def parse_powermetrics(document: bytes) -> dict[str, float]:
    """Metrics from one ``powermetrics -f plist`` sample (cpu_power, gpu_power, thermal samplers).

    Example:
        >>> parse_powermetrics(open("m1.xml", "rb").read())["system/gpu_0_power_usage_watts"]
        ... # doctest: +SKIP
        0.0153528
    """
    data = plistlib.loads(document)
    out: dict[str, float] = {}
    processor = data.get("processor", {})
    for key, name in _PROCESSOR_POWER.items():
        if isinstance(processor.get(key), int | float):
            out[name] = processor[key] / 1000.0
    for cluster in processor.get("clusters", []):
        out.update(_cluster_metrics(cluster))
    out.update(_powermetrics_gpu(data.get("gpu", {})))
    state = thermal_value(str(data.get("thermal_pressure", "")))
    if state is not None:
        out["system/thermal_state"] = state
    return out


def _cluster_metrics(cluster: Mapping[str, Any]) -> dict[str, float]:
    # "E0-Cluster" -> "cpu_e0_cluster"; M1 names its two "E-Cluster" and "P-Cluster".
    prefix = "system/cpu_" + re.sub(r"[^a-z0-9]+", "_", str(cluster.get("name", "")).lower())
    out: dict[str, float] = {}
    if "freq_hz" in cluster:
        out[f"{prefix}_frequency_megahertz"] = cluster["freq_hz"] / 1e6
    if "idle_ratio" in cluster:
        out[f"{prefix}_utilization_percentage"] = (1.0 - cluster["idle_ratio"]) * 100.0
    return out


def _powermetrics_gpu(gpu: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    if "freq_hz" in gpu:
        out["system/gpu_0_frequency_megahertz"] = float(gpu["freq_hz"])  # already MHz
    if "idle_ratio" in gpu:
        out["system/gpu_0_utilization_percentage"] = (1.0 - gpu["idle_ratio"]) * 100.0
    return out


_MACMON_POWER = {
    "cpu_power": "system/cpu_power_watts",
    "gpu_power": "system/gpu_0_power_usage_watts",
    "ane_power": "system/ane_power_watts",
    "all_power": "system/package_power_watts",
    "sys_power": "system/system_power_watts",
    "ram_power": "system/ram_power_watts",
    "gpu_ram_power": "system/gpu_0_ram_power_watts",
}
_MACMON_UNITS = {
    "ecpu": "system/cpu_e_cluster",
    "pcpu": "system/cpu_p_cluster",
    "gpu": "system/gpu_0",
}


def parse_macmon(line: str) -> dict[str, float]:
    """Metrics from one line of ``macmon pipe`` (0.6 and 0.8 layouts)."""
    data = json.loads(line)
    out = {
        name: float(data[key]) for key, name in _MACMON_POWER.items() if _is_number(data.get(key))
    }
    for unit, prefix in _MACMON_UNITS.items():
        out.update(_macmon_unit(data, unit, prefix))
    temp = data.get("temp", {})
    for key, name in (
        ("cpu_temp_avg", "system/cpu_temperature_celsius"),
        ("gpu_temp_avg", "system/gpu_0_temperature_celsius"),
    ):
        if _is_number(temp.get(key)):
            out[name] = float(temp[key])
    memory = data.get("memory", {})
    if _is_number(memory.get("swap_usage")):
        out["system/swap_usage_megabytes"] = megabytes(memory["swap_usage"])
    for i, fan in enumerate(data.get("fans", [])):
        if _is_number(fan.get("rpm")):
            out[f"system/fan_{i}_speed_rpm"] = float(fan["rpm"])
    return out


def _macmon_unit(data: Mapping[str, Any], unit: str, prefix: str) -> dict[str, float]:
    pair = data.get(f"{unit}_usage")
    mhz, ratio = (pair[0], pair[1]) if isinstance(pair, list) and len(pair) == 2 else (None, None)
    mhz = data.get(f"{unit}_freq_mhz", mhz)
    ratio = data.get(f"{unit}_active_ratio", ratio)
    out: dict[str, float] = {}
    if _is_number(mhz):
        out[f"{prefix}_frequency_megahertz"] = float(mhz)
    if _is_number(ratio):
        out[f"{prefix}_utilization_percentage"] = float(ratio) * 100.0
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_PERF_STATS = re.compile(r'"PerformanceStatistics"\s*=\s*\{([^}]*)\}')
_PAIR = re.compile(r'"([^"]+)"\s*=\s*(-?\d+(?:\.\d+)?)')
_IOREG_METRICS = {
    "Device Utilization %": ("system/gpu_0_utilization_percentage", 1.0),
    "Renderer Utilization %": ("system/gpu_0_renderer_utilization_percentage", 1.0),
    "Tiler Utilization %": ("system/gpu_0_tiler_utilization_percentage", 1.0),
    "In use system memory": ("system/gpu_0_memory_usage_megabytes", 1e6),
    "Alloc system memory": ("system/gpu_0_memory_allocated_megabytes", 1e6),
}


def parse_ioreg_accelerator(text: str) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics and facts from ``ioreg -r -d 1 -w 0 -c IOAccelerator``.

    Returns ``(metrics, facts)``: GPU utilisation and in-use memory from the
    ``PerformanceStatistics`` of the accelerator that reports
    ``Device Utilization %``; ``gpu_0_name`` and ``gpu_0_core_count`` when listed.
    """
    for entry in text.split("+-o ")[1:] or [text]:
        stats = _PERF_STATS.search(entry)
        if stats is None or "Device Utilization %" not in stats.group(1):
            continue
        values = {k: float(v) for k, v in _PAIR.findall(stats.group(1))}
        metrics = {
            name: values[k] / divisor
            for k, (name, divisor) in _IOREG_METRICS.items()
            if k in values
        }
        return metrics, _ioreg_facts(entry)
    return {}, {}


def _ioreg_facts(entry: str) -> dict[str, str]:
    facts: dict[str, str] = {}
    cores = re.search(r'"gpu-core-count"\s*=\s*(\d+)', entry)
    if cores:
        facts["gpu_0_core_count"] = cores.group(1)
    model = re.search(r'"model"\s*=\s*"([^"]+)"', entry)
    if model:
        facts["gpu_0_name"] = model.group(1)
    return facts


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines of ``sysctl <names>`` as a dict; error lines are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and not name.startswith("sysctl") and " " not in name.strip():
            out[name.strip()] = value.strip()
    return out
