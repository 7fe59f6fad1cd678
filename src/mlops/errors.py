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

Each adapter declares one :class:`ErrorMap` (exception type -> our error) and
translates its tool's exceptions in exactly one place, :func:`translate_errors`.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = [
    "AuthenticationError",
    "ComponentUnavailableError",
    "ConfigurationError",
    "ConnectionFailedError",
    "ErrorMap",
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


class AuthenticationError(MLOpsClientError, PermissionError):
    """A service answered and refused the credentials (never a reason to go offline)."""


def _redact_value(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


Mapper = Callable[[BaseException], MLOpsClientError | None]
#: Builds our error from a tool's exception and the map's context (None: try the next rule).
Builder = Callable[[Any, Mapping[str, str]], MLOpsClientError | None]
#: An exception type, or ``"module:Class"`` for a type of a library that may not be
#: imported (it is looked up only once its module is loaded: an exception of that type
#: cannot exist before).
TypeSpec = type[BaseException] | str


class ErrorMap:
    """An adapter's translation table: exception types to our errors, first match wins.

    Example:
        >>> ERRORS = ErrorMap(
        ...     (FileNotFoundError, lambda exc, ctx: NotFoundError(str(exc))),
        ...     ("botocore.exceptions:EndpointConnectionError",
        ...      lambda exc, ctx: ConnectionFailedError(f"cannot reach {ctx['remote']}")),
        ... )
        >>> mapper = ERRORS.bound(remote="s3://bucket")   # what translate_errors takes
    """

    def __init__(self, *rules: tuple[TypeSpec | tuple[TypeSpec, ...], Builder]) -> None:
        self.rules = [(specs if isinstance(specs, tuple) else (specs,), b) for specs, b in rules]

    def bound(self, **context: str) -> Mapper:
        """This map as a mapper for :func:`translate_errors`, with ``context`` for messages."""
        return lambda exc: self.translate(exc, context)

    def __call__(self, exc: BaseException) -> MLOpsClientError | None:
        return self.translate(exc, {})

    def translate(self, exc: BaseException, context: Mapping[str, str]) -> MLOpsClientError | None:
        """Our error for ``exc`` by the first rule whose type matches, or None."""
        for specs, build in self.rules:
            types = tuple(t for t in (_resolve(s) for s in specs) if t is not None)
            if types and isinstance(exc, types):
                mapped = build(exc, context)
                if mapped is not None:
                    return mapped
        return None


def _resolve(spec: TypeSpec) -> type[BaseException] | None:
    if not isinstance(spec, str):
        return spec
    module, _, name = spec.partition(":")
    if module not in sys.modules:
        return None
    found = getattr(importlib.import_module(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


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
