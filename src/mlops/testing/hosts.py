"""Hosts made of network namespaces, for tests and benchmarks of a team across machines.

:func:`make_hosts` creates one namespace per name, each joined to this machine's
namespace (the infrastructure host) by a veth pair: this end ``10.231.<i>.1/24``, the
host's end ``10.231.<i>.2/24`` with its default route through this end. Services bound to
:data:`INFRA` (this end of the first link) are reachable from every host. Needs root and
iproute2; :func:`remove_hosts` deletes the namespaces and links.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["INFRA", "Host", "HostsUnavailableError", "make_hosts", "remove_hosts"]

INFRA = "10.231.1.1"


class HostsUnavailableError(RuntimeError):
    """Namespaces cannot be made here (not root, no iproute2, or the kernel refused)."""


@dataclass
class Host:
    """One namespace: its name, address on its link, and a home folder of its own."""

    name: str
    namespace: str
    address: str
    home: Path
    link: str

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with this host's own home and caches."""
        return {**base, "HOME": str(self.home), "XDG_CACHE_HOME": str(self.home / ".cache")}

    def run_python(
        self, script: str, cwd: Path, env: dict[str, str], timeout: float = 420
    ) -> dict[str, Any]:
        """Run ``script`` with this interpreter on this host; the JSON of its last line."""
        done = subprocess.run(
            self.command([sys.executable, "-c", script]),
            cwd=cwd,
            env=self.env(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"host {self.name}:\n{done.stdout}\n{done.stderr[-4000:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


def make_hosts(names: list[str], homes: Path) -> dict[str, Host]:
    """One namespace per name, linked to this machine; raises HostsUnavailableError."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise HostsUnavailableError("network namespaces need root and iproute2 (`ip netns`)")
    tag = uuid.uuid4().hex[:4]
    made: dict[str, Host] = {}
    try:
        for index, name in enumerate(names, start=1):
            outer, inner = f"10.231.{index}.1", f"10.231.{index}.2"
            host = Host(name, f"mlops-{name}-{tag}", inner, homes / name, f"mlo{index}{tag}")
            host.home.mkdir(parents=True, exist_ok=True)
            _ip("netns", "add", host.namespace)
            made[name] = host
            _ip("link", "add", host.link, "type", "veth", "peer", "name", f"{host.link}p")
            _ip("link", "set", f"{host.link}p", "netns", host.namespace)
            _ip("addr", "add", f"{outer}/24", "dev", host.link)
            _ip("link", "set", host.link, "up")
            for args in (
                ("addr", "add", f"{inner}/24", "dev", f"{host.link}p"),
                ("link", "set", f"{host.link}p", "up"),
                ("link", "set", "lo", "up"),
                ("route", "add", "default", "via", outer),
            ):
                _ip("-n", host.namespace, *args)
    except subprocess.CalledProcessError as exc:
        remove_hosts(made)
        raise HostsUnavailableError(
            f"network namespaces cannot be made here: {exc.stderr!r}"
        ) from exc
    return made


def remove_hosts(hosts: dict[str, Host]) -> None:
    """Delete the namespaces and their links."""
    for host in hosts.values():
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", host.link], capture_output=True, check=False)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)
