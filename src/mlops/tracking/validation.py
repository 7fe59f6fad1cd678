"""Input checks run before anything is written to MLflow (pure Python, hot path)."""

from __future__ import annotations

import numbers
import posixpath
import re
from collections.abc import Mapping
from typing import Any

from mlops.errors import InvalidInputError

__all__ = [
    "MAX_KEY_LENGTH",
    "MAX_PARAM_VALUE_LENGTH",
    "MAX_TAG_VALUE_LENGTH",
    "validate_key",
    "validate_metrics",
    "validate_params",
    "validate_tags",
]

# MLflow's limits (mlflow/utils/validation.py).
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
_KEY_CHARS = re.compile(r"[/\w.\- :]+")  # fullmatch: "$" would accept a final newline
# MLflow stores steps as 64-bit integers (sqlite and the SQL servers reject anything else).
MIN_STEP, MAX_STEP = -(2**63), 2**63 - 1
_KEY_HINT = (
    "keys are 1-250 characters of letters, digits, '_', '-', '.', '/', ':' and spaces, "
    "with no leading '/', no '..' and no '//'"
)
_known_keys: set[str] = set()


def validate_key(key: object, kind: str, operation: str) -> str:
    """Return ``key`` if MLflow accepts it as a metric/param/tag name, else raise."""
    if type(key) is str and key in _known_keys:
        return key
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise _bad_key(key, kind, operation)
    norm = posixpath.normpath(key)
    if not _KEY_CHARS.fullmatch(key) or norm != key or norm.startswith(("..", "/")) or norm == ".":
        raise _bad_key(key, kind, operation)
    if len(_known_keys) < 100_000:
        _known_keys.add(key)
    return key


def _bad_key(key: object, kind: str, operation: str) -> InvalidInputError:
    shown = repr(key) if not isinstance(key, str) or len(key) < 80 else repr(key[:77] + "...")
    return InvalidInputError(
        f"invalid {kind} name {shown}", component="tracking", operation=operation, hint=_KEY_HINT
    )


def validate_metrics(
    metrics: Mapping[str, Any], step: object, operation: str
) -> list[tuple[str, float]]:
    """Check names, values and step; return ``[(key, float_value), ...]``.

    Values must be real numbers (Python, NumPy or 0-d tensors with ``__float__``);
    NaN and +/-inf are kept, as MLflow stores them.
    """
    if type(metrics) is not dict and not isinstance(metrics, Mapping):
        raise InvalidInputError(
            f"metrics must be a mapping of name to number, got {type(metrics).__name__}",
            component="tracking",
            operation=operation,
            hint='e.g. {"loss": 0.42}',
        )
    if step is not None and (type(step) is not int or not MIN_STEP <= step <= MAX_STEP):
        _check_step(step, operation)
    out = []
    known = _known_keys
    for key, value in metrics.items():
        if key not in known:
            validate_key(key, "metric", operation)
        out.append((key, value if type(value) is float else _to_float(key, value, operation)))
    return out


def _check_step(step: object, operation: str) -> None:
    """Accept an integer type (NumPy's too) in MLflow's 64-bit range; else raise."""
    integral = isinstance(step, numbers.Integral) and not isinstance(step, bool)
    if integral and MIN_STEP <= int(step) <= MAX_STEP:  # type: ignore[call-overload]
        return
    raise InvalidInputError(
        f"step must be a 64-bit integer, got {_short(step)}",
        component="tracking",
        operation=operation,
        hint=f"use an int between {MIN_STEP} and {MAX_STEP}",
    )


def _to_float(key: str, value: object, operation: str) -> float:
    if isinstance(value, numbers.Real) or (
        hasattr(value, "__float__") and not isinstance(value, str | bytes)
    ):
        try:
            return float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise InvalidInputError(
                f"metric {key!r} has the value {_short(value)}, too large for a float",
                component="tracking",
                operation=operation,
                hint="log a number within +/-1.8e308 (or float('inf'))",
            ) from None
        except (TypeError, ValueError):
            pass
    raise InvalidInputError(
        f"metric {key!r} has non-numeric value {_short(value)} ({type(value).__name__})",
        component="tracking",
        operation=operation,
        hint="log numbers only; put text in tags or params",
    )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Check names and value lengths; return ``{key: str(value)}``."""
    return _validate_strings(params, "param", "log_params", MAX_PARAM_VALUE_LENGTH)


def validate_tags(tags: Mapping[str, Any], operation: str) -> dict[str, str]:
    """Check names and value lengths; return ``{key: str(value)}``."""
    return _validate_strings(tags, "tag", operation, MAX_TAG_VALUE_LENGTH)


def _validate_strings(
    values: Mapping[str, Any], kind: str, operation: str, max_len: int
) -> dict[str, str]:
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"{kind}s must be a mapping, got {type(values).__name__}",
            component="tracking",
            operation=operation,
        )
    out = {}
    for key, value in values.items():
        validate_key(key, kind, operation)
        text = value if isinstance(value, str) else str(value)
        if len(text) > max_len:
            raise InvalidInputError(
                f"{kind} {key!r} is {len(text)} characters; MLflow keeps at most {max_len}",
                component="tracking",
                operation=operation,
                hint="log long values as an artifact instead",
            )
        out[key] = text
    return out
