"""Retry pacing for delivery: exponential backoff with jitter behind a circuit breaker."""

from __future__ import annotations

import random
import time

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Closed (deliver), open (wait), half-open (one probe attempt).

    After ``failures`` consecutive failures the breaker opens for a backoff that
    doubles per further failure (``base`` up to ``max_backoff`` seconds, with
    full jitter), so a dead server is probed rarely instead of hammered. Any
    success closes it again.
    """

    def __init__(self, failures: int = 3, base: float = 0.5, max_backoff: float = 30.0) -> None:
        self.threshold = max(1, failures)
        self.base = base
        self.max_backoff = max_backoff
        self.consecutive_failures = 0
        self.open_until = 0.0
        self.last_error: str | None = None

    @property
    def is_open(self) -> bool:
        """True while deliveries should not be tried."""
        return time.monotonic() < self.open_until

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self.consecutive_failures < self.threshold:
            return "closed"
        return "open" if self.is_open else "half-open"

    def retry_now(self) -> None:
        """Let the next attempt through at once (someone asked to sync)."""
        self.open_until = 0.0

    def record_success(self) -> None:
        """A delivery worked: close the breaker."""
        self.consecutive_failures = 0
        self.open_until = 0.0
        self.last_error = None

    def record_failure(self, error: str) -> float:
        """A delivery failed: return the pause before the next attempt."""
        self.consecutive_failures += 1
        self.last_error = error
        exponent = self.consecutive_failures - 1
        ceiling = min(self.max_backoff, self.base * (2**exponent))
        pause = random.uniform(ceiling / 2, ceiling)
        self.open_until = time.monotonic() + pause
        return pause
