"""The thermal-state scale and the split of hand-made Apple Silicon dicts."""

from __future__ import annotations

import pytest

from mlops.errors import InvalidInputError
from mlops.hardware.thermal import NSPROCESSINFO_STATES, split_apple_silicon_metrics, thermal_value


def test_nsprocessinfo_states_keep_their_own_numbers() -> None:
    assert [thermal_value(s) for s in NSPROCESSINFO_STATES] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("state", "value"),
    [("Nominal", 0), ("Light", 0.5), ("Moderate", 1), ("Heavy", 2), ("Critical", 3)],
)
def test_powermetrics_pressure_levels(state: str, value: float) -> None:
    assert thermal_value(state) == value


def test_unknown_state() -> None:
    assert thermal_value("toasty") is None


def test_split_numbers_and_thermal_strings() -> None:
    values, tags = split_apple_silicon_metrics(
        {"mps_utilization": 87.5, "memory_gb": 14.2, "thermal_state": "nominal"}
    )
    assert values == {
        "apple_silicon/mps_utilization": 87.5,
        "apple_silicon/memory_gb": 14.2,
        "apple_silicon/thermal_state": 0.0,
    }
    assert tags == {"apple_silicon/thermal_state": "nominal"}


def test_split_rejects_other_strings_and_non_mappings() -> None:
    with pytest.raises(InvalidInputError, match=r"'mode'.*'turbo'") as err:
        split_apple_silicon_metrics({"gpu": 50.0, "mode": "turbo"})
    assert err.value.component == "hardware" and err.value.hint
    with pytest.raises(InvalidInputError, match="mapping"):
        split_apple_silicon_metrics([("gpu", 50.0)])  # type: ignore[arg-type]
