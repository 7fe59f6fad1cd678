"""Alert handlers: the log, Python callbacks, and an HTTP webhook.

A handler is any callable taking one *event* dict::

    {"project": "...", "check": 3, "timestamp": "2026-...Z",
     "alerts": [{"type": "data_drift", "severity": "warning", "message": "...",
                 "value": 0.6, "threshold": 0.5}, ...],
     "retraining_suggested": true, "reasons": ["..."], "report_path": "..."}

Handlers run only when a check raised at least one alert. A handler that
raises is logged and skipped: alerting never breaks the check. The webhook
posts from a background thread with a bounded number of attempts, so a
receiver that is down costs the check nothing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["AlertDispatcher", "AlertHandler", "WebhookAlertHandler", "log_alerts"]

AlertHandler = Callable[[dict[str, Any]], None]
logger = logging.getLogger("mlops.monitoring")


def log_alerts(event: dict[str, Any]) -> None:
    """Built-in handler: one WARNING (ERROR when critical) log line per alert."""
    for alert in event.get("alerts", []):
        level = logging.ERROR if alert.get("severity") == "critical" else logging.WARNING
        logger.log(
            level, "[%s check %s] %s", event.get("project"), event.get("check"), alert["message"]
        )


class WebhookAlertHandler:
    """POST each event as JSON to ``url`` from a background thread.

    Args:
        url: The receiver (``http://`` or ``https://``).
        timeout: Seconds per attempt.
        retries: Attempts in all; between them it waits 0.5 s, 1 s, 2 s...

    Example:
        >>> hook = WebhookAlertHandler("http://127.0.0.1:9000/alerts")  # doctest: +SKIP
        >>> hook({"alerts": [...]})   # returns at once                # doctest: +SKIP
        >>> hook.flush(timeout=10)    # True when every post finished  # doctest: +SKIP
    """

    def __init__(self, url: str, timeout: float = 5.0, retries: int = 3) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = max(1, retries)
        self.delivered = 0
        self.failed = 0
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for delivery and return at once."""
        body = json.dumps(event, default=str).encode()
        thread = threading.Thread(
            target=self._deliver, args=(body,), name="mlops-webhook", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for pending posts; True when none is left."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def _deliver(self, body: bytes) -> None:
        error: Exception | None = None
        for attempt in range(self.retries):
            try:
                self._post(body)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                error = exc
                if attempt + 1 < self.retries:
                    time.sleep(0.5 * 2**attempt)
                continue
            with self._lock:
                self.delivered += 1
            return
        with self._lock:
            self.failed += 1
        logger.warning(
            "alert webhook %s failed after %d attempts: %s", self.url, self.retries, error
        )

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "mlops-monitoring"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            response.read()


class AlertDispatcher:
    """Calls every handler with an event, isolating each handler's failure."""

    def __init__(self, handlers: Iterable[AlertHandler] = ()) -> None:
        self.handlers: list[AlertHandler] = list(handlers)

    def add(self, handler: AlertHandler) -> None:
        """Register ``handler`` (any callable taking the event dict)."""
        if not callable(handler):
            from mlops.errors import InvalidInputError

            raise InvalidInputError(
                f"alert handler {handler!r} is not callable",
                component="monitoring",
                operation="add_alert_handler",
                hint="pass a function taking one dict",
            )
        self.handlers.append(handler)

    def dispatch(self, event: dict[str, Any]) -> list[str]:
        """Call each handler; return one message per handler that raised."""
        errors = []
        for handler in self.handlers:
            try:
                handler(event)
            except Exception as exc:  # a user's handler must not break the check
                name = getattr(handler, "__name__", type(handler).__name__)
                logger.warning("alert handler %s raised %s: %s", name, type(exc).__name__, exc)
                errors.append(f"alert handler {name} raised {type(exc).__name__}: {exc}")
        return errors

    def flush(self, timeout: float) -> bool:
        """Wait for background deliveries (webhooks); True when all finished."""
        deadline = time.monotonic() + timeout
        done = True
        for handler in self.handlers:
            if isinstance(handler, WebhookAlertHandler):
                done = handler.flush(max(0.0, deadline - time.monotonic())) and done
        return done
