"""The probe interface every hardware source implements, and a warn-once helper.

A probe answers three questions: can this machine report anything through me
(:meth:`Probe.available`), what are the readings now (:meth:`Probe.sample`, a flat
``{"system/<name>_<unit>": value}`` dict), and what does not change while a run
lasts (:meth:`Probe.host_facts`, logged once as tags).
"""

from __future__ import annotations

import threading
import warnings
from abc import ABC, abstractmethod

__all__ = ["Probe", "WarnOnce", "megabytes"]

#: MLflow's system metrics count a megabyte as 10**6 bytes; ours do too.
BYTES_PER_MB = 1e6


def megabytes(n_bytes: float) -> float:
    """Bytes to megabytes as MLflow counts them (10**6 bytes)."""
    return float(n_bytes) / BYTES_PER_MB


class Probe(ABC):
    """One source of hardware readings (psutil, NVML, Apple Silicon).

    Subclasses keep :meth:`sample` cheap: the sampler calls it every
    ``hardware.interval`` seconds while training runs.
    """

    #: Short name shown by ``mlops hardware`` and in warnings.
    name: str = "probe"

    @abstractmethod
    def available(self) -> bool:
        """True when this machine can report through this probe."""

    @abstractmethod
    def sample(self) -> dict[str, float]:
        """Current readings, keyed by metric name (``system/...``)."""

    def host_facts(self) -> dict[str, str]:
        """Facts that do not change during a run (chip, core counts, GPU names)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook, most probes hold nothing
        """Release what the probe holds (subprocesses, library handles)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class WarnOnce:
    """Emit each distinct warning once, so a failing reading never floods the log.

    Example:
        >>> warn = WarnOnce()
        >>> warn("gpu_0/fan", "fan speed not supported")  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str) -> bool:
        """Warn with ``message`` unless ``key`` was warned about before; True if warned."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return True

    def seen(self, key: str) -> bool:
        """True when ``key`` was already warned about."""
        with self._lock:
            return key in self._seen
