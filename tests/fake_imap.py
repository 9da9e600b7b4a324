"""A deliberately broken IMAP server, for the hostile-response tests only.

Everything else in the suite talks to real Dovecot: a real server can't be
made to send a truncated literal or a BYE in the middle of a FETCH, this one
can. It serves just enough of IMAP4rev1 for KIMT to read a mailbox as its
source (LOGIN, NAMESPACE, LIST, LSUB, EXAMINE, UID SEARCH, UID FETCH) and
misbehaves in the one way it is told, for one user only, so a test also sees
the other mailboxes of the run go on:

    truncated-literal   a body literal cut short, then the connection closed
    literal-too-short   a body literal announced shorter than what is sent
    literal-too-long    the last body literal announced longer than what is sent
    unknown-untagged    untagged responses no RFC defines, in every answer
    bye                 "* BYE" instead of the bodies
    long-line           a `line_bytes` long untagged line before the bodies
    bad-size            RFC822.SIZE that is not a number

Stdlib only; one thread per connection.
"""

from __future__ import annotations

import re
import socket
import threading

MODES = ("truncated-literal", "literal-too-short", "literal-too-long", "unknown-untagged",
         "bye", "long-line", "bad-size")
JUNK = (b"* XKIMT-NONSENSE 1 2 (3 \"four\") NIL\r\n", b"* 1 XWHATEVER (FOO BAR)\r\n",
        b"* OK [XUNKNOWN-CODE 42] something no RFC defines\r\n")


class FakeImap:
    """Serves `mailboxes` ({user: [raw message, ...]}, any password) on 127.0.0.1:`port`."""

    def __init__(self, mailboxes: dict[str, list[bytes]], mode: str | None = None,
                 hostile_user: str | None = None, line_bytes: int = 1_100_000):
        assert mode is None or mode in MODES
        self.mailboxes = mailboxes
        self.mode = mode
        self.hostile_user = hostile_user
        self.line_bytes = line_bytes
        self.fired = 0  # how often the misbehaviour happened
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="fake-imap").start()

    def close(self) -> None:
        self._listener.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def __enter__(self) -> FakeImap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=_Session(self, conn).serve, daemon=True).start()


class _Session:
    def __init__(self, server: FakeImap, conn: socket.socket):
        self.server = server
        self.conn = conn
        self.file = conn.makefile("rb")
        self.user: str | None = None

    @property
    def hostile(self) -> bool:
        return self.server.mode is not None and self.user == self.server.hostile_user

    @property
    def messages(self) -> list[bytes]:
        return self.server.mailboxes.get(self.user or "", [])

    def send(self, data: bytes) -> None:
        self.conn.sendall(data)

    def junk(self) -> None:
        if self.hostile and self.server.mode == "unknown-untagged":
            self.server.fired += 1
            for line in JUNK:
                self.send(line)

    def serve(self) -> None:
        try:
            self.send(b"* OK [CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS] fake server ready\r\n")
            while True:
                line = self.file.readline(100_000)
                if not line:
                    return
                parts = line.rstrip(b"\r\n").split(b" ", 2)
                if len(parts) < 2:
                    self.send(b"* BAD what?\r\n")
                    continue
                tag, cmd = parts[0], parts[1].upper()
                args = parts[2] if len(parts) > 2 else b""
                if cmd == b"UID":
                    sub, _, args = args.partition(b" ")
                    cmd = sub.upper()
                if not self.command(tag, cmd, args):
                    return
        except OSError:
            pass
        finally:
            self.conn.close()

    def ok(self, tag: bytes, text: bytes = b"done") -> bool:
        self.send(tag + b" OK " + text + b"\r\n")
        return True

    def command(self, tag: bytes, cmd: bytes, args: bytes) -> bool:
        if cmd == b"CAPABILITY":
            self.send(b"* CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS\r\n")
        elif cmd == b"LOGIN":
            self.user = args.split(b" ")[0].strip(b'"').decode().lower()
            self.junk()
            return self.ok(tag, b"[CAPABILITY IMAP4rev1 NAMESPACE UIDPLUS] logged in")
        elif cmd == b"LOGOUT":
            self.send(b"* BYE see you\r\n")
            self.ok(tag)
            return False
        elif cmd == b"NAMESPACE":
            self.send(b'* NAMESPACE (("" "/")) NIL NIL\r\n')
        elif cmd in (b"LIST", b"LSUB"):
            if args.endswith(b'""'):
                self.send(b"* " + cmd + b' (\\Noselect) "/" ""\r\n')
            else:
                self.send(b"* " + cmd + b' (\\HasNoChildren) "/" INBOX\r\n')
        elif cmd in (b"EXAMINE", b"SELECT"):
            n = len(self.messages)
            self.send(b"* %d EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n"
                      b"* OK [PERMANENTFLAGS ()] none\r\n* OK [UIDVALIDITY 7] ok\r\n"
                      b"* OK [UIDNEXT %d] ok\r\n" % (n, n + 1))
            self.junk()
            return self.ok(tag, b"[READ-ONLY] examined")
        elif cmd == b"SEARCH":
            self.send(b"* SEARCH " + b" ".join(b"%d" % (i + 1) for i in
                                               range(len(self.messages))) + b"\r\n")
        elif cmd == b"FETCH":
            uid_set, _, items = args.partition(b" ")
            return self.fetch(tag, _uids(uid_set, len(self.messages)), items.upper())
        elif cmd in (b"NOOP", b"ID", b"ENABLE", b"CHECK", b"CLOSE", b"UNSELECT"):
            pass
        else:
            self.send(tag + b" BAD unknown command\r\n")
            return True
        return self.ok(tag)

    def fetch(self, tag: bytes, uids: list[int], items: bytes) -> bool:
        bodies = b"BODY.PEEK[]" in items or b"BODY[]" in items
        mode = self.server.mode if self.hostile else None
        if bodies and mode in ("bye", "long-line", "truncated-literal", "literal-too-short",
                               "literal-too-long"):
            self.server.fired += 1
        if bodies and mode == "bye":
            self.send(b"* BYE the server is going down\r\n")
            return False
        if bodies and mode == "long-line":
            self.send(b"* OK " + b"x" * self.server.line_bytes + b"\r\n")
        self.junk()
        for uid in uids:
            raw = self.messages[uid - 1]
            if bodies:
                announced = len(raw)
                if mode == "literal-too-short":
                    announced -= 40
                elif mode == "literal-too-long" and uid == uids[-1]:
                    announced += 1000
                head = b"* %d FETCH (UID %d BODY[] {%d}\r\n" % (uid, uid, announced)
                if mode == "truncated-literal":
                    self.send(head + raw[: len(raw) // 2])
                    return False
                self.send(head + raw + b")\r\n")
            else:
                header = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
                size = b"twelve" if mode == "bad-size" else b"%d" % len(raw)
                if mode == "bad-size":
                    self.server.fired += 1
                self.send(b'* %d FETCH (UID %d RFC822.SIZE %s FLAGS (\\Seen) INTERNALDATE '
                          b'"01-Feb-2023 10:20:30 +0100" BODY[HEADER.FIELDS (MESSAGE-ID DATE '
                          b'FROM SUBJECT)] {%d}\r\n' % (uid, uid, size, len(header))
                          + header + b")\r\n")
            self.junk()
        return self.ok(tag, b"fetched")


def _uids(uid_set: bytes, count: int) -> list[int]:
    out: list[int] = []
    for part in uid_set.split(b","):
        m = re.fullmatch(rb"(\d+)(?::(\d+|\*))?", part)
        if not m:
            continue
        lo = int(m.group(1))
        hi = lo if m.group(2) is None else (count if m.group(2) == b"*" else int(m.group(2)))
        out.extend(u for u in range(min(lo, hi), max(lo, hi) + 1) if 1 <= u <= count)
    return out
