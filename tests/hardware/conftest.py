"""Fixtures of the hardware tests: the NVML replay of the real H100 capture."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from hw_stand_ins import NVML_CAPTURE, ReplayNVML


@pytest.fixture
def nvml_capture() -> dict[str, Any]:
    """The real H100 capture."""
    data: dict[str, Any] = json.loads(NVML_CAPTURE.read_text())
    return data


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch, nvml_capture: dict[str, Any]) -> ReplayNVML:
    """``import pynvml`` now gets the replay of the real H100 readings."""
    fake = ReplayNVML(nvml_capture)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake
