"""NvidiaProbe on the real H100 readings, replayed through a stand-in ``pynvml``."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from hw_stand_ins import FIXTURES, ReplayNVML

from mlops.hardware.nvidia import NvidiaProbe

LOAD = range(1, 7)  # samples 1-6 of the capture ran the matmul loop


def _probe() -> NvidiaProbe:
    probe = NvidiaProbe()
    assert probe.available()
    return probe


def test_idle_sample_gives_the_documented_values(fake_nvml: ReplayNVML) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the fan refusal, tested below
        sample = _probe().sample()
    assert sample["system/gpu_0_utilization_percentage"] == 0
    assert sample["system/gpu_0_memory_usage_megabytes"] == pytest.approx(503.31648)
    assert sample["system/gpu_0_power_usage_watts"] == pytest.approx(133.27)
    assert sample["system/gpu_0_power_usage_percentage"] == pytest.approx(133270 / 700000 * 100)
    assert sample["system/gpu_0_temperature_celsius"] == 48
    assert sample["system/gpu_0_sm_clock_megahertz"] == 405
    assert sample["system/gpu_0_memory_clock_megahertz"] == 2619
    assert sample["system/gpu_0_energy_consumed_joules"] == 0


def test_load_samples_give_the_documented_values(fake_nvml: ReplayNVML) -> None:
    probe = _probe()
    samples = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for index in LOAD:
            fake_nvml.index = index
            samples.append(probe.sample())
    for sample in samples:
        assert 98 <= sample["system/gpu_0_utilization_percentage"] <= 99
        assert sample["system/gpu_0_memory_usage_megabytes"] == pytest.approx(1563.2, abs=0.05)
        assert sample["system/gpu_0_memory_busy_percentage"] in (30, 31)
    # The first load sample caught the power ramp (538 W); the rest are steady.
    for sample in samples[1:]:
        assert 685 <= sample["system/gpu_0_power_usage_watts"] <= 691
        assert sample["system/gpu_0_power_usage_percentage"] == pytest.approx(
            sample["system/gpu_0_power_usage_watts"] / 700 * 100
        )
    temps = [s["system/gpu_0_temperature_celsius"] for s in samples]
    assert temps == sorted(temps) and temps[-1] == 69  # the card warms under load


def test_energy_is_joules_since_the_probe_started(fake_nvml: ReplayNVML) -> None:
    probe = _probe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        probe.sample()
        fake_nvml.index = 6
        last = probe.sample()
    assert last["system/gpu_0_energy_consumed_joules"] == pytest.approx((6959403 - 2370402) / 1000)


def test_a_refused_reading_is_skipped_with_one_warning(fake_nvml: ReplayNVML) -> None:
    probe = _probe()
    with pytest.warns(RuntimeWarning, match="refused fan speed") as caught:
        for index in range(8):
            fake_nvml.index = index
            sample = probe.sample()
            assert "system/gpu_0_fan_speed_percentage" not in sample
            assert "system/gpu_0_utilization_percentage" in sample
    assert len([w for w in caught if "fan speed" in str(w.message)]) == 1
    assert fake_nvml.calls["fan"] == 1  # NotSupported is not asked again


def test_a_transient_error_warns_once_and_is_retried(fake_nvml: ReplayNVML) -> None:
    probe = _probe()
    fake_nvml.fail_with["temperature"] = real_gpu_lost()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = probe.sample()
        second = probe.sample()
    assert "system/gpu_0_temperature_celsius" not in first | second
    assert len([w for w in caught if "temperature" in str(w.message)]) == 1
    del fake_nvml.fail_with["temperature"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert probe.sample()["system/gpu_0_temperature_celsius"] == 48


def real_gpu_lost() -> int:
    import pynvml

    code: int = pynvml.NVML_ERROR_GPU_IS_LOST
    return code


def test_host_facts_name_the_card_and_driver(fake_nvml: ReplayNVML) -> None:
    facts = _probe().host_facts()
    assert facts["gpu_count"] == "1"
    assert facts["gpu_0_name"] == "NVIDIA H100 80GB HBM3"
    assert facts["nvidia_driver_version"] == "580.159.04"
    assert facts["nvml_version"] == "13.580.159.04"
    # nvidia-smi on the same card says 81559 MiB; in MB (1e6 bytes) that is 85521.
    smi = (FIXTURES / "nvidia" / "nvidia_smi_query_h100.csv").read_text().splitlines()[1]
    total_mib = float(smi.split(",")[3].split()[0])
    assert float(facts["gpu_0_memory_total_megabytes"]) == pytest.approx(total_mib * 1.048576, 1e-4)


def test_close_shuts_nvml_down(fake_nvml: ReplayNVML) -> None:
    probe = _probe()
    probe.close()
    assert fake_nvml.shutdowns == 1
    assert not probe.available()
    assert probe.sample() == {}


def test_unavailable_without_nvidia_ml_py(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # type: ignore[arg-type]
    probe = NvidiaProbe()
    assert not probe.available()
    assert probe.sample() == {}
    assert probe.host_facts() == {}


def test_unavailable_when_the_driver_is_missing(fake_nvml: ReplayNVML) -> None:
    import pynvml

    fake_nvml.fail_with["nvmlInit"] = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    assert not NvidiaProbe().available()


def test_real_pynvml_on_this_gpu_less_machine_is_unavailable() -> None:
    """No stand-in: the installed nvidia-ml-py finds no driver here and says so."""
    from mlops.hardware import detect_probes

    assert "nvidia" not in [p.name for p in detect_probes()] or Path("/dev/nvidia0").exists()


def test_prepared_gpu_script_runs_on_the_replay(
    fake_nvml: ReplayNVML, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """scripts/nvidia_probe_check.py works before anyone takes it to a GPU machine."""
    import importlib.util
    import json

    path = Path(__file__).resolve().parents[2] / "scripts" / "nvidia_probe_check.py"
    spec = importlib.util.spec_from_file_location("nvidia_probe_check", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    monkeypatch.setattr(sys, "argv", ["nvidia_probe_check.py", "--samples", "1"])
    monkeypatch.setattr(script.time, "sleep", lambda s: None)
    script.main()
    report = json.loads(capsys.readouterr().out)
    assert report["available"] is True
    assert report["host_facts"]["gpu_0_name"] == "NVIDIA H100 80GB HBM3"
    assert report["samples"][0]["metrics"]["system/gpu_0_temperature_celsius"] == 48
    assert len([w for w in report["warnings"] if "fan speed" in w]) == 1
