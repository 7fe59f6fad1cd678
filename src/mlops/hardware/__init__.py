"""Hardware probes (CPU/memory via psutil, NVIDIA via NVML, Apple Silicon) and the sampler.

Importing this package imports psutil only when a probe is built; NVML, MLX,
torch and pyobjc are touched only by the probes that need them.

Example:
    >>> from mlops.hardware import detect_probes
    >>> probes = detect_probes()          # doctest: +SKIP
    >>> [p.name for p in probes]          # doctest: +SKIP
    ['cpu', 'nvidia']
"""

from __future__ import annotations

from mlops.hardware.base import Probe, WarnOnce, megabytes
from mlops.hardware.sampler import Sampler, merge_samples
from mlops.hardware.thermal import THERMAL_SCALE, thermal_value

__all__ = [
    "THERMAL_SCALE",
    "Probe",
    "Sampler",
    "WarnOnce",
    "collect_host_facts",
    "detect_probes",
    "megabytes",
    "merge_samples",
    "thermal_value",
]


def detect_probes(
    powermetrics: bool = False, macmon: bool = False, interval: float = 10.0
) -> list[Probe]:
    """The probes this machine can report through, in merge order (later wins on a clash).

    Args:
        powermetrics: Let the Apple Silicon probe run ``powermetrics`` (root).
        macmon: Let the Apple Silicon probe run ``macmon pipe``.
        interval: Sampling interval, seconds (sets powermetrics/macmon's own).
    """
    from mlops.hardware.apple import AppleSiliconProbe
    from mlops.hardware.cpu import PsutilProbe
    from mlops.hardware.mlx import MLXMemoryProbe
    from mlops.hardware.nvidia import NvidiaProbe

    candidates: list[Probe] = [
        PsutilProbe(),
        NvidiaProbe(),
        AppleSiliconProbe(powermetrics=powermetrics, macmon=macmon, interval=interval),
        MLXMemoryProbe(),
    ]
    found = []
    for probe in candidates:
        if probe.available():
            found.append(probe)
        else:
            probe.close()
    return found


def collect_host_facts(probes: list[Probe], warn: WarnOnce | None = None) -> dict[str, str]:
    """Every probe's host facts merged; a probe that fails is warned about and skipped."""
    warn = warn or WarnOnce()
    facts: dict[str, str] = {}
    for probe in probes:
        try:
            facts.update(probe.host_facts())
        except Exception as exc:  # facts are a nicety; never fail a run over them
            warn(
                f"facts/{probe.name}",
                f"hardware probe {probe.name!r} could not list host facts ({exc})",
            )
    return facts
