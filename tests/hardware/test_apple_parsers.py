"""Apple Silicon parsers on every real capture: powermetrics, macmon, ioreg, sysctl."""

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
    sysctl_facts,
)

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


# Every ioreg capture: what its accelerator's PerformanceStatistics and properties say.
IOREG = {
    "ioreg_l_m1_macbookair10-1_macos11.txt": (  # `ioreg -l` layout: tree bars, idle GPU
        (0.0, 0.0, 0.0, 6.373376, 2411.80672),
        {"gpu_0_core_count": "8", "gpu_0_name": "Apple M1", "gpu_0_soc": "t8103"},
    ),
    "ioreg_r_m1pro-or-max_macos12_partial.txt": (  # cut after 19 lines: no model, no `}`
        (2.0, 2.0, 2.0, 340.983808, 1214.005248),
        {"gpu_0_soc": "t6000"},
    ),
    "ioreg_r_m4_gpu10.txt": (  # "In use system memory (driver)"=0 comes first
        (17.0, 15.0, 15.0, 430.57152, 4597.121024),
        {"gpu_0_core_count": "10", "gpu_0_name": "Apple M4", "gpu_0_soc": "t8132"},
    ),
}
IOREG_METRICS = (
    "system/gpu_0_utilization_percentage",
    "system/gpu_0_renderer_utilization_percentage",
    "system/gpu_0_tiler_utilization_percentage",
    "system/gpu_0_memory_usage_megabytes",
    "system/gpu_0_memory_allocated_megabytes",
)


def test_every_ioreg_and_sysctl_capture_is_tested() -> None:
    assert set(IOREG) == {p.name for p in APPLE.glob("ioreg_*")}
    assert set(SYSCTL) == {p.name for p in APPLE.glob("sysctl_*")}


@pytest.mark.parametrize("name", sorted(IOREG))
def test_ioreg_capture(name: str) -> None:
    values, expected_facts = IOREG[name]
    metrics, facts = parse_ioreg_accelerator((APPLE / name).read_text())
    assert metrics == pytest.approx(dict(zip(IOREG_METRICS, values, strict=True)))
    assert facts == expected_facts


def test_ioreg_reads_only_the_accelerators_own_top_level_properties() -> None:
    """A full `ioreg -l` has an earlier node whose `model` is a data blob, and the
    accelerator's one-line IOReportLegend (removed from the capture) names the
    memory channels; a nested dictionary may hold its own `model`."""
    capture = (APPLE / "ioreg_l_m1_macbookair10-1_macos11.txt").read_text()
    platform = (
        "+-o MacBookAir10,1  <class IOPlatformExpertDevice, id 0x100000110, registered>\n"
        "    {\n"
        '      "model" = <"MacBookAir10,1">\n'
        "    }\n"
    )
    legend = (
        '    | |   |   |   "IOReportLegend" = ({"IOReportChannels"=((1,2,"Alloc system memory"),'
        '(3,4,"In use system memory")),"model"="legend"})\n'
    )
    lines = capture.splitlines(keepends=True)
    full = platform + lines[0] + lines[1] + legend + "".join(lines[2:])
    assert parse_ioreg_accelerator(full) == parse_ioreg_accelerator(capture)
    assert parse_ioreg_accelerator(full)[1]["gpu_0_name"] == "Apple M1"


def test_ioreg_nested_dictionaries_do_not_end_the_entry() -> None:
    """M4's SchedulerState nests dictionaries three deep before PerformanceStatistics."""
    text = (APPLE / "ioreg_r_m4_gpu10.txt").read_text()
    assert text.index('"SchedulerState"') < text.index('"PerformanceStatistics"')
    metrics, facts = parse_ioreg_accelerator(text)
    assert metrics["system/gpu_0_memory_usage_megabytes"] == pytest.approx(430.57152)  # not 0
    assert facts["gpu_0_core_count"] == "10"  # a property after the nested ones


def test_ioreg_without_statistics_gives_nothing() -> None:
    assert parse_ioreg_accelerator("") == ({}, {})
    partial = (APPLE / "ioreg_r_m1pro-or-max_macos12_partial.txt").read_text()
    assert parse_ioreg_accelerator(partial.split('"PerformanceStatistics"')[0]) == ({}, {})


# Every sysctl capture: the facts it gives and its memory in GiB as its README says.
SYSCTL = {
    "sysctl_m1_macos11.txt": {  # only machdep.cpu and hw.optional; "Apple processor"
        "cpu_cores_logical": "8",
    },
    "sysctl_m1pro_macos12.txt": {  # macOS 12: levels have no names
        "chip": "Apple M1 Pro",
        "board": "J314s",
        "cpu_cores_logical": "8",
        "memory_total_megabytes": "17180",  # 16 GiB
        "cpu_cores_performance": "6",
        "cpu_cores_efficiency": "2",
    },
    "sysctl_m2_j413.txt": {  # `sysctl hw` only: no brand string
        "board": "J413",
        "cpu_cores_logical": "8",
        "memory_total_megabytes": "25770",  # 24 GiB
        "cpu_cores_performance": "4",
        "cpu_cores_efficiency": "4",
    },
    "sysctl_m3max_j516c.txt": {  # perflevel1 listed before perflevel0
        "board": "J516c",
        "cpu_cores_logical": "16",
        "memory_total_megabytes": "137439",  # 128 GiB
        "cpu_cores_performance": "12",
        "cpu_cores_efficiency": "4",
    },
    "sysctl_m4max_macos15.txt": {
        "chip": "Apple M4 Max",
        "board": "J614c",
        "cpu_cores_logical": "16",
        "memory_total_megabytes": "68719",  # 64 GiB
        "cpu_cores_performance": "12",
        "cpu_cores_efficiency": "4",
    },
    "sysctl_m5_macos26.txt": {  # the top level is named "Super", not "Performance"
        "chip": "Apple M5",
        "board": "J704",
        "cpu_cores_logical": "10",
        "memory_total_megabytes": "25770",  # 24 GiB
        "cpu_cores_super": "4",
        "cpu_cores_efficiency": "6",
    },
}
GIB = {"m1pro": 16, "m2": 24, "m3max": 128, "m4max": 64, "m5": 24}


@pytest.mark.parametrize("name", sorted(SYSCTL))
def test_sysctl_capture(name: str) -> None:
    text = (APPLE / name).read_text()
    parsed = parse_sysctl(text)
    assert len(parsed) == len(text.splitlines())  # every line is one name: value
    assert sysctl_facts(parsed) == SYSCTL[name]


@pytest.mark.parametrize("name", sorted(SYSCTL))
def test_sysctl_levels_add_up_and_memory_is_bytes(name: str) -> None:
    parsed = parse_sysctl((APPLE / name).read_text())
    facts = sysctl_facts(parsed)
    levels = [int(v) for k, v in facts.items() if k.startswith("cpu_cores_") and "logical" not in k]
    if levels:
        assert sum(levels) == int(facts["cpu_cores_logical"]) == int(parsed["hw.physicalcpu"])
    chip = name.split("_")[1]
    if chip in GIB:
        assert int(parsed["hw.memsize"]) == GIB[chip] * 2**30


def test_sysctl_values_are_kept_as_printed() -> None:
    m2 = parse_sysctl((APPLE / "sysctl_m2_j413.txt").read_text())
    assert m2["hw.cpufamily"] == "-634136515"  # negative
    assert m2["hw.cacheconfig"] == "8 1 4 0 0 0 0 0 0 0"  # a list
    assert m2["hw.osenvironment"] == ""  # empty, and left out of the facts
    assert "hw.osenvironment" not in sysctl_facts(m2)
    m1 = parse_sysctl((APPLE / "sysctl_m1_macos11.txt").read_text())
    assert m1["machdep.cpu.brand_string"] == "Apple processor"  # names no chip


def test_sysctl_unknown_oid_lines_are_skipped() -> None:
    text = (APPLE / "sysctl_m5_macos26.txt").read_text() + "sysctl: unknown oid 'hw.model'\n"
    parsed = parse_sysctl(text)
    assert "sysctl" not in parsed and "hw.model" not in parsed
    assert parsed["hw.perflevel0.name"] == "Super"
