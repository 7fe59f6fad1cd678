"""Run the NVIDIA probe on a real GPU machine and print what it reports, as one JSON object.

Prepared for a machine with an NVIDIA GPU and nvidia-ml-py installed::

    python scripts/nvidia_probe_check.py            # idle readings
    python scripts/nvidia_probe_check.py --load     # also while torch keeps GPU 0 busy

It prints the probe's host facts, a few one-second samples (idle, then under load
when asked and torch with CUDA is available), every warning the probe raised
(a reading the driver refuses should appear once), and the CPU time per sample.
Compare with tests/hardware/data/nvidia/README.md: under a bf16 matmul loop an H100
showed utilisation 98-99 %, power about 685-690 W.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import warnings
from typing import Any


def _samples(probe: Any, count: int, phase: str) -> list[dict[str, Any]]:
    out = []
    for _ in range(count):
        started = time.thread_time()
        sample = probe.sample()
        cpu_ms = (time.thread_time() - started) * 1000
        out.append(
            {
                "phase": phase,
                "t": round(time.time(), 3),
                "cpu_ms": round(cpu_ms, 3),
                "metrics": sample,
            }
        )
        time.sleep(1.0)
    return out


def _load(stop: threading.Event) -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    if not torch.cuda.is_available():
        return "torch has no CUDA"

    def spin() -> None:
        a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
        while not stop.is_set():
            torch.mm(a, a)
            torch.cuda.synchronize()

    threading.Thread(target=spin, daemon=True).start()
    time.sleep(2)  # let clocks and power ramp up
    return "bf16 8192x8192 matmul loop on cuda:0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3, help="samples per phase")
    parser.add_argument("--load", action="store_true", help="also sample under a matmul loop")
    args = parser.parse_args()

    from mlops.hardware.nvidia import NvidiaProbe

    report: dict[str, Any] = {"script": "nvidia_probe_check"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        probe = NvidiaProbe()
        report["available"] = probe.available()
        if report["available"]:
            report["host_facts"] = probe.host_facts()
            report["samples"] = _samples(probe, args.samples, "idle")
            if args.load:
                stop = threading.Event()
                report["load"] = _load(stop)
                report["samples"] += _samples(probe, args.samples, "load")
                stop.set()
            probe.close()
    report["warnings"] = [str(w.message) for w in caught]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
