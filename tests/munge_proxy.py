"""A TCP proxy that makes a real Dovecot store messages the way Cyrus does (tests only).

Cyrus with its default `munge8bit: yes` replaces every 8-bit byte in a
message's headers with 'X' on APPEND. This proxy does the same to the
literals of the APPEND commands passing through it, keeping their length,
so the destination stores altered messages while everything else is real
Dovecot. The slow test in test_cyrus.py runs against Cyrus itself.

    proxy = MungeProxy(dovecot.port)   # then connect to 127.0.0.1:proxy.port
    ...
    proxy.close()

`hide_uidplus=True` also makes the server look like one without UIDPLUS: the
capability is taken out of its answers and so is every APPENDUID code, so
KIMT must find its appended messages by searching (`munge=False` keeps the
messages as sent).

Stdlib only; one thread per direction and connection.
"""

from __future__ import annotations

import re
import socket
import threading

from tcp_proxy import TcpProxy

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
_APPEND = re.compile(rb"^\S+ APPEND ", re.IGNORECASE)
_APPENDUID = re.compile(rb"\[APPENDUID \d+ [\d:,]+\] ?")
_UIDPLUS = re.compile(rb" UIDPLUS(?= |\]|\r)")


def munge8bit(literal: bytes) -> bytes:
    """8-bit bytes in the header block become 'X', as Cyrus stores them."""
    end = literal.find(b"\r\n\r\n")
    end = len(literal) if end < 0 else end
    head = bytes(b if b < 0x80 else 0x58 for b in literal[:end])
    return head + literal[end:]


class _Upstream:
    """The client -> server stream: lines, and literals of known length."""

    def __init__(self, proxy: MungeProxy):
        self.proxy = proxy
        self.buffer = b""
        self.literal_left = 0
        self.literal = b""
        self.in_append = False
        self.at_command_start = True

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = b""
        while self.buffer:
            if self.literal_left:
                take = self.buffer[:self.literal_left]
                self.buffer = self.buffer[len(take):]
                self.literal += take
                self.literal_left -= len(take)
                if not self.literal_left:
                    if self.in_append and self.proxy.munge:
                        munged = munge8bit(self.literal)
                        self.proxy.munged += munged != self.literal
                        out += munged
                    else:
                        out += self.literal
                    self.literal = b""
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end + 2], self.buffer[end + 2:]
            if self.at_command_start:
                self.in_append = bool(_APPEND.match(line))
            m = _LITERAL.search(line)
            if m:
                self.literal_left = int(m.group(1))
                self.at_command_start = False
            else:
                self.at_command_start = True
            out += line
        return out


class _Downstream:
    """The server -> client stream, line by line: UIDPLUS hidden."""

    def __init__(self, proxy: MungeProxy):
        self.proxy = proxy
        self.partial = b""

    def feed(self, data: bytes) -> bytes:
        if not self.proxy.hide_uidplus:
            return data
        lines = (self.partial + data).split(b"\r\n")
        self.partial = lines.pop()
        out = b""
        for line in lines:
            if line.startswith(b"* ") or b"[CAPABILITY" in line or b"[APPENDUID" in line:
                line = _APPENDUID.sub(b"", _UIDPLUS.sub(b"", line + b"\r"))[:-1]
            out += line + b"\r\n"
        return out


class MungeProxy(TcpProxy):
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", munge: bool = True,
                 hide_uidplus: bool = False):
        self.munge = munge
        self.hide_uidplus = hide_uidplus
        self.munged = 0  # messages whose headers were changed
        super().__init__(target_port, target_host, name="munge-proxy")

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        up, down = _Upstream(self), _Downstream(self)
        threading.Thread(target=self._pump, args=(client, upstream, up.feed),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client, down.feed),
                         daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, change) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                out = change(data)
                if out:
                    dst.sendall(out)
        except OSError:
            pass
        finally:
            self.shut(src, dst)
