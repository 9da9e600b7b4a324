"""The running KIMT's local endpoint: a later start asks it to bring its window to the front.

The KIMT that holds the single-instance lock listens here; a later start
sends one line, `raise <token>`, and exits once it reads `ok`. Only the same
user can ask: on Linux and macOS the endpoint is a Unix domain socket in the
per-user runtime folder, which must be this user's and owner-only (0700) or
nothing listens nor calls; on Windows it is a TCP port on 127.0.0.1, whose
number and a random token are in a file in that folder (private by the
profile's permissions), and a request without the right token is not
answered. Only the lock holder writes the socket or the port file, so one
left behind by a crash is simply replaced.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("kimt.system.endpoint")

ENDPOINT_NAME = "KIMT-window"
REQUEST = b"raise"
ANSWER = b"ok"
ASK_SECONDS = 3.0  # how long a later start keeps trying: the first may still be starting
READ_SECONDS = 2.0  # a caller that says nothing for this long is dropped
MAX_LINE = 256


def tcp_by_default() -> bool:
    """Windows gets the loopback port (its AF_UNIX is young); elsewhere a Unix socket."""
    return sys.platform == "win32" or not hasattr(socket, "AF_UNIX")


def is_private(folder: Path) -> bool:
    """Only this user can reach `folder`: on POSIX it is ours and owner-only."""
    if os.name != "posix":
        return True  # the runtime folder is in the user's profile, closed to others
    try:
        info = folder.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o077


class RaiseEndpoint:
    """Listens for "raise" requests and calls `on_raise()` (in its own thread) for each."""

    def __init__(self, folder: Path, on_raise: Callable[[], None], tcp: bool | None = None):
        self.folder = folder
        self.on_raise = on_raise
        self.tcp = tcp_by_default() if tcp is None else tcp
        self.token = secrets.token_hex(16).encode() if self.tcp else b""
        self.socket_path = folder / f"{ENDPOINT_NAME}.sock"
        self.port_path = folder / f"{ENDPOINT_NAME}.port"
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    def open(self) -> None:
        """Start listening; raises OSError when this folder can't hold the endpoint."""
        if not is_private(self.folder):
            raise OSError(f"{self.folder} is not this user's alone: not listening there")
        if self.tcp:
            server = socket.create_server(("127.0.0.1", 0))
            port = server.getsockname()[1]
            _write_private(self.port_path, f"{port} {self.token.decode()}\n")
        else:
            self.socket_path.unlink(missing_ok=True)  # a crashed KIMT's; we hold the lock
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                server.bind(str(self.socket_path))
                os.chmod(self.socket_path, 0o600)
                server.listen(4)
            except OSError:
                server.close()
                raise
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="kimt-endpoint", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        assert self._server is not None
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                if self._closing:  # close() knocked to wake us
                    return
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(READ_SECONDS)
        try:
            words = _read_line(conn).split()
        except OSError:
            return
        token = words[1] if len(words) == 2 else b""
        if not words or words[0] != REQUEST or not hmac.compare_digest(token, self.token):
            log.warning("ignored a request to the window endpoint that was not KIMT's")
            return
        try:
            self.on_raise()
        except Exception:  # the window must go on listening; the error goes to the log
            log.exception("bringing the window to the front failed")
            return
        try:
            conn.sendall(ANSWER + b"\n")
        except OSError:
            pass  # the caller gave up waiting; the window was raised all the same

    def close(self) -> None:
        if self._server is None:
            return
        self._closing = True
        try:  # accept() is waiting: one knock lets the thread see that we are closing
            with _connect(self._address(), READ_SECONDS):
                pass
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(READ_SECONDS)
        self._server.close()
        self._server = None
        (self.port_path if self.tcp else self.socket_path).unlink(missing_ok=True)

    def _address(self) -> tuple[str, int] | str:
        assert self._server is not None
        return self._server.getsockname() if self.tcp else str(self.socket_path)


def ask_to_raise(folder: Path, tcp: bool | None = None, seconds: float = ASK_SECONDS) -> bool:
    """Ask the KIMT listening in `folder` to bring its window to the front; True if it did."""
    if not is_private(folder):
        return False
    tcp = tcp_by_default() if tcp is None else tcp
    deadline = time.monotonic() + seconds
    while True:
        try:
            return _ask_once(folder, tcp, max(0.1, deadline - time.monotonic()))
        except (OSError, ValueError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)  # the running KIMT holds the lock but may not listen yet


def _ask_once(folder: Path, tcp: bool, seconds: float) -> bool:
    address: tuple[str, int] | str
    if tcp:
        port, token = (folder / f"{ENDPOINT_NAME}.port").read_text(encoding="ascii").split()
        address, line = ("127.0.0.1", int(port)), REQUEST + b" " + token.encode()
    else:
        address, line = str(folder / f"{ENDPOINT_NAME}.sock"), REQUEST
    with _connect(address, seconds) as conn:
        conn.sendall(line + b"\n")
        return _read_line(conn) == ANSWER


def _connect(address: tuple[str, int] | str, seconds: float) -> socket.socket:
    if isinstance(address, tuple):
        return socket.create_connection(address, timeout=seconds)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(seconds)
    try:
        conn.connect(address)
    except OSError:
        conn.close()
        raise
    return conn


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < MAX_LINE:
        chunk = conn.recv(MAX_LINE)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].strip()


def _write_private(path: Path, text: str) -> None:
    """Write `text` readable by this user only (created 0600; replaced whole)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, path)
