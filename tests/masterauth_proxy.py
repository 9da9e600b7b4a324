"""A Kerio-like IMAP front: X-MASTERAUTH and X-SETUSER in front of a real Dovecot.

Kerio Connect lets an admin act as any user with its master password:

    C: a1 X-MASTERAUTH
    S: + <challenge>
    C: hex(MD5(challenge + master password))
    S: a1 OK
    C: a2 X-SETUSER "jdoe@example.com"
    S: a2 OK

This front speaks exactly that to KIMT, then logs in to the Dovecot behind it
as the rig's master user for that user (SASL PLAIN with authorization
identity) and relays every byte both ways from then on, so the rest of the
session is real Dovecot. Only the pre-login commands are its own. Stdlib only;
listens on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
import time

CAPABILITIES = b"IMAP4rev1 X-MASTERAUTH"


class MasterAuthProxy:
    """`MasterAuthProxy(dovecot, "master-secret").start()`; `.host`, `.port`, `.stop()`."""

    host = "127.0.0.1"

    def __init__(self, upstream, master_password: str):
        self.upstream = upstream  # a started tests.dovecot.Dovecot
        self.master_password = master_password
        self.port = 0
        self.events: list[str] = []  # what happened, for assertions ("setuser jdoe@x", ...)
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> MasterAuthProxy:
        self._sock = socket.create_server((self.host, 0))
        self.port = self._sock.getsockname()[1]
        t = threading.Thread(target=self._accept, name="masterauth-proxy", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with self._lock:
            for c in self._conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()
            self._conns.clear()

    def __enter__(self) -> MasterAuthProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _note(self, text: str) -> None:
        with self._lock:
            self.events.append(text)

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # ------------------------------------------------------------------ one client
    def _serve(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        send = conn.sendall
        try:
            send(b"* OK [CAPABILITY " + CAPABILITIES + b"] Kerio-like test front ready\r\n")
            master_ok = False
            while True:
                line = rfile.readline()
                if not line:
                    return
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                command, _, arg = rest.partition(b" ")
                command = command.upper()
                if command == b"CAPABILITY":
                    send(b"* CAPABILITY " + CAPABILITIES + b"\r\n" + tag + b" OK done\r\n")
                elif command == b"NOOP":
                    send(tag + b" OK done\r\n")
                elif command == b"LOGOUT":
                    send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
                    return
                elif command == b"X-MASTERAUTH":
                    challenge = f"<{os.urandom(6).hex()}.{int(time.time())}@kerio-test>"
                    send(b"+ " + challenge.encode() + b"\r\n")
                    answer = rfile.readline().strip()
                    expected = hashlib.md5((challenge + self.master_password).encode()
                                           ).hexdigest().encode()
                    master_ok = answer == expected
                    self._note("masterauth ok" if master_ok else "masterauth refused")
                    send(tag + (b" OK master authentication done\r\n" if master_ok else
                                b" NO [AUTHENTICATIONFAILED] Master authentication failed\r\n"))
                elif command == b"X-SETUSER":
                    if not master_ok:
                        send(tag + b" NO X-MASTERAUTH first\r\n")
                        continue
                    user = _unquote(arg)
                    if user is None:
                        send(tag + b" BAD X-SETUSER needs a quoted user name\r\n")
                        continue
                    upstream = self._upstream_login(user)
                    if upstream is None:
                        self._note(f"setuser refused {user}")
                        send(tag + b" NO [AUTHENTICATIONFAILED] No such user\r\n")
                        continue
                    self._note(f"setuser {user}")
                    send(tag + b" OK User set\r\n")
                    self._relay(conn, rfile, upstream)
                    return
                else:
                    send(tag + b" NO [AUTHENTICATIONFAILED] only X-MASTERAUTH here\r\n")
        except OSError:
            pass
        finally:
            rfile.close()
            conn.close()

    def _upstream_login(self, user: str) -> tuple[socket.socket, object] | None:
        d = self.upstream
        up = socket.create_connection((d.host, d.port), timeout=10)
        upfile = up.makefile("rb")
        upfile.readline()  # greeting
        cred = base64.b64encode(f"{user}\0{d.master_user}\0{d.master_password}".encode())
        up.sendall(b"P1 AUTHENTICATE PLAIN " + cred + b"\r\n")
        while True:
            line = upfile.readline()
            if not line or line.startswith(b"P1 "):
                break
        if not line.startswith(b"P1 OK"):
            upfile.close()
            up.close()
            return None
        up.settimeout(None)
        return up, upfile

    def _relay(self, conn: socket.socket, rfile, upstream) -> None:
        up, upfile = upstream
        with self._lock:
            self._conns.append(up)

        def pump(reader, writer: socket.socket) -> None:
            try:
                while True:
                    data = reader.read1(65536)
                    if not data:
                        break
                    writer.sendall(data)
            except (OSError, ValueError):
                pass
            finally:
                try:
                    writer.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        back = threading.Thread(target=pump, args=(upfile, conn), daemon=True)
        back.start()
        pump(rfile, up)  # bytes the client sent, including any already buffered
        back.join(timeout=30)
        upfile.close()
        up.close()


def _unquote(arg: bytes) -> str | None:
    arg = arg.strip()
    if len(arg) < 2 or not (arg.startswith(b'"') and arg.endswith(b'"')):
        return None
    out, escaped = [], False
    for ch in arg[1:-1].decode("utf-8", "replace"):
        if escaped or ch != "\\":
            out.append(ch)
            escaped = False
        else:
            escaped = True
    return "".join(out)
