"""Apple Silicon parsers on the real powermetrics captures and macmon's documented JSON."""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest
from hw_stand_ins import APPLE

from mlops.hardware.apple_parsers import (
    parse_ioreg_accelerator,
    parse_macmon,
    parse_powermetrics,
    parse_sysctl,
    split_powermetrics_stream,
)

DATA = Path(__file__).parent / "data"
M1 = APPLE / "powermetrics_m1_macbookpro17-1.xml"
M2_ULTRA = APPLE / "powermetrics_m2ultra_mac14-14.xml"
M4_MAX = APPLE / "powermetrics_m4max_mac16-5_macos26.plist"
CAPTURES = [M1, M2_ULTRA, M4_MAX]


def test_m1_powers_are_milliwatts_and_gpu_freq_is_mhz() -> None:
    m = parse_powermetrics(M1.read_bytes())
    assert m["system/cpu_power_watts"] == pytest.approx(0.0440773)
    assert m["system/gpu_0_power_usage_watts"] == pytest.approx(0.0153528)
    assert m["system/ane_power_watts"] == 0
    assert m["system/package_power_watts"] == pytest.approx(0.0594301)
    assert m["system/gpu_0_frequency_megahertz"] == pytest.approx(714.836)  # gpu.freq_hz is MHz
    assert m["system/gpu_0_utilization_percentage"] == pytest.approx((1 - 0.983341) * 100)
    assert m["system/cpu_e_cluster_frequency_megahertz"] == pytest.approx(1022.87)  # Hz / 1e6
    assert m["system/cpu_p_cluster_utilization_percentage"] == pytest.approx((1 - 0.983957) * 100)
    assert m["system/thermal_state"] == 0  # "Nominal"


def test_m2_ultra_has_six_clusters_and_a_busy_gpu() -> None:
    m = parse_powermetrics(M2_ULTRA.read_bytes())
    clusters = {k.split("_")[1] for k in m if k.startswith("system/cpu_") and "cluster" in k}
    assert clusters == {"e0", "p0", "p1", "e1", "p2", "p3"}
    assert m["system/gpu_0_utilization_percentage"] == pytest.approx(94.63218)
    assert m["system/gpu_0_frequency_megahertz"] == pytest.approx(1360.85)
    assert m["system/gpu_0_power_usage_watts"] == pytest.approx(70.9246)


def test_m4_max_macos_26_with_tasks_and_disk_samplers() -> None:
    m = parse_powermetrics(M4_MAX.read_bytes())
    assert m["system/gpu_0_frequency_megahertz"] == 338
    assert m["system/gpu_0_utilization_percentage"] == pytest.approx(12.2657)
    assert m["system/cpu_p1_cluster_utilization_percentage"] == pytest.approx(99.762793)
    assert m["system/thermal_state"] == 0


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_power_agrees_with_energy_over_the_interval(capture: Path) -> None:
    """mW and mJ-per-interval are two views of one reading: watts = mJ / 1000 / seconds."""
    raw = plistlib.loads(capture.read_bytes())
    seconds = raw["elapsed_ns"] / 1e9
    m = parse_powermetrics(capture.read_bytes())
    from_energy = raw["processor"]["gpu_energy"] / 1000 / seconds
    assert m["system/gpu_0_power_usage_watts"] == pytest.approx(from_energy, rel=0.05, abs=0.002)


def test_m1_repeated_idle_ns_key_does_not_break_parsing() -> None:
    text = M1.read_text()
    gpu_dict = text[text.index("<key>gpu</key>") :]
    assert gpu_dict.count("<key>idle_ns</key>") == 2  # the quirk is really there
    assert "system/gpu_0_utilization_percentage" in parse_powermetrics(M1.read_bytes())


def test_a_nul_separated_stream_splits_into_its_samples() -> None:
    stream = b"\0".join(p.read_bytes() for p in CAPTURES) + b"\0"
    docs = list(split_powermetrics_stream(stream))
    assert len(docs) == 3
    freqs = [parse_powermetrics(d)["system/gpu_0_frequency_megahertz"] for d in docs]
    assert freqs == pytest.approx([714.836, 1360.85, 338.0])


def test_macmon_0_6_usage_pairs() -> None:
    m = parse_macmon((APPLE / "macmon_pipe_v0.6_documented.ndjson").read_text())
    assert m["system/cpu_e_cluster_frequency_megahertz"] == 1181
    assert m["system/cpu_e_cluster_utilization_percentage"] == pytest.approx(8.2656614)
    assert m["system/gpu_0_frequency_megahertz"] == 461
    assert m["system/gpu_0_utilization_percentage"] == pytest.approx(2.1497859)
    assert m["system/gpu_0_power_usage_watts"] == pytest.approx(0.017451683)  # watts already
    assert m["system/system_power_watts"] == pytest.approx(5.876533)
    assert m["system/gpu_0_temperature_celsius"] == pytest.approx(36.95167)
    assert m["system/swap_usage_megabytes"] == pytest.approx(2602.43456)
    assert not any("fan" in k for k in m)


def test_macmon_0_8_prefers_active_ratio_and_frequency_fields() -> None:
    m = parse_macmon((APPLE / "macmon_pipe_v0.8_documented.ndjson").read_text())
    assert m["system/cpu_e_cluster_frequency_megahertz"] == 1100
    assert m["system/cpu_e_cluster_utilization_percentage"] == pytest.approx(18.0)
    assert m["system/cpu_p_cluster_utilization_percentage"] == pytest.approx(4.0)
    assert m["system/gpu_0_utilization_percentage"] == pytest.approx(9.0)
    assert m["system/fan_0_speed_rpm"] == 999
    assert m["system/fan_1_speed_rpm"] == 1200
    assert m["system/cpu_temperature_celsius"] == pytest.approx(43.73614)


def test_ioreg_reads_the_accelerator_that_reports_utilization() -> None:
    metrics, facts = parse_ioreg_accelerator((DATA / "ioreg_ioaccelerator_example.txt").read_text())
    assert metrics == {
        "system/gpu_0_utilization_percentage": 42.0,
        "system/gpu_0_renderer_utilization_percentage": 40.0,
        "system/gpu_0_tiler_utilization_percentage": 37.0,
        "system/gpu_0_memory_usage_megabytes": 3500.0,  # not the "(driver)" key
        "system/gpu_0_memory_allocated_megabytes": 7340.032,
    }
    assert facts == {"gpu_0_core_count": "18", "gpu_0_name": "Apple M3 Pro"}


def test_ioreg_without_statistics_gives_nothing() -> None:
    assert parse_ioreg_accelerator("") == ({}, {})


def test_sysctl_lines_and_unknown_oids() -> None:
    text = (DATA / "sysctl_example.txt").read_text() + "sysctl: unknown oid 'hw.perflevel2'\n"
    parsed = parse_sysctl(text)
    assert parsed["machdep.cpu.brand_string"] == "Apple M3 Pro"
    assert parsed["hw.perflevel1.physicalcpu"] == "6"
    assert "sysctl" not in parsed
