"""Stand-ins for what cannot exist on this Linux CI machine (an NVIDIA GPU, a Mac).

The NVML stand-in replays the real H100 readings in
``tests/hardware/data/nvidia/nvml_h100_capture.json``; it keeps the real ``pynvml``
constants and error classes, and replaces only the calls that reach a driver.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pynvml as real_pynvml

FIXTURES = Path(__file__).resolve().parent / "data"  # inside the repository, never beside it
NVML_CAPTURE = FIXTURES / "nvidia" / "nvml_h100_capture.json"
APPLE = FIXTURES / "apple_silicon"

_CLOCK_FIELDS = {
    real_pynvml.NVML_CLOCK_GRAPHICS: "clock_graphics_mhz",
    real_pynvml.NVML_CLOCK_SM: "clock_sm_mhz",
    real_pynvml.NVML_CLOCK_MEM: "clock_mem_mhz",
}


class ReplayNVML(types.ModuleType):
    """A ``pynvml`` whose device calls answer from one sample of the capture at a time."""

    def __init__(self, capture: dict[str, Any]) -> None:
        super().__init__("pynvml")
        for name in dir(real_pynvml):
            if name.startswith(("NVML_", "NVMLError")):
                setattr(self, name, getattr(real_pynvml, name))
        self.capture = capture
        self.index = 0
        self.calls: dict[str, int] = {}
        self.fail_with: dict[str, int] = {}  # call name -> NVML error code to raise
        self.shutdowns = 0

    def _field(self, call: str, handle: str, field: str) -> Any:
        self.calls[call] = self.calls.get(call, 0) + 1
        if call in self.fail_with:
            raise real_pynvml.NVMLError(self.fail_with[call])
        value = self.capture["samples"][self.index][handle][field]
        if isinstance(value, dict) and "error" in value:
            # The capture recorded the driver's refusal; raise what pynvml raised.
            code = real_pynvml.NVML_ERROR_NOT_SUPPORTED if "NotSupported" in value["error"] else 999
            raise real_pynvml.NVMLError(code)
        return value

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        if "nvmlInit" in self.fail_with:
            raise real_pynvml.NVMLError(self.fail_with["nvmlInit"])

    def nvmlShutdown(self) -> None:  # noqa: N802 - pynvml's names
        self.shutdowns += 1

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802 - pynvml's names
        return int(self.capture["device_count"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> str:  # noqa: N802 - pynvml's names
        return f"gpu{index}"

    def nvmlSystemGetDriverVersion(self) -> str:  # noqa: N802 - pynvml's names
        return str(self.capture["driver"])

    def nvmlSystemGetNVMLVersion(self) -> str:  # noqa: N802 - pynvml's names
        return str(self.capture["nvml_version"])

    def nvmlDeviceGetName(self, handle: str) -> str:  # noqa: N802 - pynvml's names
        return str(self._field("name", handle, "name"))

    def nvmlDeviceGetUtilizationRates(self, handle: str) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(**self._field("utilization", handle, "utilization"))

    def nvmlDeviceGetMemoryInfo(self, handle: str) -> types.SimpleNamespace:  # noqa: N802
        return types.SimpleNamespace(**self._field("memory", handle, "memory_info_bytes"))

    def nvmlDeviceGetPowerUsage(self, handle: str) -> int:  # noqa: N802 - pynvml's names
        return int(self._field("power", handle, "power_usage_mw"))

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: str) -> int:  # noqa: N802 - pynvml's names
        return int(self._field("power_limit", handle, "enforced_power_limit_mw"))

    def nvmlDeviceGetTemperature(self, handle: str, sensor: int) -> int:  # noqa: N802
        assert sensor == real_pynvml.NVML_TEMPERATURE_GPU
        return int(self._field("temperature", handle, "temperature_gpu_c"))

    def nvmlDeviceGetClockInfo(self, handle: str, clock: int) -> int:  # noqa: N802 - pynvml's names
        return int(self._field("clock", handle, _CLOCK_FIELDS[clock]))

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: str) -> int:  # noqa: N802
        return int(self._field("energy", handle, "total_energy_mj"))

    def nvmlDeviceGetFanSpeed(self, handle: str) -> int:  # noqa: N802 - pynvml's names
        return int(self._field("fan", handle, "fan_speed_pct"))
