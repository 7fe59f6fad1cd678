"""One exception tree for everything that leaves ``mlops``.

Every failure a caller sees is an :class:`MLOpsClientError` carrying the
``component`` (``tracking``, ``telemetry``, ``versioning``, ``serving``,
``monitoring``, ``hardware``, ``config``, ``workspace``, ``cli``), the
``operation`` that failed, optional ``details`` and, where it helps, a ``hint``
naming the exact command or setting that fixes it. The original tool exception
is chained (``raise ... from exc``).

The tree::

    MLOpsClientError
    ├── ComponentUnavailableError   an optional tool is not installed (hint: install command)
    ├── ConfigurationError          a config file, key or value is wrong (names key and file)
    ├── InvalidInputError           an argument was rejected before anything was written
    │   └── NotFoundError           the named run, model, file or tag does not exist
    └── ConnectionFailedError       a service could not be reached or answered an error
        └── OperationTimeoutError   a bounded wait ran out

Adapters translate their tool's exceptions in exactly one place, with
:func:`translate_errors` and a mapper of their own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = [
    "ComponentUnavailableError",
    "ConfigurationError",
    "ConnectionFailedError",
    "InvalidInputError",
    "MLOpsClientError",
    "NotFoundError",
    "OperationTimeoutError",
    "redact",
    "translate_errors",
]

# scheme://user:password@host -> scheme://user:***@host
_USERINFO = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@"
)
# ?password=..., &token=..., secret_key=..., AWS_SECRET_ACCESS_KEY=...
_SECRET_PARAM = re.compile(
    r"(?P<key>\b[\w-]*(?:password|passwd|pwd|token|secret|access_key|api_key|apikey)[\w-]*)"
    r"(?P<sep>\s*[=:]\s*)(?P<val>[^\s&;,'\"]+)",
    re.IGNORECASE,
)


def redact(text: object) -> str:
    """Return ``text`` with passwords, tokens and secret keys replaced by ``***``.

    Example:
        >>> redact("postgresql://bob:hunter2@db:5432/mlflow")
        'postgresql://bob:***@db:5432/mlflow'
    """
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", str(text))
    return _SECRET_PARAM.sub(lambda m: f"{m['key']}{m['sep']}***", out)


class MLOpsClientError(Exception):
    """Root of every error ``mlops`` raises.

    Args:
        message: What happened, to which thing.
        component: The part of ``mlops`` that failed (``tracking``, ``versioning``...).
        operation: The operation that failed (``log_metrics``, ``dvc_push``...).
        details: Extra facts (redacted when rendered).
        hint: What to do next: a command or setting.
    """

    def __init__(
        self,
        message: str,
        component: str | None = None,
        operation: str | None = None,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = redact(message)
        self.component = component
        self.operation = operation
        self.details = {k: _redact_value(v) for k, v in (details or {}).items()}
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        where = ".".join(p for p in (self.component, self.operation) if p)
        text = f"[{where}] {self.message}" if where else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            self.__class__,
            (self.message, self.component, self.operation, self.details, self.hint),
        )


class ComponentUnavailableError(MLOpsClientError):
    """An optional tool (DVC, BentoML, Evidently, NVML...) is not installed."""


class ConfigurationError(MLOpsClientError):
    """A configuration file, key or value is invalid."""


class InvalidInputError(MLOpsClientError, ValueError):
    """An argument was rejected; nothing was written."""


class NotFoundError(InvalidInputError):
    """The run, model, file or tag named does not exist."""


class ConnectionFailedError(MLOpsClientError, ConnectionError):
    """A service (tracking server, remote, model server) failed or could not be reached."""


class OperationTimeoutError(ConnectionFailedError, TimeoutError):
    """A bounded wait ran out."""


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


Mapper = Callable[[BaseException], MLOpsClientError | None]


@contextmanager
def translate_errors(
    component: str,
    operation: str,
    mapper: Mapper | None = None,
    hint: str | None = None,
) -> Iterator[None]:
    """Re-raise any exception from the block as an :class:`MLOpsClientError`.

    ``MLOpsClientError`` passes through with its component and operation filled
    in when missing. Other exceptions go through ``mapper`` (the adapter's own
    translation, returning ``None`` to fall back) and otherwise become a plain
    ``MLOpsClientError``. The original is always chained.
    """
    try:
        yield
    except MLOpsClientError as err:
        err.component = err.component or component
        err.operation = err.operation or operation
        raise
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        mapped = mapper(exc) if mapper else None
        if mapped is None:
            mapped = MLOpsClientError(f"{type(exc).__name__}: {exc}", hint=hint)
        mapped.component = mapped.component or component
        mapped.operation = mapped.operation or operation
        if hint and not mapped.hint:
            mapped.hint = hint
        raise mapped from exc
