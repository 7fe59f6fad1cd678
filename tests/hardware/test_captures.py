"""The hardware captures live in the repository and each is described in its README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hw_stand_ins import APPLE, FIXTURES, NVML_CAPTURE

REPO = Path(__file__).resolve().parents[2]


def test_captures_are_inside_the_repository() -> None:
    for path in (FIXTURES, APPLE, NVML_CAPTURE):
        assert path.resolve().is_relative_to(REPO), path
        assert path.exists(), path


@pytest.mark.parametrize("folder", ["apple_silicon", "nvidia"])
def test_every_capture_is_listed_in_its_readme(folder: str) -> None:
    here = FIXTURES / folder
    listed = set(re.findall(r"^\| ([\w.-]+\.\w+) \|", (here / "README.md").read_text(), re.M))
    files = {p.name for p in here.iterdir() if p.name != "README.md"}
    assert listed == files
