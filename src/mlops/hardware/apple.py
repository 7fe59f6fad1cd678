"""Apple Silicon without sudo: MLX and MPS memory, ioreg GPU statistics, thermal state, sysctl.

What each reading needs:

* MLX memory: ``mlx`` already imported by this process (``mx.get_active_memory``...;
  older MLX has them under ``mx.metal``). The probe never imports MLX or torch
  itself: it reports the frameworks the training code uses, in this process.
* PyTorch MPS memory: ``torch`` already imported and MPS available.
* GPU utilisation and in-use memory: ``ioreg`` (no sudo).
* Thermal state: ``NSProcessInfo.thermalState()`` through pyobjc, when installed.
* Chip, core counts, memory: ``sysctl`` (host facts).
* Opt-in power and frequencies: ``powermetrics`` (needs root; ``hardware.powermetrics``)
  or ``macmon pipe`` (no root; ``hardware.macmon``), run in the background.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from mlops.hardware.apple_parsers import (
    SYSCTL_NAMES,
    parse_ioreg_accelerator,
    parse_macmon,
    parse_powermetrics,
    parse_sysctl,
    sysctl_facts,
)
from mlops.hardware.base import Probe, WarnOnce, megabytes
from mlops.hardware.streams import StreamingCommand

__all__ = ["AppleSiliconProbe", "mlx_memory", "mps_memory"]

Runner = Callable[[list[str]], str]

IOREG_ARGV = ["ioreg", "-r", "-d", "1", "-w", "0", "-c", "IOAccelerator"]


def run_command(argv: list[str]) -> str:
    """Stdout of ``argv`` (5 s bound); stdout is kept even when the exit code is not 0."""
    return subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False).stdout


def mlx_memory(mx: Any) -> dict[str, float]:
    """Active, peak and cache memory of MLX's Metal allocator, in megabytes.

    ``mx`` is ``mlx.core``; MLX before 0.24 has the functions under ``mx.metal``.
    """
    source = mx if hasattr(mx, "get_active_memory") else getattr(mx, "metal", None)
    out: dict[str, float] = {}
    for kind in ("active", "peak", "cache"):
        get = getattr(source, f"get_{kind}_memory", None)
        if get is not None:
            out[f"system/mlx_{kind}_memory_megabytes"] = megabytes(get())
    return out


def mps_memory(torch: Any) -> dict[str, float]:
    """Memory PyTorch's MPS backend holds: allocated tensors and the driver's total."""
    mps = torch.mps
    return {
        "system/mps_allocated_memory_megabytes": megabytes(mps.current_allocated_memory()),
        "system/mps_driver_memory_megabytes": megabytes(mps.driver_allocated_memory()),
    }


class AppleSiliconProbe(Probe):
    """GPU, unified memory, thermal state and (opt-in) power of an Apple Silicon Mac.

    Args:
        powermetrics: Also run ``sudo -n powermetrics`` for power and frequencies.
        macmon: Also run ``macmon pipe`` for power, frequencies and temperatures.
        interval: Seconds per powermetrics/macmon record (the sampler's interval).
        runner: Runs a short command and returns its stdout (tests pass a stand-in).
    """

    name = "apple_silicon"

    def __init__(
        self,
        powermetrics: bool = False,
        macmon: bool = False,
        interval: float = 10.0,
        runner: Runner = run_command,
    ) -> None:
        self.runner = runner
        self.streams = self._streams(powermetrics, macmon, max(int(interval * 1000), 100))
        self._started = False
        self._warn = WarnOnce()
        self._foundation: ModuleType | None = None

    @staticmethod
    def _streams(powermetrics: bool, macmon: bool, interval_ms: int) -> list[StreamingCommand]:
        streams = []
        if powermetrics:
            sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
            argv = [
                *sudo,
                "powermetrics",
                "--samplers",
                "cpu_power,gpu_power,thermal",
                "-f",
                "plist",
                "-i",
                str(interval_ms),
            ]
            streams.append(StreamingCommand(argv, b"\0", parse_powermetrics))
        if macmon:
            argv = ["macmon", "pipe", "-i", str(interval_ms)]
            streams.append(StreamingCommand(argv, b"\n", lambda line: parse_macmon(line.decode())))
        return streams

    def available(self) -> bool:
        """True on an Apple Silicon Mac (macOS on arm64)."""
        return sys.platform == "darwin" and platform.machine() == "arm64"

    def sample(self) -> dict[str, float]:
        """MLX/MPS memory, ioreg GPU statistics, thermal state, then opt-in stream readings."""
        out: dict[str, float] = {}
        for source, read in (
            ("MLX memory", self._mlx),
            ("MPS memory", self._mps),
            ("ioreg", self._ioreg),
            ("thermal state", self._thermal),
        ):
            out.update(self._guarded(source, read))
        out.update(self._stream_readings())
        return out

    def _guarded(self, source: str, read: Callable[[], dict[str, float]]) -> dict[str, float]:
        try:
            return read()
        except Exception as exc:  # one broken source must not cost the others
            self._warn(source, f"Apple Silicon probe: reading {source} failed ({exc}); skipped")
            return {}

    def _mlx(self) -> dict[str, float]:
        mx = sys.modules.get("mlx.core")
        return mlx_memory(mx) if mx is not None else {}

    def _mps(self) -> dict[str, float]:
        torch = sys.modules.get("torch")
        if torch is None or not torch.backends.mps.is_available():
            return {}
        return mps_memory(torch)

    def _ioreg(self) -> dict[str, float]:
        return parse_ioreg_accelerator(self.runner(IOREG_ARGV))[0]

    def _thermal(self) -> dict[str, float]:
        if self._foundation is None:
            if not _installed("Foundation"):
                return {}
            import Foundation  # pyobjc; imported once, on first sample

            self._foundation = Foundation
        state = self._foundation.NSProcessInfo.processInfo().thermalState()
        return {"system/thermal_state": float(state)}

    def _stream_readings(self) -> dict[str, float]:
        if not self._started:
            self._started = True
            for stream in self.streams:
                stream.start()
        out: dict[str, float] = {}
        for stream in self.streams:
            if stream.error:
                self._warn(stream.argv[0], f"{stream.error}; {_stream_hint(stream.argv)}")
            out.update(stream.latest())
        return out

    def host_facts(self) -> dict[str, str]:
        """Chip, model, core counts, memory (sysctl); GPU name, core count, SoC (ioreg)."""
        facts = sysctl_facts(parse_sysctl(self.runner(["sysctl", *SYSCTL_NAMES])))
        gpu = self._guarded_facts()
        if "chip" not in facts and "gpu_0_name" in gpu:
            facts["chip"] = gpu["gpu_0_name"]  # early macOS 11 says only "Apple processor"
        facts.update(gpu)
        return facts

    def _guarded_facts(self) -> dict[str, str]:
        try:
            return parse_ioreg_accelerator(self.runner(IOREG_ARGV))[1]
        except Exception as exc:
            self._warn("ioreg facts", f"Apple Silicon probe: ioreg failed ({exc})")
            return {}

    def close(self) -> None:
        """Stop powermetrics / macmon if they were started."""
        for stream in self.streams:
            stream.close()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module in sys.modules without a spec
        return module in sys.modules and sys.modules[module] is not None


def _stream_hint(argv: list[str]) -> str:
    if "powermetrics" in argv:
        return (
            "powermetrics needs root: allow it in sudoers (NOPASSWD for /usr/bin/powermetrics) "
            "or set hardware.powermetrics = false and try hardware.macmon = true"
        )
    return "install macmon (brew install macmon) or set hardware.macmon = false"
