"""A small TCP proxy for fault injection: threads and sockets, switchable at any time.

It listens on 127.0.0.1 (a free port) and relays to one upstream address. Its
``mode`` applies to new connections and to every chunk of open ones:

- ``pass``: relay both ways;
- ``refuse``: reset connections (new ones at once, open ones at their next chunk);
- ``cut``: relay requests upstream but drop the answers and reset the client side
  (the server did the work; the client never hears of it: a retry is a replay);
- ``delay``: relay both ways, each chunk ``delay`` seconds late;
- ``stall``: hold connections open and relay nothing (a hung network path).

It also counts requests in flight: a connection that relayed request bytes upstream
and has not yet relayed answer bytes back; ``peak_in_flight`` is the most there were at
once (2 or more: the client had requests overlapping at the server).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

__all__ = ["MODES", "FaultProxy"]

MODES = ("pass", "refuse", "cut", "delay", "stall")
_CHUNK = 65536


class FaultProxy:
    """A relay from ``127.0.0.1:<port>`` to ``upstream`` whose ``mode`` can change live.

    Args:
        upstream: ``(host, port)`` of the real server.
        delay: Seconds each chunk waits in ``delay`` mode.
    """

    def __init__(self, upstream: tuple[str, int], delay: float = 0.2) -> None:
        self.upstream = upstream
        self.delay = delay
        self.mode = "pass"
        self.connections = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (one of :data:`MODES`)."""
        if mode not in MODES:
            raise ValueError(f"unknown proxy mode {mode!r}; one of {MODES}")
        self.mode = mode

    def start(self) -> FaultProxy:
        """Start accepting connections in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting and reset every open connection."""
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                _reset(sock)
            self._open.clear()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- relaying ---------------------------------------------------------------------

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.mode == "refuse":
                _reset(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            _reset(client)
            return
        upstream.settimeout(None)
        waiting = [False]  # this connection sent a request and awaits its answer
        with self._tracked(client), self._tracked(upstream):
            pumps = [
                threading.Thread(
                    target=self._pump, args=(client, upstream, False, waiting), daemon=True
                ),
                threading.Thread(
                    target=self._pump, args=(upstream, client, True, waiting), daemon=True
                ),
            ]
            for pump in pumps:
                pump.start()
            for pump in pumps:
                pump.join()
        self._flight(waiting, False)

    def _flight(self, waiting: list[bool], now: bool) -> None:
        """Mark a connection as awaiting an answer (``now``) or not; count the peak."""
        with self._lock:
            if waiting[0] == now:
                return
            waiting[0] = now
            self.in_flight += 1 if now else -1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _pump(
        self, source: socket.socket, target: socket.socket, answers: bool, waiting: list[bool]
    ) -> None:
        """Copy ``source`` to ``target`` chunk by chunk, as the current mode says."""
        try:
            while not self._stop.is_set():
                data = source.recv(_CHUNK)
                if not data:
                    break
                while self.mode == "stall" and not self._stop.is_set():
                    time.sleep(0.05)  # hold the bytes: the peer sees a hung path
                mode = self.mode
                if mode == "refuse" or (mode == "cut" and answers):
                    break
                if mode == "delay":
                    time.sleep(self.delay)
                if not answers:
                    self._flight(waiting, True)  # before the server can see it
                target.sendall(data)
                if answers:
                    self._flight(waiting, False)
        except OSError:
            pass
        finally:
            _reset(source)
            _reset(target)

    @contextlib.contextmanager
    def _tracked(self, sock: socket.socket) -> Iterator[None]:
        with self._lock:
            self._open.add(sock)
        try:
            yield
        finally:
            with self._lock:
                self._open.discard(sock)
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset (SO_LINGER 0): the peer sees the connection torn, not ended."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading it
    with contextlib.suppress(OSError):
        sock.close()
