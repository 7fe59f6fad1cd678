"""Alert handlers against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from mlops.errors import InvalidInputError
from mlops.monitoring.alerts import AlertDispatcher, WebhookAlertHandler, log_alerts

EVENT = {
    "project": "p",
    "check": 1,
    "alerts": [
        {"type": "data_drift", "severity": "warning", "message": "3 columns drifted"},
        {"type": "performance_drop", "severity": "critical", "message": "accuracy fell"},
    ],
}


class Receiver(ThreadingHTTPServer):
    """Records JSON bodies; answers 500 to the first ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.attempts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.attempts += 1
        if self.server.attempts <= self.server.fail_first:
            self.send_response(500)
        else:
            self.server.bodies.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver(request: pytest.FixtureRequest) -> Iterator[Receiver]:
    server = Receiver(getattr(request, "param", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def dead_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/alerts"


def test_webhook_posts_the_event_as_json(receiver: Receiver) -> None:
    hook = WebhookAlertHandler(receiver.url, timeout=2, retries=1)
    hook(EVENT)
    assert hook.flush(10)
    assert receiver.bodies == [EVENT] and hook.delivered == 1 and hook.failed == 0


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_webhook_retries_until_the_receiver_answers(receiver: Receiver) -> None:
    hook = WebhookAlertHandler(receiver.url, timeout=2, retries=3)
    hook(EVENT)
    assert hook.flush(15)
    assert receiver.attempts == 3 and receiver.bodies == [EVENT] and hook.delivered == 1


def test_dead_webhook_never_blocks_and_gives_up_with_a_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook = WebhookAlertHandler(dead_url(), timeout=1, retries=2)
    started = time.monotonic()
    hook(EVENT)
    assert time.monotonic() - started < 0.5  # the caller does not wait for delivery
    with caplog.at_level(logging.WARNING, logger="mlops.monitoring"):
        assert hook.flush(15)
    assert hook.failed == 1 and hook.delivered == 0
    assert "failed after 2 attempts" in caplog.text


def test_dispatcher_isolates_failing_handlers(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[dict[str, Any]] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    dispatcher = AlertDispatcher([log_alerts])
    dispatcher.add(broken)
    dispatcher.add(seen.append)
    with caplog.at_level(logging.WARNING, logger="mlops.monitoring"):
        errors = dispatcher.dispatch(EVENT)
    assert seen == [EVENT]
    assert errors == ["alert handler broken raised RuntimeError: boom"]
    assert "3 columns drifted" in caplog.text and "accuracy fell" in caplog.text
    levels = {
        r.getMessage().split("] ")[-1]: r.levelno
        for r in caplog.records
        if "[p check 1]" in r.getMessage()
    }
    assert levels == {"3 columns drifted": logging.WARNING, "accuracy fell": logging.ERROR}
    with pytest.raises(InvalidInputError, match="not callable"):
        dispatcher.add("not a function")  # type: ignore[arg-type]
