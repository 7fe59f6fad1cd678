"""The psutil probe for real on this machine, and the background sampler around it."""

from __future__ import annotations

import threading
import time
import warnings

import psutil
import pytest

from mlops.hardware import Sampler, WarnOnce, collect_host_facts, detect_probes, merge_samples
from mlops.hardware.base import Probe
from mlops.hardware.cpu import PsutilProbe

MLFLOW_NAMES = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
    "system/disk_usage_megabytes",
    "system/disk_available_megabytes",
    "system/network_receive_megabytes",
    "system/network_transmit_megabytes",
}


def test_psutil_probe_uses_mlflow_names_and_units() -> None:
    probe = PsutilProbe()
    time.sleep(0.1)
    sample = probe.sample()
    assert set(sample) == MLFLOW_NAMES
    used_mb = psutil.virtual_memory().used / 1e6
    assert sample["system/system_memory_usage_megabytes"] == pytest.approx(used_mb, rel=0.2)
    assert 0 <= sample["system/cpu_utilization_percentage"] <= 100
    assert sample["system/network_receive_megabytes"] >= 0


def test_cpu_utilization_needs_a_measuring_window() -> None:
    probe = PsutilProbe()
    assert "system/cpu_utilization_percentage" not in probe.sample()  # a few microseconds
    time.sleep(0.15)
    assert "system/cpu_utilization_percentage" in probe.sample()


def test_mlflow_monitors_report_the_same_names() -> None:
    """Our names are MLflow's: its own CPU/disk/network monitors produce exactly them."""
    from mlflow.system_metrics.metrics.cpu_monitor import CPUMonitor
    from mlflow.system_metrics.metrics.disk_monitor import DiskMonitor
    from mlflow.system_metrics.metrics.network_monitor import NetworkMonitor

    names = set()
    for monitor in (CPUMonitor(), DiskMonitor(), NetworkMonitor()):
        monitor.collect_metrics()
        names |= {f"system/{k}" for k in monitor.aggregate_metrics()}
    assert names == MLFLOW_NAMES


def test_host_facts_of_this_machine() -> None:
    facts = collect_host_facts(detect_probes())
    assert facts["cpu_cores_logical"] == str(psutil.cpu_count())
    assert int(facts["memory_total_megabytes"]) == round(psutil.virtual_memory().total / 1e6)
    assert facts["os"] and facts["cpu_model"]


class _Exploding(Probe):
    name = "exploding"

    def available(self) -> bool:
        return True

    def sample(self) -> dict[str, float]:
        raise RuntimeError("sensor unplugged")


def test_merge_survives_a_failing_probe_and_warns_once() -> None:
    warn = WarnOnce()
    with pytest.warns(RuntimeWarning, match="sensor unplugged") as caught:
        for _ in range(3):
            merged = merge_samples([_Exploding(), PsutilProbe()], warn)
            assert "system/system_memory_usage_megabytes" in merged
    assert len(caught) == 1


def test_sampler_samples_at_start_then_each_interval_and_stops_promptly() -> None:
    got: list[tuple[int, int, dict[str, float]]] = []
    sampler = Sampler([PsutilProbe()], 0.05, lambda s, step, ts: got.append((step, ts, s)))
    sampler.start()
    time.sleep(0.4)
    started = time.monotonic()
    sampler.stop()
    assert time.monotonic() - started < 1.0
    assert not sampler.running
    steps = [step for step, _, _ in got]
    assert steps == list(range(len(steps))) and len(steps) >= 3
    stamps = [ts for _, ts, _ in got]
    assert stamps == sorted(stamps)
    assert sampler.samples == len(got) and sampler.cpu_seconds > 0


def test_sampler_keeps_going_when_delivery_fails() -> None:
    calls = []

    def deliver(sample: dict[str, float], step: int, ts: int) -> None:
        calls.append(step)
        raise OSError("write-ahead log full")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = Sampler([PsutilProbe()], 0.02, deliver)
        sampler.start()
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        sampler.stop()
    assert len(calls) >= 4
    assert len([w for w in caught if "could not be logged" in str(w.message)]) == 1


def test_sampler_with_only_failing_probes_delivers_nothing() -> None:
    delivered = threading.Event()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sampler = Sampler([_Exploding()], 0.02, lambda s, step, ts: delivered.set())
        sampler.start()
        time.sleep(0.15)
        sampler.stop()
    assert sampler.samples >= 2 and not delivered.is_set()


def test_sampler_rejects_a_non_positive_interval() -> None:
    with pytest.raises(ValueError, match="positive"):
        Sampler([], 0, lambda s, step, ts: None)
