"""A TCP proxy on 127.0.0.1 that breaks connections on purpose (tests only).

KIMT talks to the proxy, the proxy to a real server of the rig. A `Fault`
armed on the proxy cuts a connection (both sockets closed) or stalls it (stops
forwarding one direction, holding the sockets open, until `release()`), once
a number of bytes has passed in one direction. The count starts at once, or
when a trigger pattern is seen (``b"BODY[]"`` in the server's answers: inside
a FETCH of bodies; ``b"APPEND"`` from the client: inside an APPEND). A fault
can be limited to connections whose client sent a pattern (a user's LOGIN, a
folder's EXAMINE) and to a number of firings::

    proxy = FaultProxy(dovecot.port)
    proxy.arm(Fault("cut", "up", after=100_000, trigger=b"APPEND"))
    ... run kimt against 127.0.0.1:proxy.port ...
    proxy.close()

"up" is client -> server, "down" server -> client. Stdlib only, one thread
per direction and connection.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

UP, DOWN = "up", "down"


@dataclass
class Fault:
    action: str  # "cut" or "stall"
    direction: str  # the stream cut or stalled: "up" or "down"
    after: int = 0  # bytes let through in `direction` once triggered
    trigger: bytes | None = None  # start counting when this is seen ...
    trigger_direction: str | None = None  # ... in this stream (default: `direction`)
    client_sent: bytes | None = None  # only connections whose client sent this
    times: int | None = 1  # how often it may fire; None: every matching connection
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        assert self.action in ("cut", "stall") and self.direction in (UP, DOWN)
        if self.trigger_direction is None:
            self.trigger_direction = self.direction


class _Link:
    """One client connection and its server connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, server: socket.socket):
        self.proxy = proxy
        self.socks = {UP: server, DOWN: client}  # where each direction writes
        self.reads = {UP: client, DOWN: server}
        self.tails = {UP: b"", DOWN: b""}
        self.client_seen = b""  # enough of what the client sent to match client_sent
        self.budget: dict[str, int | None] = {UP: None, DOWN: None}  # bytes left to pass
        self.fault: Fault | None = None
        self.closed = False

    def start(self) -> None:
        for direction in (UP, DOWN):
            threading.Thread(target=self._pump, args=(direction,), daemon=True,
                             name=f"faultproxy-{direction}").start()

    def close(self) -> None:
        self.closed = True
        for s in (*self.socks.values(),):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _triggered_at(self, direction: str, data: bytes) -> int | None:
        """Offset in `data` where an armed fault's trigger starts (-1: before it)."""
        with self.proxy.lock:
            if self.fault is not None:
                return None
            for fault in self.proxy.faults:
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                if fault.client_sent and fault.client_sent not in self.client_seen:
                    continue
                if fault.trigger_direction != direction:
                    continue
                if fault.trigger is None:
                    pos = 0
                else:
                    seen = self.tails[direction] + data
                    found = seen.find(fault.trigger)
                    if found < 0:
                        continue
                    pos = max(0, found - len(self.tails[direction]))
                fault.fired += 1
                self.fault = fault
                self.budget[fault.direction] = fault.after
                return pos if fault.direction == direction else None
        return None

    def _pump(self, direction: str) -> None:
        src, dst = self.reads[direction], self.socks[direction]
        try:
            while not self.closed:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if direction == UP and len(self.client_seen) < 1_000_000:
                    self.client_seen += data[:4096]
                pos = self._triggered_at(direction, data)
                limit = self.budget[direction]
                if limit is not None:
                    start = pos if pos is not None else 0
                    allowed = start + limit
                    if len(data) > allowed:
                        dst.sendall(data[:allowed])
                        self._break(direction)
                        return
                    self.budget[direction] = allowed - len(data)
                dst.sendall(data)
                keep = max((len(f.trigger) for f in self.proxy.faults if f.trigger), default=1)
                self.tails[direction] = (self.tails[direction] + data)[-(keep - 1):] \
                    if keep > 1 else b""
        except OSError:
            pass
        finally:
            if not self.proxy.stalled(self):
                self.close()

    def _break(self, direction: str) -> None:
        assert self.fault is not None
        if self.fault.action == "cut":
            self.close()
            return
        with self.proxy.lock:
            self.proxy.stalls.append(self)
        self.proxy.released.wait()
        self.close()


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to `target_port`, breaking as armed."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.stalls: list[_Link] = []
        self.links: list[_Link] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open = True
        threading.Thread(target=self._accept, daemon=True, name="faultproxy").start()

    def arm(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault

    def disarm(self) -> None:
        with self.lock:
            self.faults.clear()

    def release(self) -> None:
        """End every stall: the stalled connections are closed."""
        self.released.set()

    def stalled(self, link: _Link) -> bool:
        return link in self.stalls and not self.released.is_set()

    @property
    def connections(self) -> int:
        return len(self.links)

    def _accept(self) -> None:
        while self._open:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            link = _Link(self, client, server)
            self.links.append(link)
            link.start()

    def close(self) -> None:
        self._open = False
        self.released.set()
        try:
            self._listener.close()
        except OSError:
            pass
        for link in list(self.links):
            link.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
