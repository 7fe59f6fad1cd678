"""Hosts made of network namespaces, for tests and benchmarks of a team across machines.

:func:`make_hosts` creates an infrastructure host (``hosts["infra"]``) and one user host per
name, each a network namespace of its own:

- the infrastructure host holds the service address :data:`INFRA` (on its loopback) and
  one veth link per user host: its end ``10.231.<i>.1/24``, the user host's end
  ``10.231.<i>.2/24`` with the default route through it. It forwards nothing, so a user
  host reaches the infrastructure host's addresses and nothing else, not each other nor
  this machine;
- this machine (the namespace the caller runs in) is linked to the infrastructure host
  only, its end :data:`GATEWAY`, with a route to :data:`INFRA`: the caller starts the
  services inside the infrastructure host (:meth:`Host.spawn`), reaches them to check and
  set them up, and offers the infrastructure host a service of this machine (PostgreSQL
  on 127.0.0.1) through a :class:`Forwarder` listening on :data:`GATEWAY`.

Needs root and iproute2; :func:`remove_hosts` deletes the namespaces and links.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GATEWAY",
    "INFRA",
    "Forwarder",
    "Host",
    "HostsUnavailableError",
    "make_hosts",
    "remove_hosts",
    "wait_port",
]

INFRA = "10.231.0.1"
GATEWAY = "10.231.254.1"
_INFRA_END = "10.231.254.2"
_FREE_PORT = "import socket; s = socket.socket(); s.bind((ADDRESS, 0)); print(s.getsockname()[1])"


class HostsUnavailableError(RuntimeError):
    """Namespaces cannot be made here (not root, no iproute2, or the kernel refused)."""


@dataclass
class Host:
    """One namespace: its name, its address, a home folder of its own, and its link on this
    machine's side (the infrastructure host's) or in the infrastructure host (a user host's)."""

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

    def free_port(self) -> int:
        """A TCP port on this host's address that nothing listens on right now."""
        script = _FREE_PORT.replace("ADDRESS", repr(self.address))
        done = subprocess.run(
            self.command([sys.executable, "-c", script]),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return int(done.stdout.strip())

    def spawn(self, argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host in a process group of its own (stopped as one), its
        output appended to ``log``. ``ip netns exec`` execs the command: same PID."""
        with log.open("ab") as out:
            return subprocess.Popen(
                self.command(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )

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
    """The infrastructure host (key ``"infra"``) and one user host per name, linked as the
    module says; raises HostsUnavailableError."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        raise HostsUnavailableError("network namespaces need root and iproute2 (`ip netns`)")
    if "infra" in names:
        raise ValueError("'infra' is the infrastructure host's name; pick another")
    tag = uuid.uuid4().hex[:4]
    made: dict[str, Host] = {}
    try:
        infra = _add(
            made, Host("infra", f"mlops-infra-{tag}", INFRA, homes / "infra", f"mlo0{tag}")
        )
        _link(infra.link, None, f"{GATEWAY}/24", infra.namespace, f"{_INFRA_END}/24")
        _ip("route", "add", f"{INFRA}/32", "via", _INFRA_END)
        _ip("-n", infra.namespace, "link", "set", "lo", "up")
        _ip("-n", infra.namespace, "addr", "add", f"{INFRA}/32", "dev", "lo")
        for index, name in enumerate(names, start=1):
            outer, inner = f"10.231.{index}.1", f"10.231.{index}.2"
            link = f"mlo{index}{tag}"
            host = _add(made, Host(name, f"mlops-{name}-{tag}", inner, homes / name, link))
            _link(link, infra.namespace, f"{outer}/24", host.namespace, f"{inner}/24")
            _ip("-n", host.namespace, "link", "set", "lo", "up")
            _ip("-n", host.namespace, "route", "add", "default", "via", outer)
    except subprocess.CalledProcessError as exc:
        remove_hosts(made)
        raise HostsUnavailableError(
            f"network namespaces cannot be made here: {exc.stderr!r}"
        ) from exc
    return made


def remove_hosts(hosts: dict[str, Host]) -> None:
    """Delete the namespaces and their links (and this machine's route to the services)."""
    for host in hosts.values():
        subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True, check=False)
    if "infra" in hosts:  # the link's end here went with its peer; the route with the link
        subprocess.run(["ip", "link", "del", hosts["infra"].link], capture_output=True, check=False)


def wait_port(address: str, port: int, timeout: float, log: Path | None = None) -> None:
    """Return once ``address:port`` accepts connections; RuntimeError (with the log's tail)
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
    raise RuntimeError(f"nothing answered on {address}:{port} within {timeout:g} s\n{tail}")


class Forwarder:
    """A TCP relay on ``listen`` (address, 0 = a free port) to ``upstream``, in threads.

    It lets the infrastructure host reach a service of this machine that listens on
    127.0.0.1 only (PostgreSQL), through :data:`GATEWAY`.
    """

    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(listen, backlog=64)
        self._listener.settimeout(0.2)
        self.address, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="forwarder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            _close(client)
            return
        client.settimeout(None)
        upstream.settimeout(None)
        with self._lock:
            self._open.update((client, upstream))
        back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        back.start()
        _pump(client, upstream)
        back.join()
        with self._lock:
            self._open.difference_update((client, upstream))


def _pump(source: socket.socket, target: socket.socket) -> None:
    """Copy until either side ends, then close both (which ends the other direction too)."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    _close(source)
    _close(target)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


def _add(made: dict[str, Host], host: Host) -> Host:
    host.home.mkdir(parents=True, exist_ok=True)
    _ip("netns", "add", host.namespace)
    made[host.name] = host
    return host


def _link(name: str, outer_ns: str | None, outer: str, inner_ns: str, inner: str) -> None:
    """A veth pair ``name`` (in ``outer_ns``, None: here) / ``name``p (in ``inner_ns``), each
    end with its address and up."""
    _ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
    _ip("link", "set", f"{name}p", "netns", inner_ns)
    if outer_ns is not None:
        _ip("link", "set", name, "netns", outer_ns)
    outer_ip = ("-n", outer_ns) if outer_ns else ()
    _ip(*outer_ip, "addr", "add", outer, "dev", name)
    _ip(*outer_ip, "link", "set", name, "up")
    _ip("-n", inner_ns, "addr", "add", inner, "dev", f"{name}p")
    _ip("-n", inner_ns, "link", "set", f"{name}p", "up")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)
