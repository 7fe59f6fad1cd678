"""AppleSiliconProbe with stand-ins for what only a Mac has (MLX, MPS, pyobjc, ioreg, sysctl)."""

from __future__ import annotations

import importlib.machinery
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from hw_stand_ins import APPLE

from mlops.hardware.apple import IOREG_ARGV, AppleSiliconProbe, mlx_memory, mps_memory
from mlops.hardware.apple_parsers import parse_macmon, parse_powermetrics
from mlops.hardware.streams import StreamingCommand

GB = 1_000_000_000


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def _mac(sysctl: str, ioreg: str | None) -> Callable[[list[str]], str]:
    """A Mac's ``ioreg`` and ``sysctl`` answering from real captures.

    Like the real ``sysctl <names>``, it prints only the names asked for (an unknown
    one goes to stderr, which the probe does not read).
    """
    listing = (APPLE / sysctl).read_text().splitlines()

    def run(argv: list[str]) -> str:
        if argv[0] == "ioreg":
            assert argv == IOREG_ARGV
            return (APPLE / ioreg).read_text() if ioreg else ""
        assert argv[0] == "sysctl"
        return "".join(f"{line}\n" for line in listing if line.partition(":")[0] in argv[1:])

    return run


_runner = _mac("sysctl_m4max_macos15.txt", "ioreg_r_m4_gpu10.txt")


def test_mlx_memory_current_and_older_api() -> None:
    current = _module(
        "mlx.core",
        get_active_memory=lambda: 2 * GB,
        get_peak_memory=lambda: 3 * GB,
        get_cache_memory=lambda: GB // 2,
    )
    assert mlx_memory(current) == {
        "system/mlx_active_memory_megabytes": 2000.0,
        "system/mlx_peak_memory_megabytes": 3000.0,
        "system/mlx_cache_memory_megabytes": 500.0,
    }
    metal = types.SimpleNamespace(
        get_active_memory=lambda: GB, get_peak_memory=lambda: 4 * GB, get_cache_memory=lambda: 0
    )
    older = _module("mlx.core", metal=metal)  # MLX < 0.24: under mx.metal
    assert mlx_memory(older)["system/mlx_peak_memory_megabytes"] == 4000.0


def test_mps_memory() -> None:
    mps = types.SimpleNamespace(
        current_allocated_memory=lambda: 1_500_000_000,
        driver_allocated_memory=lambda: 2_250_000_000,
    )
    assert mps_memory(types.SimpleNamespace(mps=mps)) == {
        "system/mps_allocated_memory_megabytes": 1500.0,
        "system/mps_driver_memory_megabytes": 2250.0,
    }


def test_probe_reads_what_the_process_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    mx = _module(
        "mlx.core",
        get_active_memory=lambda: GB,
        get_peak_memory=lambda: 2 * GB,
        get_cache_memory=lambda: 0,
    )
    monkeypatch.setitem(sys.modules, "mlx.core", mx)
    info = types.SimpleNamespace(thermalState=lambda: 2)  # NSProcessInfoThermalStateSerious
    foundation = _module(
        "Foundation", NSProcessInfo=types.SimpleNamespace(processInfo=lambda: info)
    )
    monkeypatch.setitem(sys.modules, "Foundation", foundation)
    sample = AppleSiliconProbe(runner=_runner).sample()
    assert sample["system/mlx_peak_memory_megabytes"] == 2000.0
    assert sample["system/gpu_0_utilization_percentage"] == 17.0  # the M4 capture
    assert sample["system/gpu_0_memory_usage_megabytes"] == 430.57152
    assert sample["system/thermal_state"] == 2.0


def test_probe_never_imports_frameworks_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "mlx.core", raising=False)
    monkeypatch.setitem(sys.modules, "Foundation", None)  # type: ignore[arg-type]
    sample = AppleSiliconProbe(runner=_runner).sample()
    assert not any("mlx" in k for k in sample)
    assert "system/thermal_state" not in sample
    assert "mlx.core" not in sys.modules


MACHINES = {
    "m1-macos11": (  # brand string says "Apple processor": the chip comes from ioreg
        "sysctl_m1_macos11.txt",
        "ioreg_l_m1_macbookair10-1_macos11.txt",
        {
            "chip": "Apple M1",
            "cpu_cores_logical": "8",
            "gpu_0_core_count": "8",
            "gpu_0_name": "Apple M1",
            "gpu_0_soc": "t8103",
        },
    ),
    "m1pro-macos12": (  # ioreg cut short: only the SoC id, no GPU name or cores
        "sysctl_m1pro_macos12.txt",
        "ioreg_r_m1pro-or-max_macos12_partial.txt",
        {
            "chip": "Apple M1 Pro",
            "board": "J314s",
            "cpu_cores_logical": "8",
            "memory_total_megabytes": "17180",
            "cpu_cores_performance": "6",
            "cpu_cores_efficiency": "2",
            "gpu_0_soc": "t6000",
        },
    ),
    "m5-macos26": (  # no ioreg output at all; levels Super + Efficiency
        "sysctl_m5_macos26.txt",
        None,
        {
            "chip": "Apple M5",
            "board": "J704",
            "cpu_cores_logical": "10",
            "memory_total_megabytes": "25770",
            "cpu_cores_super": "4",
            "cpu_cores_efficiency": "6",
        },
    ),
}


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_host_facts_from_sysctl_and_ioreg(machine: str) -> None:
    sysctl, ioreg, expected = MACHINES[machine]
    assert AppleSiliconProbe(runner=_mac(sysctl, ioreg)).host_facts() == expected


def test_a_failing_source_warns_once_and_the_rest_still_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(argv: list[str]) -> str:
        raise OSError("ioreg: command not found")

    mx = _module(
        "mlx.core",
        get_active_memory=lambda: GB,
        get_peak_memory=lambda: GB,
        get_cache_memory=lambda: 0,
    )
    monkeypatch.setitem(sys.modules, "mlx.core", mx)
    probe = AppleSiliconProbe(runner=broken)
    with pytest.warns(RuntimeWarning, match="ioreg") as caught:
        for _ in range(3):
            assert probe.sample()["system/mlx_active_memory_megabytes"] == 1000.0
    assert len(caught) == 1


def test_not_available_on_linux() -> None:
    assert AppleSiliconProbe().available() is (sys.platform == "darwin")


def test_powermetrics_opt_in_without_powermetrics_warns_and_keeps_going() -> None:
    """On this Linux machine there is no powermetrics: the probe says so once, loudly."""
    probe = AppleSiliconProbe(powermetrics=True, interval=0.1, runner=_runner)
    try:
        with pytest.warns(RuntimeWarning, match="powermetrics") as caught:
            for _ in range(20):
                sample = probe.sample()
                if any("powermetrics" in str(w.message) for w in caught):
                    break
                time.sleep(0.05)
        assert sample["system/gpu_0_utilization_percentage"] == 17.0  # ioreg still reads
    finally:
        probe.close()


def test_streaming_command_keeps_the_latest_powermetrics_sample(tmp_path: Path) -> None:
    captures = ["powermetrics_m1_macbookpro17-1.xml", "powermetrics_m4max_mac16-5_macos26.plist"]
    stream = tmp_path / "stream.bin"
    stream.write_bytes(b"\0".join((APPLE / c).read_bytes() for c in captures) + b"\0")
    command = StreamingCommand(["cat", str(stream)], b"\0", parse_powermetrics)
    command.start()
    _wait_for(lambda: not command.running and command.records == 2)
    command.close()
    assert command.latest() == parse_powermetrics((APPLE / captures[1]).read_bytes())
    assert command.error is None and command.bad_records == 0


def test_streaming_command_reads_macmon_lines(tmp_path: Path) -> None:
    lines = tmp_path / "macmon.ndjson"
    lines.write_text(
        (APPLE / "macmon_pipe_v0.6_documented.ndjson").read_text().strip()
        + "\n"
        + "{torn line\n"
        + (APPLE / "macmon_pipe_v0.8_documented.ndjson").read_text().strip()
        + "\n"
    )
    command = StreamingCommand(["cat", str(lines)], b"\n", lambda b: parse_macmon(b.decode()))
    command.start()
    _wait_for(lambda: not command.running and command.records == 2)
    command.close()
    assert command.bad_records == 1
    assert command.latest()["system/fan_1_speed_rpm"] == 1200


def test_streaming_command_reports_a_failing_tool() -> None:
    command = StreamingCommand(["sh", "-c", "echo need root >&2; exit 1"], b"\n", lambda b: {})
    command.start()
    _wait_for(lambda: command.error is not None)
    command.close()
    assert command.error is not None and "need root" in command.error
    missing = StreamingCommand(["/nonexistent/macmon", "pipe"], b"\n", lambda b: {})
    missing.start()
    assert missing.error is not None and "cannot start" in missing.error


def test_close_stops_a_running_tool() -> None:
    command = StreamingCommand(["sleep", "30"], b"\n", lambda b: {})
    command.start()
    assert command.running
    command.close(timeout=5)
    assert not command.running
    assert command.error is None  # stopped by us, not a failure


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_opt_in_tools_run_at_the_sampling_interval() -> None:
    probe = AppleSiliconProbe(powermetrics=True, macmon=True, interval=2.5)
    powermetrics, macmon = (s.argv for s in probe.streams)
    assert powermetrics[-6:] == [
        "--samplers",
        "cpu_power,gpu_power,thermal",
        "-f",
        "plist",
        "-i",
        "2500",
    ]
    assert "sudo" not in powermetrics or powermetrics[:2] == ["sudo", "-n"]  # never prompts
    assert macmon == ["macmon", "pipe", "-i", "2500"]
    assert AppleSiliconProbe().streams == []  # both are opt-in
