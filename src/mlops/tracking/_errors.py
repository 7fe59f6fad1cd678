"""The MLflow adapter's one error map: MLflow, HTTP and database exceptions to ours.

Part of the MLflow adapter (it imports MLflow and the libraries MLflow talks
through: requests, urllib3, SQLAlchemy). Messages are redacted by
:class:`~mlops.errors.MLOpsClientError` itself and shortened here.
"""

from __future__ import annotations

from collections.abc import Mapping

import requests.exceptions
import sqlalchemy.exc
import urllib3.exceptions
from mlflow.exceptions import MlflowException, RestException

from mlops.errors import (
    AuthenticationError,
    ConnectionFailedError,
    ErrorMap,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
    redact,
)

__all__ = ["MLFLOW_ERRORS", "is_lookup_miss", "short"]

_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_INVALID_CODES = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "BAD_REQUEST",
    "INVALID_STATE",
}
_AUTH_CODES = {"UNAUTHENTICATED", "PERMISSION_DENIED"}


def short(text: object, limit: int = 600) -> str:
    """``text`` redacted and cut to ``limit`` characters."""
    out = redact(text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def is_lookup_miss(exc: BaseException) -> bool:
    """True for MLflow's answers to a lookup of a named thing that is not there.

    MLflow says "not found" for most misses, "invalid parameter" for some (an
    unknown alias, a malformed id).
    """
    codes = _NOT_FOUND_CODES | {"INVALID_PARAMETER_VALUE"}
    return isinstance(exc, MlflowException) and str(exc.error_code) in codes


def _mlflow(exc: MlflowException, _: Mapping[str, str]) -> MLOpsClientError:
    code, message = str(exc.error_code), short(exc.message)
    if code in _NOT_FOUND_CODES:
        return NotFoundError(message)
    if code in _AUTH_CODES or (isinstance(exc, RestException) and "401" in message[:40]):
        return AuthenticationError(
            f"the tracking server refused the credentials: {message}",
            hint="check the user and password in the tracking URI, or "
            "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD / MLFLOW_TRACKING_TOKEN",
        )
    if code in _INVALID_CODES or _data_error(message):
        return InvalidInputError(message)
    if isinstance(exc, RestException) or "API request" in message:
        return ConnectionFailedError(message, hint="check that the tracking server is up")
    return MLOpsClientError(message)


def _data_error(message: str) -> bool:
    """A server error that is the data's fault (the database cannot hold a value)."""
    markers = ("out of range", "DataError", "NumericValueOutOfRange", "too large to convert")
    return any(m in message for m in markers)


def _timeout(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return OperationTimeoutError(f"{type(exc).__name__}: {short(exc)}")


def _unreachable(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return ConnectionFailedError(f"{type(exc).__name__}: {short(exc)}")


def _value_out_of_range(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError | None:
    # A value the database cannot hold is the data's fault, not the server's.
    text = str(exc)
    if "out of range" in text or "too large" in text:
        return InvalidInputError(f"the store rejected a value: {short(text, 300)}")
    return None


def _missing_file(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return NotFoundError(f"{short(exc)}", hint="check the path")


MLFLOW_ERRORS = ErrorMap(
    (MlflowException, _mlflow),
    (
        (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError),
        _timeout,
    ),
    ((sqlalchemy.exc.DataError, OverflowError), _value_out_of_range),
    (FileNotFoundError, _missing_file),
    (
        (
            requests.exceptions.ConnectionError,
            urllib3.exceptions.MaxRetryError,
            sqlalchemy.exc.OperationalError,
            ConnectionError,
        ),
        _unreachable,
    ),
)
