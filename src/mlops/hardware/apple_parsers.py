"""Parsers for what macOS tools print: powermetrics plists, ``macmon pipe`` JSON, ioreg, sysctl.

Pure functions of text or bytes, so they are tested on real captures without a
Mac (``tests/hardware/data/apple_silicon``). Units, checked against those captures:

* powermetrics ``processor.*_power`` are milliwatts; cluster ``freq_hz`` is Hz but
  ``gpu.freq_hz`` is MHz despite its name; GPU busy share is ``1 - gpu.idle_ratio``;
  a stream of samples is separated by NUL bytes.
* ``macmon pipe`` powers are watts; 0.6 gives usage as ``[mhz, ratio]`` pairs, 0.8
  adds ``*_freq_mhz`` and ``*_active_ratio`` fields (preferred when present: the
  share of time busy, as NVML counts utilisation).
* ``ioreg`` comes in two layouts (``-l`` with tree bars, ``-r`` without), may be cut
  short, and names the same channels in other properties: only the accelerator's
  own top-level properties are read. Memory keys are bytes.
* ``sysctl`` lines are read by name (the order of ``hw.perflevelN`` varies); core
  levels are named as macOS names them (``Super`` on M5), unnamed before macOS 13.
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
    "sysctl_facts",
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


# A top-level property of an ioreg entry: `"key" = value` on its own line, after the
# tree bars of `ioreg -l` (`| |   |`) or the indentation of `ioreg -r`. Nested
# dictionaries write `"k"=v` without spaces, so they never match as properties.
_PROPERTY = re.compile(r'^[\s|]*"([^"]+)" = (.*?)\s*$', re.MULTILINE)
_PAIR = re.compile(r'"([^"]+)"=(-?\d+(?:\.\d+)?)(?=[,}])')
_QUOTED = re.compile(r'^"([^"]*)"$')
_IOREG_METRICS = {
    "Device Utilization %": ("system/gpu_0_utilization_percentage", 1.0),
    "Renderer Utilization %": ("system/gpu_0_renderer_utilization_percentage", 1.0),
    "Tiler Utilization %": ("system/gpu_0_tiler_utilization_percentage", 1.0),
    "In use system memory": ("system/gpu_0_memory_usage_megabytes", 1e6),
    "Alloc system memory": ("system/gpu_0_memory_allocated_megabytes", 1e6),
}


def parse_ioreg_accelerator(text: str) -> tuple[dict[str, float], dict[str, str]]:
    """Metrics and facts from ``ioreg -r -d 1 -w 0 -c IOAccelerator`` (or ``ioreg -l``).

    Returns ``(metrics, facts)``: GPU utilisation and memory from the
    ``PerformanceStatistics`` of the accelerator that reports
    ``Device Utilization %``; the facts ``gpu_0_name`` (``model``),
    ``gpu_0_core_count`` (``gpu-core-count``) and ``gpu_0_soc`` (from
    ``IONameMatched``, e.g. ``t8103``) when the entry lists them. Only the entry's
    own top-level properties are read: other nodes of ``ioreg -l`` and strings
    inside other properties (``IOReportLegend`` names the same channels) are not.
    """
    for entry in text.split("+-o ")[1:] or [text]:
        properties = _ioreg_properties(entry)
        stats = dict(_PAIR.findall(properties.get("PerformanceStatistics", "")))
        if "Device Utilization %" not in stats:
            continue
        metrics = {
            name: float(stats[key]) / divisor
            for key, (name, divisor) in _IOREG_METRICS.items()
            if key in stats  # exact keys: "In use system memory (driver)" is another one
        }
        return metrics, _ioreg_facts(properties)
    return {}, {}


def _ioreg_properties(entry: str) -> dict[str, str]:
    properties: dict[str, str] = {}
    for key, value in _PROPERTY.findall(entry):
        properties.setdefault(key, value)
    return properties


def _ioreg_facts(properties: Mapping[str, str]) -> dict[str, str]:
    facts: dict[str, str] = {}
    cores = properties.get("gpu-core-count", "")
    if cores.isdigit():
        facts["gpu_0_core_count"] = cores
    model = _QUOTED.match(properties.get("model", ""))  # not a data blob <"...">
    if model and model.group(1):
        facts["gpu_0_name"] = model.group(1)
    soc = _QUOTED.match(properties.get("IONameMatched", ""))
    if soc and soc.group(1).startswith("gpu,"):
        facts["gpu_0_soc"] = soc.group(1).removeprefix("gpu,")
    return facts


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines of ``sysctl <names>`` as a dict; error lines are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and not name.startswith("sysctl") and " " not in name.strip():
            out[name.strip()] = value.strip()
    return out


#: The names :func:`sysctl_facts` reads (three core levels: M1 to M5 have two).
SYSCTL_NAMES = (
    "machdep.cpu.brand_string",
    "machdep.cpu.thread_count",
    "hw.model",
    "hw.targettype",
    "hw.ncpu",
    "hw.memsize",
    "hw.nperflevels",
    *(f"hw.perflevel{i}.{key}" for i in range(3) for key in ("name", "physicalcpu")),
)
# macOS 11-12 do not name the levels; they ran only M1-family chips: P then E cores.
_UNNAMED_LEVELS = ("performance", "efficiency")


def sysctl_facts(values: Mapping[str, str]) -> dict[str, str]:
    """Host facts from parsed ``sysctl`` values (:func:`parse_sysctl`).

    ``chip`` (``machdep.cpu.brand_string``, left out when it is the generic
    "Apple processor" of early macOS 11), ``model`` (``hw.model``), ``board``
    (``hw.targettype``), ``cpu_cores_logical``, ``memory_total_megabytes`` and one
    ``cpu_cores_<level>`` per core level, named as macOS names it
    (``hw.perflevelN.name``: ``performance``, ``efficiency``, ``super`` on M5).
    Empty values are left out.
    """
    values = {k: v for k, v in values.items() if v}
    facts: dict[str, str] = {}
    chip = values.get("machdep.cpu.brand_string", "")
    if chip and chip != "Apple processor":
        facts["chip"] = chip
    for key, name in (("hw.model", "model"), ("hw.targettype", "board")):
        if key in values:
            facts[name] = values[key]
    logical = values.get("hw.ncpu", values.get("machdep.cpu.thread_count", ""))
    if logical.isdigit():
        facts["cpu_cores_logical"] = logical
    if values.get("hw.memsize", "").isdigit():
        facts["memory_total_megabytes"] = f"{megabytes(int(values['hw.memsize'])):.0f}"
    facts.update(_core_levels(values))
    return facts


def _core_levels(values: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    level = 0
    while values.get(f"hw.perflevel{level}.physicalcpu", "").isdigit():
        default = _UNNAMED_LEVELS[level] if level < len(_UNNAMED_LEVELS) else f"level{level}"
        name = values.get(f"hw.perflevel{level}.name", default)
        key = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or default
        out[f"cpu_cores_{key}"] = values[f"hw.perflevel{level}.physicalcpu"]
        level += 1
    return out
