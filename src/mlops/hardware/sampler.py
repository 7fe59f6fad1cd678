"""The background thread that samples probes while a run lasts.

It sleeps with ``Event.wait(interval)`` (so stopping is immediate), catches each
probe's own errors, warns once per probe, and keeps going: a hardware reading
must never stop training.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from mlops.hardware.base import Probe, WarnOnce

__all__ = ["Sampler", "merge_samples"]

#: Receives one merged sample, its step (0, 1, 2...) and its wall-clock time in ms.
Deliver = Callable[[dict[str, float], int, int], None]


def merge_samples(probes: Sequence[Probe], warn: WarnOnce) -> dict[str, float]:
    """One reading of every probe merged into one dict; a failing probe is warned about once."""
    out: dict[str, float] = {}
    for probe in probes:
        try:
            out.update(probe.sample())
        except Exception as exc:  # a probe's failure costs its readings, nothing more
            warn(
                f"probe/{probe.name}",
                f"hardware probe {probe.name!r} failed ({exc}); "
                "its readings are skipped, the sampler keeps going",
            )
    return out


class Sampler:
    """Sample ``probes`` every ``interval`` seconds on a daemon thread.

    The first sample is taken at :meth:`start`, then one per interval until
    :meth:`stop`. CPU time spent sampling is counted in :attr:`cpu_seconds`.

    Example:
        >>> sampler = Sampler([PsutilProbe()], 1.0, lambda s, step, ts: print(step, len(s)))
        >>> sampler.start(); ...; sampler.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        probes: Sequence[Probe],
        interval: float,
        deliver: Deliver,
        name: str = "mlops-sampler",
    ) -> None:
        if interval <= 0:
            raise ValueError(f"sampling interval must be positive, got {interval}")
        self.probes = list(probes)
        self.interval = interval
        self.deliver = deliver
        self.samples = 0
        self.cpu_seconds = 0.0
        self._warn = WarnOnce()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        """Start sampling in the background."""
        self._thread.start()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and the end of :meth:`stop`."""
        return self._thread.is_alive()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sampling; wait for the thread at most ``timeout`` s (default: interval + 5)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.interval + 5 if timeout is None else timeout)

    def _loop(self) -> None:
        step = 0
        while not self._stop.is_set():
            self._tick(step)
            step += 1
            if self._stop.wait(self.interval):
                break

    def _tick(self, step: int) -> None:
        started = time.thread_time()
        try:
            self._sample_and_deliver(step)
        finally:
            # Counted with delivery (the write-ahead-log append): that is the cost to training.
            self.cpu_seconds += time.thread_time() - started
            self.samples += 1

    def _sample_and_deliver(self, step: int) -> None:
        timestamp_ms = int(time.time() * 1000)
        sample = merge_samples(self.probes, self._warn)
        if not sample:
            return
        try:
            self.deliver(sample, step, timestamp_ms)
        except Exception as exc:  # the pipeline refused; keep sampling, say so once
            self._warn("deliver", f"system metrics could not be logged ({exc}); sampling continues")
