"""The listening half the test proxies share (tests only; stdlib).

A proxy listens on 127.0.0.1 at a free port and, for each client, opens a
connection to the real server and hands both sockets to `serve`, which
starts its own threads to pump and change the two streams. `close()` ends
the listener and every connection. `SlowProxy` holds back each chunk of the
server's answers by `delay` seconds, read afresh for every chunk (a test may
slow a server down mid-run). `CommandProxy` reads the client's
commands line by line (literals passed on by their length) and lets a
subclass answer some of them itself instead of the server.
"""

from __future__ import annotations

import re
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", name: str = "proxy"):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name=name).start()

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._socks += [client, upstream]
            self.serve(client, upstream)

    @staticmethod
    def shut(*socks: socket.socket) -> None:
        """End both directions of each socket (the other side's pump then stops)."""
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._listener.close()
        for s in self._socks:
            s.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class CommandProxy(TcpProxy):
    """Passes the client's commands on line by line, unless `answer` gives a reply of
    its own for one (and whether to close the connection after it)."""

    _LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")

    def answer(self, line: bytes) -> tuple[bytes, bool] | None:
        raise NotImplementedError

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        to_client = threading.Lock()  # the server's answers and the proxy's own
        threading.Thread(target=self._down, args=(upstream, client, to_client),
                         daemon=True).start()
        threading.Thread(target=self._up, args=(client, upstream, to_client),
                         daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket,
            to_client: threading.Lock) -> None:
        buffer, literal_left = b"", 0
        try:
            while data := client.recv(65536):
                buffer += data
                while buffer:
                    if literal_left:
                        take, buffer = buffer[:literal_left], buffer[literal_left:]
                        upstream.sendall(take)
                        literal_left -= len(take)
                        continue
                    end = buffer.find(b"\r\n")
                    if end < 0:
                        break
                    line, buffer = buffer[:end + 2], buffer[end + 2:]
                    literal = self._LITERAL.search(line)
                    literal_left = int(literal.group(1)) if literal else 0
                    reply = None if literal else self.answer(line)
                    if reply is None:
                        upstream.sendall(line)
                        continue
                    with to_client:
                        client.sendall(reply[0])
                    if reply[1]:
                        return
        except OSError:
            pass
        finally:
            self.shut(client, upstream)

    def _down(self, upstream: socket.socket, client: socket.socket,
              to_client: threading.Lock) -> None:
        try:
            while data := upstream.recv(65536):
                with to_client:
                    client.sendall(data)
        except OSError:
            pass
        finally:
            self.shut(client, upstream)


class SlowProxy(TcpProxy):
    """Passes everything through, each chunk the server sends `delay` seconds late."""

    def __init__(self, target_port: int, delay: float = 0.0):
        self.delay = delay
        super().__init__(target_port, name="slow-proxy")

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        def pump(a: socket.socket, b: socket.socket, slowed: bool) -> None:
            try:
                while data := a.recv(65536):
                    if slowed and self.delay:
                        time.sleep(self.delay)
                    b.sendall(data)
            except OSError:
                pass
            self.shut(a, b)

        threading.Thread(target=pump, args=(client, upstream, False), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, True), daemon=True).start()
