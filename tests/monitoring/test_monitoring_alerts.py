"""Alert handlers against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from tests.conftest import WebhookReceiver, free_port

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


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}/alerts"  # a port nobody listens on


def test_webhook_posts_the_event_as_json(receiver: WebhookReceiver) -> None:
    hook = WebhookAlertHandler(receiver.url, timeout=2, retries=1)
    hook(EVENT)
    assert hook.flush(10)
    assert receiver.bodies == [EVENT] and hook.delivered == 1 and hook.failed == 0


@pytest.mark.parametrize("receiver", [2], indirect=True)
def test_webhook_retries_until_the_receiver_answers(receiver: WebhookReceiver) -> None:
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
