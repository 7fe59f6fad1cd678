"""The layout of `mlops runs list` (pure): metric choice and lines that fit any width.

The CLI itself runs on real MLflow runs in tests/integration/test_cli.py.
"""

from __future__ import annotations

import datetime as dt

import pytest

from mlops.cli._runs_table import RunRow, fit, key_metrics, render

ID = "0123456789abcdef0123456789abcdef"
ROWS = [
    RunRow("demo-train", "FINISHED", 1_764_600_000_000, {"val_log_loss": 0.25, "x": 1.0}, ID),
    RunRow(
        "a-run-name-much-longer-than-any-column-should-ever-give-it",
        "RUNNING",
        None,
        {f"metric_with_a_rather_long_name_{i}": i * 1e9 for i in range(12)},
        "f" * 32,
    ),
    RunRow("", "KILLED", 1_764_600_000_000, {}, "e" * 32),  # no name: the short id shows
]


def test_loss_then_accuracy_like_metrics_first_and_never_system_ones() -> None:
    metrics = {
        "lr": 1e-3,
        "epoch": 3.0,
        "train_loss": 0.4,
        "val_loss": 0.5,
        "val_acc": 0.8,
        "f1_score": 0.7,
        "system/cpu_utilization_percentage": 90.0,
        "system/gpu_0_memory_usage_megabytes": 1.0,
    }
    # One of each family (held-out before train) before a second one; then by name.
    assert [k for k, _ in key_metrics(metrics)] == [
        "val_loss",
        "val_acc",
        "f1_score",
        "train_loss",
        "epoch",
        "lr",
    ]


@pytest.mark.parametrize("width", range(20, 201, 9))
def test_every_line_fits_the_width(width: int) -> None:
    lines = render(ROWS, width)
    assert len(lines) == 1 + len(ROWS)
    assert all(len(line) <= width for line in lines), lines
    assert lines[0].startswith("name")


def test_the_full_run_id_and_time_show_when_there_is_room() -> None:
    wide = render(ROWS[:1], 120)
    assert ROWS[0].start_ms is not None
    started = dt.datetime.fromtimestamp(ROWS[0].start_ms / 1000)
    assert wide[1].endswith(ID) and started.strftime("%Y-%m-%d %H:%M") in wide[1]
    assert "val_log_loss=0.25, x=1" in wide[1]
    narrow = render(ROWS, 80)
    assert narrow[1].endswith(ID[:8]) and ID not in narrow[1]
    assert narrow[3].split()[0] == "e" * 8 and narrow[3].split()[1] == "KILLED"


def test_metrics_left_out_are_counted() -> None:
    (line,) = render(ROWS[1:2], 80)[1:]
    shown = line.count("=")
    assert shown >= 1 and line.split()[-2] == f"+{12 - shown}"
    assert "metric_with_a_rathe…=" in line  # names cut, values kept


def test_fit() -> None:
    assert fit("abcdef", 6) == "abcdef" and fit("abcdef", 4) == "abc…"
