"""NVIDIA GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``), every GPU.

``pynvml`` is imported when the probe first checks availability, not at module
top: the package is optional, and importing it late lets a test put a stand-in
in ``sys.modules``. A reading the driver refuses (``NotSupported`` fan speed on
an H100, ``NoPermission`` in a container) is dropped for that GPU with one
warning; any other NVML error is warned about once and retried next sample.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

from mlops.hardware.base import Probe, WarnOnce, megabytes

__all__ = ["NvidiaProbe"]

# NVML return codes that will not change between calls: stop asking.
_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND = 3, 4, 13
_PERMANENT = {_NOT_SUPPORTED, _NO_PERMISSION, _FUNCTION_NOT_FOUND}

Reading = Callable[[ModuleType, Any, "_Gpu"], dict[str, float]]


class _Gpu:
    """Per-GPU state: its handle, readings the driver refused, the energy baseline."""

    def __init__(self, index: int, handle: Any) -> None:
        self.index = index
        self.handle = handle
        self.refused: set[str] = set()
        self.energy_start_mj: float | None = None
        self.power_mw: float | None = None


def _utilization(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    rates = nvml.nvmlDeviceGetUtilizationRates(handle)
    # .memory is the share of time the memory controller was busy, not memory used.
    return {
        "utilization_percentage": float(rates.gpu),
        "memory_busy_percentage": float(rates.memory),
    }


def _memory(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    info = nvml.nvmlDeviceGetMemoryInfo(handle)
    return {
        "memory_usage_megabytes": megabytes(info.used),
        "memory_usage_percentage": info.used / info.total * 100.0,
    }


def _power(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    gpu.power_mw = None
    gpu.power_mw = float(nvml.nvmlDeviceGetPowerUsage(handle))
    return {"power_usage_watts": gpu.power_mw / 1000.0}


def _power_limit(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    # Runs right after _power: reuse its reading rather than asking NVML twice.
    if gpu.power_mw is None:
        return {}
    limit_mw = nvml.nvmlDeviceGetEnforcedPowerLimit(handle)
    return {"power_usage_percentage": gpu.power_mw / limit_mw * 100.0} if limit_mw else {}


def _temperature(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
    return {"temperature_celsius": float(nvml.nvmlDeviceGetTemperature(handle, sensor))}


def _clocks(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    sm = nvml.nvmlDeviceGetClockInfo(handle, getattr(nvml, "NVML_CLOCK_SM", 1))
    mem = nvml.nvmlDeviceGetClockInfo(handle, getattr(nvml, "NVML_CLOCK_MEM", 2))
    return {"sm_clock_megahertz": float(sm), "memory_clock_megahertz": float(mem)}


def _energy(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    # NVML counts millijoules since the driver loaded; report joules since the probe started.
    total_mj = float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    if gpu.energy_start_mj is None:
        gpu.energy_start_mj = total_mj
    return {"energy_consumed_joules": (total_mj - gpu.energy_start_mj) / 1000.0}


def _fan(nvml: ModuleType, handle: Any, gpu: _Gpu) -> dict[str, float]:
    return {"fan_speed_percentage": float(nvml.nvmlDeviceGetFanSpeed(handle))}


_READINGS: dict[str, Reading] = {
    "utilization": _utilization,
    "memory": _memory,
    "power": _power,
    "power limit": _power_limit,
    "temperature": _temperature,
    "clocks": _clocks,
    "energy": _energy,
    "fan speed": _fan,
}


class NvidiaProbe(Probe):
    """Utilisation, memory, power, temperature, clocks and energy of every NVIDIA GPU.

    Metric names: ``system/gpu_<i>_utilization_percentage``,
    ``system/gpu_<i>_memory_usage_megabytes`` (10**6 bytes),
    ``system/gpu_<i>_power_usage_watts`` and the rest listed in docs/hardware.md.

    Example:
        >>> probe = NvidiaProbe()
        >>> probe.available() and probe.sample()  # doctest: +SKIP
        {'system/gpu_0_utilization_percentage': 98.0, ...}
    """

    name = "nvidia"

    def __init__(self) -> None:
        self._nvml: ModuleType | None = None
        self._gpus: list[_Gpu] = []
        self._checked = False
        self._warn = WarnOnce()

    def available(self) -> bool:
        """True when nvidia-ml-py is installed, NVML starts and sees at least one GPU."""
        if not self._checked:
            self._checked = True
            self._nvml = self._init()
        return self._nvml is not None and bool(self._gpus)

    def _init(self) -> ModuleType | None:
        try:
            import pynvml
        except ImportError:
            return None
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._gpus = [_Gpu(i, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
        except pynvml.NVMLError:
            # No driver or no GPU: the probe is simply unavailable.
            return None
        module: ModuleType = pynvml
        return module

    def sample(self) -> dict[str, float]:
        """One reading of every GPU; refused readings are left out."""
        if not self.available() or self._nvml is None:
            return {}
        out: dict[str, float] = {}
        for gpu in self._gpus:
            for name, reading in _READINGS.items():
                if name not in gpu.refused:
                    for key, value in self._read(self._nvml, gpu, name, reading).items():
                        out[f"system/gpu_{gpu.index}_{key}"] = value
        return out

    def _read(self, nvml: ModuleType, gpu: _Gpu, name: str, reading: Reading) -> dict[str, float]:
        try:
            return reading(nvml, gpu.handle, gpu)
        except nvml.NVMLError as exc:
            code = getattr(exc, "value", None)
            if code in _PERMANENT:
                gpu.refused.add(name)
                self._warn(
                    f"{gpu.index}/{name}",
                    f"GPU {gpu.index}: the NVIDIA driver refused "
                    f"{name} ({exc}); it is left out of system metrics",
                )
            else:
                self._warn(
                    f"{gpu.index}/{name}",
                    f"GPU {gpu.index}: reading {name} failed "
                    f"({exc}); retrying each sample, warning once",
                )
            return {}

    def host_facts(self) -> dict[str, str]:
        """Driver and NVML versions, GPU count, each GPU's name and memory."""
        nvml = self._nvml
        if not self.available() or nvml is None:
            return {}
        facts = {"gpu_count": str(len(self._gpus))}
        for key, call in (
            ("nvidia_driver_version", "nvmlSystemGetDriverVersion"),
            ("nvml_version", "nvmlSystemGetNVMLVersion"),
        ):
            facts.update(self._fact(nvml, key, getattr(nvml, call)))
        for gpu in self._gpus:
            facts.update(self._gpu_facts(nvml, gpu))
        return facts

    def _gpu_facts(self, nvml: ModuleType, gpu: _Gpu) -> dict[str, str]:
        facts = self._fact(
            nvml, f"gpu_{gpu.index}_name", lambda: nvml.nvmlDeviceGetName(gpu.handle)
        )
        facts.update(
            self._fact(
                nvml,
                f"gpu_{gpu.index}_memory_total_megabytes",
                lambda: f"{megabytes(nvml.nvmlDeviceGetMemoryInfo(gpu.handle).total):.0f}",
            )
        )
        return facts

    def _fact(self, nvml: ModuleType, key: str, get: Callable[[], Any]) -> dict[str, str]:
        try:
            value = get()
        except nvml.NVMLError as exc:
            self._warn(f"fact/{key}", f"NVML could not report {key} ({exc})")
            return {}
        # Older nvidia-ml-py releases return bytes.
        return {key: value.decode() if isinstance(value, bytes) else str(value)}

    def close(self) -> None:
        """Shut NVML down (it is reference counted: other users keep their handle)."""
        if self._nvml is not None:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
            self._nvml = None
            self._gpus = []
