"""The exception tree, redaction and translation."""

from __future__ import annotations

import pickle

import pytest

from mlops import errors
from mlops.errors import (
    ComponentUnavailableError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
    redact,
    translate_errors,
)


def test_all_is_sorted_and_complete() -> None:
    assert errors.__all__ == sorted(errors.__all__)
    exported = {n for n in dir(errors) if n.endswith("Error")} - {"Mapper"}
    assert exported <= set(errors.__all__)


def test_tree() -> None:
    for cls in (
        ComponentUnavailableError,
        ConfigurationError,
        InvalidInputError,
        ConnectionFailedError,
    ):
        assert issubclass(cls, MLOpsClientError)
    assert issubclass(NotFoundError, InvalidInputError)
    assert issubclass(InvalidInputError, ValueError)
    assert issubclass(OperationTimeoutError, ConnectionFailedError)
    assert issubclass(OperationTimeoutError, TimeoutError)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("postgresql://bob:hunter2@db:5432/x", "postgresql://bob:***@db:5432/x"),
        ("http://u:p%40ss@h/api", "http://u:***@h/api"),
        ("s3://bucket/key?token=abc123&x=1", "s3://bucket/key?token=***&x=1"),
        ("AWS_SECRET_ACCESS_KEY=zzz", "AWS_SECRET_ACCESS_KEY=***"),
        ("password: letmein", "password: ***"),
        ("http://host:5000/path", "http://host:5000/path"),
        ("sqlite:////tmp/a.db", "sqlite:////tmp/a.db"),
    ],
)
def test_redact(raw: str, clean: str) -> None:
    assert redact(raw) == clean


def test_message_hint_and_details_are_redacted() -> None:
    err = MLOpsClientError(
        "cannot reach postgresql://a:b@h/db",
        component="tracking",
        operation="connect",
        details={"uri": "http://x:y@h"},
        hint="set MLOPS_TRACKING_URI=http://x:y@h",
    )
    text = str(err)
    assert text.startswith("[tracking.connect] cannot reach postgresql://a:***@h/db")
    assert ":y@" not in text and err.details["uri"] == "http://x:***@h"
    again = pickle.loads(pickle.dumps(err))
    assert (again.component, again.operation, again.hint) == (
        err.component,
        err.operation,
        err.hint,
    )


def test_translate_errors_maps_and_chains() -> None:
    def mapper(exc: BaseException) -> MLOpsClientError | None:
        return NotFoundError("gone") if isinstance(exc, KeyError) else None

    with pytest.raises(NotFoundError) as info, translate_errors("x", "op", mapper):
        raise KeyError("k")
    assert info.value.component == "x" and info.value.operation == "op"
    assert isinstance(info.value.__cause__, KeyError)
    with (
        pytest.raises(MLOpsClientError, match="RuntimeError: boom") as info2,
        translate_errors("x", "op", mapper, hint="try again"),
    ):
        raise RuntimeError("boom")
    assert info2.value.hint == "try again"
    inner = InvalidInputError("bad", component="inner")
    with pytest.raises(InvalidInputError) as info3, translate_errors("outer", "op"):
        raise inner
    assert info3.value is inner and inner.component == "inner" and inner.operation == "op"
    with pytest.raises(KeyboardInterrupt), translate_errors("x", "op"):
        raise KeyboardInterrupt
