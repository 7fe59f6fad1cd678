"""One numeric scale for the thermal states macOS reports, so they plot next to a loss curve.

The scale is ``NSProcessInfo.thermalState()``'s own integers (0 nominal, 1 fair,
2 serious, 3 critical). ``powermetrics`` reports thermal *pressure* with other
names; each is placed where Apple's descriptions put it on the same scale:

=========================  =====
state                      value
=========================  =====
nominal / Nominal          0
Light (powermetrics)       0.5
fair / Moderate            1
serious / Heavy            2
critical / Critical        3
Trapping, Sleeping         3
=========================  =====

Names match case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlops.errors import InvalidInputError

__all__ = ["NSPROCESSINFO_STATES", "THERMAL_SCALE", "split_apple_silicon_metrics", "thermal_value"]

#: ``NSProcessInfoThermalState`` raw values, in order.
NSPROCESSINFO_STATES = ("nominal", "fair", "serious", "critical")

THERMAL_SCALE: dict[str, float] = {
    "nominal": 0.0,
    "light": 0.5,
    "fair": 1.0,
    "moderate": 1.0,
    "serious": 2.0,
    "heavy": 2.0,
    "critical": 3.0,
    # The kernel's two levels past "heavy"; powermetrics prints them by these names.
    "trapping": 3.0,
    "sleeping": 3.0,
}


def thermal_value(state: str) -> float | None:
    """The scale value of a thermal state name, or None when the name is unknown.

    Example:
        >>> thermal_value("Nominal"), thermal_value("serious"), thermal_value("hot")
        (0.0, 2.0, None)
    """
    return THERMAL_SCALE.get(state.strip().lower())


def split_apple_silicon_metrics(
    metrics: Mapping[str, Any], prefix: str = "apple_silicon/"
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a hand-made Apple Silicon dict into metric values and tags.

    Numbers (and anything else that is not a string) go to the metrics, checked
    later as any metric value. A known thermal-state string becomes its scale
    value *and* a tag holding the string; any other string is rejected.

    Example:
        >>> split_apple_silicon_metrics({"memory_gb": 14.2, "thermal_state": "nominal"})
        ({'apple_silicon/memory_gb': 14.2, 'apple_silicon/thermal_state': 0.0}, \
{'apple_silicon/thermal_state': 'nominal'})

    Raises:
        InvalidInputError: ``metrics`` is not a mapping, or a value is an unknown string.
    """
    if not isinstance(metrics, Mapping):
        raise InvalidInputError(
            f"metrics must be a mapping of name to number, got {type(metrics).__name__}",
            component="hardware",
            operation="log_apple_silicon_metrics",
            hint='e.g. {"mps_utilization": 87.5, "thermal_state": "nominal"}',
        )
    values: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, str):
            values[name] = _thermal_or_raise(str(key), value)
            tags[name] = value
        else:
            values[name] = value
    return values, tags


def _thermal_or_raise(key: str, value: str) -> float:
    number = thermal_value(value)
    if number is None:
        raise InvalidInputError(
            f"apple_silicon metric {key!r} is the string {value!r}, which is neither a number "
            "nor a known thermal state; nothing was logged",
            component="hardware",
            operation="log_apple_silicon_metrics",
            hint="pass numbers, or a thermal state: nominal, fair, serious, critical "
            "(NSProcessInfo) or Nominal, Light, Moderate, Heavy, Critical (powermetrics)",
        )
    return number
