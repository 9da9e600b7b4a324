"""Throwaway Dovecot 2.3 IMAP servers for KIMT's integration tests.

A plain module (stdlib only, no pytest): tests, demo scripts and benchmarks can
all ``import dovecot`` (put ``tests/`` on ``sys.path``) and run real servers on
127.0.0.1::

    with Dovecot(separator=".", prefix="INBOX.") as d:
        d.add_user("jdoe@example.com", "secret")
        d.create_folder("jdoe@example.com", "Účty/Faktury 2023")
        d.append("jdoe@example.com", "Účty/Faktury 2023", make_message("hi"))
        print(d.messages("jdoe@example.com", "Účty/Faktury 2023"))

Each instance lives in its own temporary directory, listens on free ports
(plain + STARTTLS, implicit TLS), runs ``dovecot -F`` as a child process and
is stopped by signal.  The seeding/inspection helpers only use ``imaplib`` and
log in as the master user (SASL PLAIN, authzid = user), so they are an oracle
independent of KIMT's own IMAP code.  Folder names given to the helpers are
*logical*: "/" separated, unicode, without the personal namespace prefix;
the rig translates them to the instance's separator, prefix and modified UTF-7.
The process lifecycle (stop, restart, cleanup, context manager, log tails) and
the imaplib login are tests/rig_server.py's ``RigServer``, shared with the Cyrus
rig (tests/cyrus.py), which also uses this module's IMAP helpers.

``python3 tests/dovecot.py --help`` runs an instance by hand.
"""

from __future__ import annotations

import base64
import calendar
import datetime as _dt
import email.utils
import hashlib
import imaplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from email.header import Header
from pathlib import Path

from rig_server import RigServer

__all__ = [
    "Dovecot",
    "RigError",
    "AppendError",
    "DEFAULT_SPECIAL_USE",
    "PUBLIC_FOLDER",
    "make_message",
    "free_port",
    "mutf7_encode",
    "mutf7_decode",
    "format_internaldate",
    "parse_internaldate",
]

imaplib._MAXLINE = 100_000_000  # long FETCH/LIST lines are fine in tests

DEFAULT_SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
}
PUBLIC_FOLDER = "Announcements"  # the one folder inside the public namespace

_USER_RE = re.compile(r"[a-z0-9.\-_@+]+")
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class RigError(Exception):
    """The rig could not do what was asked (server failed to start, command failed...)."""


class AppendError(RigError):
    """APPEND answered NO/BAD.  ``.typ`` is "NO"/"BAD", ``.response`` the server's
    text, e.g. "[LIMIT] Mail size is larger than the maximum size allowed by server
    configuration (...)" or "[OVERQUOTA] Quota exceeded (mailbox for user is full)"."""

    def __init__(self, typ: str, response: str):
        super().__init__(f"APPEND {typ}: {response}")
        self.typ = typ
        self.response = response


# --------------------------------------------------------------------------- small helpers
def _find_dovecot() -> str:
    for cand in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise RigError("dovecot not found (apt-get install dovecot-imapd)")


_ports_given: set[int] = set()
_ports_lock = threading.Lock()


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1, never the same twice in this process."""
    with _ports_lock:
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise RigError("no free port found")


def mutf7_encode(s: str) -> str:
    """Unicode -> IMAP modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            b = "".join(buf).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode("ascii").rstrip("=").replace("/", ",")
                       + "-")
            buf.clear()

    for ch in s:
        if " " <= ch <= "~":
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


def mutf7_decode(s: str) -> str:
    """IMAP modified UTF-7 -> unicode."""
    out: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        j = s.index("-", i)
        chunk = s[i + 1:j]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            out.append(base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be"))
        i = j + 1
    return "".join(out)


def _logical_name(server_name: str, prefix: str, separator: str) -> str:
    """A server's mUTF-7 mailbox name -> logical "A/B" (unicode): decoded, without
    the personal namespace ``prefix``, "/" for the server's ``separator``."""
    name = mutf7_decode(server_name)
    if name.upper() == "INBOX":
        return "INBOX"
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    if separator != "/":
        name = "/".join(name.split(separator))
    return name


def format_internaldate(when: int | float | _dt.datetime, tz_minutes: int = 0) -> str:
    """UTC epoch (or aware datetime) -> "dd-Mon-yyyy hh:mm:ss +zzzz" (unquoted)."""
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            raise ValueError("naive datetime")
        off = when.utcoffset()
        tz_minutes = int(off.total_seconds() // 60) if off else 0
        when = when.timestamp()
    t = time.gmtime(int(when) + tz_minutes * 60)
    sign = "+" if tz_minutes >= 0 else "-"
    tz = abs(tz_minutes)
    return (f"{t.tm_mday:02d}-{_MONTHS[t.tm_mon - 1]}-{t.tm_year:04d} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{tz // 60:02d}{tz % 60:02d}")


_IDATE_RE = re.compile(
    r"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)")


def parse_internaldate(s: str | bytes) -> int:
    """INTERNALDATE text -> UTC epoch seconds."""
    if isinstance(s, bytes):
        s = s.decode("ascii")
    m = _IDATE_RE.match(s.strip('"'))
    if not m:
        raise ValueError(f"bad INTERNALDATE {s!r}")
    d, mon, y, hh, mm, ss, sign, th, tm = m.groups()
    epoch = calendar.timegm((int(y), _MONTHS.index(mon.capitalize()) + 1, int(d),
                             int(hh), int(mm), int(ss), 0, 0, 0))
    off = (int(th) * 60 + int(tm)) * 60
    return epoch - off if sign == "+" else epoch + off


def _imap_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(b: bytes) -> bytes:
    b = b.strip()
    if len(b) >= 2 and b[:1] == b'"' and b[-1:] == b'"':
        return re.sub(rb'\\(.)', rb'\1', b[1:-1])
    return b


def _text(data) -> str:
    """imaplib response data -> readable text."""
    parts = []
    for d in data or ():
        if isinstance(d, tuple):
            d = d[0]
        if isinstance(d, bytes):
            d = d.decode("utf-8", "replace")
        if d is not None:
            parts.append(str(d))
    return " ".join(parts)


def _check(resp, what: str):
    typ, data = resp
    if typ != "OK":
        raise RigError(f"{what}: {typ} {_text(data)}")
    return data


# --------------------------------------------------------------------------- messages
def make_message(
    subject: str,
    body: str | bytes = "Hello,\r\n\r\nthis is a test message.\r\n",
    msgid: str | None = None,
    date: str | int | float | _dt.datetime | None = None,
    sender: str = "Alice Example <alice@example.com>",
    to: str = "Bob Example <bob@example.com>",
    extra_headers: Iterable[tuple[str, str] | str] = (),
    size: int | None = None,
) -> bytes:
    """A valid RFC 5322 message with CRLF line ends.

    Non-ASCII subjects are RFC 2047 encoded; a str body is sent as UTF-8 8bit text
    with its line ends normalised to CRLF (a bytes body is used exactly as given).
    ``msgid`` defaults to a fresh unique ``<...@kimt.test>``; ``date`` may be a
    RFC 5322 date string, an epoch or an aware datetime (default: now).  ``size``
    pads the body with filler lines so that the whole message is ``size`` bytes
    (exactly, when ``size`` is larger than the unpadded message + 2).
    """
    if msgid is None:
        msgid = email.utils.make_msgid(domain="kimt.test")
    elif not msgid.startswith("<"):
        msgid = f"<{msgid}>"
    if date is None:
        date = email.utils.formatdate(localtime=False)
    elif isinstance(date, _dt.datetime):
        date = email.utils.format_datetime(date)
    elif isinstance(date, int | float):
        date = email.utils.formatdate(date, localtime=False)
    try:
        subject.encode("ascii")
        subj = subject
    except UnicodeEncodeError:
        subj = Header(subject, "utf-8").encode()
    headers = [
        ("From", sender),
        ("To", to),
        ("Subject", subj),
        ("Date", date),
        ("Message-ID", msgid),
        ("MIME-Version", "1.0"),
    ]
    if isinstance(body, str):
        body_b = re.sub(r"\r\n|\r|\n", "\r\n", body).encode("utf-8")
        headers.append(("Content-Type", "text/plain; charset=utf-8"))
        headers.append(("Content-Transfer-Encoding", "8bit"))
    else:
        body_b = body
    for h in extra_headers:
        if isinstance(h, str):
            name, _, value = h.partition(":")
            headers.append((name.strip(), value.strip()))
        else:
            headers.append((h[0], h[1]))
    head = "".join(f"{k}: {v}\r\n" for k, v in headers).encode("utf-8") + b"\r\n"
    msg = head + body_b
    if size is not None and size > len(msg):
        if msg and not msg.endswith(b"\n"):
            msg += b"\r\n"
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n"
        missing = size - len(msg)
        full, rest = divmod(missing, len(line))
        msg += line * full
        if rest >= 2:
            msg += b"x" * (rest - 2) + b"\r\n"
    return msg


# --------------------------------------------------------------------------- IMAP parsing
_LIST_RE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<sep>NIL|"(?:\\.|[^"\\])*") ?(?P<name>.*)$',
                      re.S)


def _parse_list(data) -> list[tuple[list[str], str | None, str]]:
    """imaplib LIST/LSUB data -> [(flags, separator, raw mUTF-7 name)]."""
    out = []
    items = list(data or ())
    i = 0
    while i < len(items):
        it = items[i]
        i += 1
        if it is None:
            continue
        if isinstance(it, tuple):  # name sent as a literal
            head, lit = it
            m = _LIST_RE.match(head.rstrip())
            name = lit
            if m is None:
                continue
            m_name = m.group("name").strip()
            if m_name and not m_name.startswith(b"{"):
                name = _unquote(m_name)
        else:
            m = _LIST_RE.match(it)
            if m is None:
                continue
            name = _unquote(m.group("name"))
        flags = m.group("flags").decode().split()
        sep = None if m.group("sep") == b"NIL" else _unquote(m.group("sep")).decode()
        out.append((flags, sep, name.decode("utf-8", "replace")))
    return out


_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_FETCH_IDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_FETCH_MODSEQ = re.compile(rb"MODSEQ \((\d+)\)")


def _parse_fetch(data, idate=parse_internaldate) -> dict[int, dict]:
    """imaplib FETCH data -> {uid: {"flags", "internaldate", "size", ["body"], ["modseq"]}},
    the internaldate ``idate`` of the bytes sent (default: a UTC epoch)."""
    out: dict[int, dict] = {}
    items = list(data or ())
    i = 0
    while i < len(items):
        it = items[i]
        i += 1
        if it is None:
            continue
        if isinstance(it, tuple):
            meta, body = it[0], it[1]
            # items after the literal come as the next bare bytes element, e.g. b' UID 3)'
            if i < len(items) and isinstance(items[i], bytes):
                meta = meta + b" " + items[i]
                i += 1
        else:
            meta, body = it, None
        mu = _FETCH_UID.search(meta)
        if not mu:
            continue
        rec = out.setdefault(int(mu.group(1)), {})
        mf = _FETCH_FLAGS.search(meta)
        if mf:
            rec["flags"] = sorted(f for f in mf.group(1).decode().split()
                                  if f.lower() != "\\recent")
        md = _FETCH_IDATE.search(meta)
        if md:
            rec["internaldate"] = idate(md.group(1))
        ms = _FETCH_SIZE.search(meta)
        if ms:
            rec["size"] = int(ms.group(1))
        mm = _FETCH_MODSEQ.search(meta)
        if mm:
            rec["modseq"] = int(mm.group(1))
        if body is not None:
            rec["body"] = body
    return out


def _flag_list(flags: Iterable[str] | str) -> str:
    if isinstance(flags, str):
        flags = flags.split()
    return "(" + " ".join(flags) + ")"


def _idate(internaldate) -> str:
    if isinstance(internaldate, str):
        return internaldate.strip('"')
    return format_internaldate(internaldate)


def _append_one(m: imaplib.IMAP4, mailbox: str, raw: bytes, flags, internaldate):
    """APPEND with a synchronizing literal, bytes sent exactly as given; the UID
    (APPENDUID) or None.  Raises AppendError on NO/BAD.

    (imaplib.IMAP4.append() would rewrite bare CR/LF to CRLF.)"""
    args = [_imap_quote(mailbox)]
    if flags:
        args.append(_flag_list(flags))
    if internaldate is not None:
        args.append('"' + _idate(internaldate) + '"')
    m.literal = bytes(raw)
    try:
        typ, data = m._command_complete("APPEND", m._command("APPEND", *args))
    except imaplib.IMAP4.abort:
        raise
    except imaplib.IMAP4.error as e:  # BAD
        raise AppendError("BAD", str(e)) from None
    if typ != "OK":
        raise AppendError(typ, _text(data))
    mm = re.search(r"APPENDUID \d+ (\d+)", _text(data))
    return int(mm.group(1)) if mm else None


# --------------------------------------------------------------------------- the server
_DISPOSABLE = {"log", "imap-login"}  # processes stop() need not wait for


class Dovecot(RigServer):
    """One independent Dovecot 2.3 instance on 127.0.0.1 (see module docstring).

    Options (all keyword, all optional):

    separator           "/" (maildir, LAYOUT=fs) or "." (Maildir++)
    prefix              personal namespace prefix: "" or e.g. "INBOX." (must end with separator)
    special_use         {logical mailbox name: "\\Sent"...} (default: none)
    auto_create_special those mailboxes exist (auto = subscribe) for every user
    public_namespace    add a public namespace "Public/" (or "Public.") holding PUBLIC_FOLDER
    quota_max_mail_size e.g. "1M": bigger APPENDs are refused
    quota_storage       e.g. "2M": per-user storage limit
    master_user, master_password   master passdb login (default admin/adminpass)
    max_userip_connections         mail_max_userip_connections (default 100)
    extra_config        text appended to dovecot.conf
    port, ssl_port      fixed ports instead of free ones
    host                another loopback address to listen on (default 127.0.0.1): with
                        one of its own a test can have the standard ports 143 and 993
    die_with_parent     when started from the main thread, the server gets SIGTERM
                        if this process dies (e.g. a test run killed by a timeout);
                        default True.  Starting from another thread never uses it.
    """

    keep_dirs_env = "KIMT_KEEP_DOVECOT"  # =1: cleanup() keeps the instance directory
    _root_prefix = "kd"
    _conf_file = "dovecot.conf"
    _log_file = "dovecot.log"

    def __init__(
        self,
        *,
        separator: str = "/",
        prefix: str = "",
        special_use: Mapping[str, str] | None = None,
        auto_create_special: bool = False,
        public_namespace: bool = False,
        quota_max_mail_size: str | None = None,
        quota_storage: str | None = None,
        master_user: str = "admin",
        master_password: str = "adminpass",
        max_userip_connections: int = 100,
        extra_config: str = "",
        port: int | None = None,
        ssl_port: int | None = None,
        host: str | None = None,
        start_timeout: float = 15.0,
        die_with_parent: bool = True,
    ):
        if separator not in ("/", "."):
            raise ValueError("separator must be '/' or '.'")
        if prefix and not prefix.endswith(separator):
            raise ValueError(f"prefix {prefix!r} must end with the separator {separator!r}")
        self.separator = separator
        self.prefix = prefix
        self.special_use = dict(special_use or {})
        self.auto_create_special = auto_create_special
        self.public_namespace = public_namespace
        self.public_prefix = f"Public{separator}" if public_namespace else None
        self.quota_max_mail_size = quota_max_mail_size
        self.quota_storage = quota_storage
        self.master_user = master_user
        self.master_password = master_password
        self.max_userip_connections = max_userip_connections
        super().__init__(extra_config=extra_config, port=port, start_timeout=start_timeout,
                         die_with_parent=die_with_parent)
        self._fixed_ports = port is not None or ssl_port is not None
        self.ssl_port = ssl_port or 0
        if host is not None:
            self.host = host

    # ------------------------------------------------------------------ paths
    @property
    def cert_path(self) -> Path:
        return self._p("cert.pem")

    @property
    def key_path(self) -> Path:
        return self._p("key.pem")

    @property
    def home_root(self) -> Path:
        return self._p("home")

    @property
    def fingerprint(self) -> str:
        """"SHA256:AB:CD:..." of the DER certificate."""
        der = ssl.PEM_cert_to_DER_cert(self.cert_path.read_text())
        h = hashlib.sha256(der).hexdigest().upper()
        return "SHA256:" + ":".join(h[i:i + 2] for i in range(0, len(h), 2))

    def log_text(self) -> str:
        """Dovecot's log (plus anything it wrote to stderr)."""
        return "".join(self._log_texts())

    def __repr__(self) -> str:
        return (f"<Dovecot {self.host}:{self.port}/{self.ssl_port} sep={self.separator!r} "
                f"prefix={self.prefix!r} root={self.root}>")

    # ------------------------------------------------------------------ users
    def _ids(self) -> dict:
        import grp  # POSIX only: imported here so that the unit tests, which import this
        import pwd  # module through helpers.py, also run on Windows (-m "not rig")

        if os.geteuid() == 0:
            try:
                internal = pwd.getpwnam("dovecot")
                login = pwd.getpwnam("dovenull")
                nobody = pwd.getpwnam("nobody")
            except KeyError as e:
                raise RigError(f"system user missing ({e}); is dovecot-core installed?") from None
            return {"root": True, "internal_user": internal.pw_name,
                    "internal_group": grp.getgrgid(internal.pw_gid).gr_name,
                    "internal_gid": internal.pw_gid, "login_user": login.pw_name,
                    "uid": nobody.pw_uid, "gid": nobody.pw_gid}
        me = pwd.getpwuid(os.geteuid())
        try:
            group = grp.getgrgid(os.getegid()).gr_name
        except KeyError:
            group = str(os.getegid())
        return {"root": False, "internal_user": me.pw_name, "internal_group": group,
                "internal_gid": os.getegid(),
                "login_user": me.pw_name, "uid": os.geteuid(), "gid": os.getegid()}

    def add_user(self, email: str, password: str) -> None:
        """Add (or change) a user; works before and while the server runs.

        Each user is a passwd-file of its own (users.d/<email>), so a user added
        while the server runs is known at once.  Dovecot looks a passwd-file up
        again at most once a second, so changing an existing user's password
        while running waits for the next second."""
        key = email.lower()
        if (not _USER_RE.fullmatch(key)) or key in (".", ".."):
            raise ValueError(f"bad user name {email!r} (allowed: letters, digits, .-_@+)")
        if any(c in password for c in "\r\n\0"):
            raise ValueError("password must not contain CR, LF or NUL")
        with self._users_lock:
            changed = key in self._users and self._users[key] != password
            self._users[key] = password
            if self.root is not None:
                self._write_user(key)
                if changed and self.running:
                    time.sleep(1.05 - time.time() % 1.0)

    def users_file(self, path: str | os.PathLike) -> Path:
        """Write "user<TAB>password" lines for all users (verify.py --users-file)."""
        path = Path(path)
        path.write_text("".join(f"{u}\t{p}\n" for u, p in self._users.items()),
                        encoding="utf-8")
        return path

    @staticmethod
    def _pw_field(password: str) -> str:
        if ":" in password or password != password.strip() or not password.isprintable():
            return "{PLAIN.b64}" + base64.b64encode(password.encode("utf-8")).decode()
        return "{PLAIN}" + password

    def _write_file(self, path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        ids = self._ids()
        if ids["root"]:
            os.chown(tmp, 0, ids["internal_gid"])
            os.chmod(tmp, 0o640)
        else:
            os.chmod(tmp, 0o600)
        if path.exists():  # Dovecot re-reads a passwd-file when its mtime or size changes
            mtime = max(time.time(), path.stat().st_mtime + 1.0)
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)

    def _write_user(self, key: str) -> None:
        self._write_file(self._p("users.d", key), f"{key}:{self._pw_field(self._users[key])}\n")

    # ------------------------------------------------------------------ setup
    def _prepare(self) -> None:
        if self.root is not None:
            return
        self._make_root()
        ids = self._ids()
        for d in ("run", "state", "home", "public", "users.d"):
            self._p(d).mkdir(mode=0o755)
        if self.public_namespace:
            pub = self._p("public", PUBLIC_FOLDER if self.separator == "/"
                          else "." + PUBLIC_FOLDER)
            for sub in ("cur", "new", "tmp"):
                (pub / sub).mkdir(parents=True, mode=0o700)
        if ids["root"]:
            for d in ("home", "public"):
                for dirpath, _dirs, _files in os.walk(self._p(d)):
                    os.chown(dirpath, ids["uid"], ids["gid"])
        self._make_cert()
        self._write_file(self._p("masters"),
                         f"{self.master_user}:{self._pw_field(self.master_password)}\n")
        for key in self._users:
            self._write_user(key)

    def _make_cert(self) -> None:
        cmd = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
            "-keyout", str(self.key_path), "-out", str(self.cert_path),
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext", "extendedKeyUsage=serverAuth",
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RigError(f"openssl failed: {r.stderr.strip()}")
        os.chmod(self.key_path, 0o600)

    def _mailbox_sections(self) -> str:
        out = []
        for name, flag in self.special_use.items():
            if any(c in name for c in '"\\\r\n'):
                raise ValueError(f"special-use mailbox name {name!r} not supported")
            vname = self.separator.join(name.split("/"))
            auto = "subscribe" if self.auto_create_special else "no"
            out.append(f'  mailbox "{vname}" {{\n    special_use = {flag}\n'
                       f"    auto = {auto}\n  }}\n")
        return "".join(out)

    def _config(self) -> str:
        ids = self._ids()
        sep = self.separator
        if sep == "/":
            location = "maildir:~/Maildir:LAYOUT=fs"
            pub_location = f"maildir:{self._p('public')}:LAYOUT=fs"
        else:
            location = "maildir:~/Maildir"
            pub_location = f"maildir:{self._p('public')}"
        first_uid = min(ids["uid"], 500) or 1
        first_gid = min(ids["gid"], 1)
        quota = self.quota_max_mail_size or self.quota_storage
        lines = [
            "# generated by tests/dovecot.py - one throwaway instance",
            f"base_dir = {self._p('run')}",
            f"state_dir = {self._p('state')}",
            f"instance_name = kimt-{self.root.name}",
            "protocols = imap",
            f"listen = {self.host}",
            f"log_path = {self.log_path}",
            "auth_verbose = yes",
            "",
            f"default_internal_user = {ids['internal_user']}",
            f"default_internal_group = {ids['internal_group']}",
            f"default_login_user = {ids['login_user']}",
            f"first_valid_uid = {first_uid}",
            f"first_valid_gid = {first_gid}",
            "",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "auth_master_user_separator = *",
            "auth_cache_size = 0",
            "auth_failure_delay = 0",
            "auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
            "01234567890.-_@+",
            "",
            "ssl = yes",
            f"ssl_cert = <{self.cert_path}",
            f"ssl_key = <{self.key_path}",
            "",
            f"mail_location = {location}",
            "mail_fsync = never",
            f"mail_max_userip_connections = {self.max_userip_connections}",
            "",
            "namespace inbox {",
            "  type = private",
            f"  separator = {sep}",
            f"  prefix = {self.prefix}",
            "  inbox = yes",
            "  list = yes",
            "  subscriptions = yes",
            self._mailbox_sections().rstrip("\n"),
            "}",
        ]
        if self.public_namespace:
            lines += [
                "namespace public {",
                "  type = public",
                f"  separator = {sep}",
                f"  prefix = {self.public_prefix}",
                f"  location = {pub_location}",
                "  list = yes",
                "  subscriptions = no",
                "}",
            ]
        lines += [
            "",
            "passdb {",
            "  driver = passwd-file",
            f"  args = {self._p('masters')}",
            "  master = yes",
            "  pass = yes",
            "}",
            "passdb {",
            "  driver = passwd-file",
            f"  args = {self._p('users.d')}/%Lu",
            "}",
            "userdb {",
            "  driver = static",
            f"  args = uid={ids['uid']} gid={ids['gid']} home={self.home_root}/%Ld/%Ln",
            "}",
            "",
            "service imap-login {",
            "  inet_listener imap {",
            f"    address = {self.host}",
            f"    port = {self.port}",
            "  }",
            "  inet_listener imaps {",
            f"    address = {self.host}",
            f"    port = {self.ssl_port}",
            "    ssl = yes",
            "  }",
        ]
        if not ids["root"]:
            lines.append("  chroot =")
        lines.append("}")
        lines += [  # no auth penalty: failed logins would slow every later login by seconds
            "service anvil {",
            "  unix_listener anvil-auth-penalty {",
            "    mode = 0",
            "  }",
        ]
        if not ids["root"]:
            lines += [
                "  chroot =",
                "}",
                "service auth-worker {",
                "  user = $default_internal_user",
                "}",
            ]
        else:
            lines.append("}")
        if quota:
            lines += [
                "",
                "mail_plugins = $mail_plugins quota",
                "protocol imap {",
                "  mail_plugins = $mail_plugins imap_quota",
                "}",
                "plugin {",
                "  quota = count:User quota",
                "  quota_vsizes = yes",
                "  quota_grace = 0",
            ]
            if self.quota_storage:
                lines.append(f"  quota_rule = *:storage={self.quota_storage}")
            if self.quota_max_mail_size:
                lines.append(f"  quota_max_mail_size = {self.quota_max_mail_size}")
            lines.append("}")
        if self.extra_config:
            lines += ["", "# extra_config", self.extra_config]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Dovecot:
        """Start the server (first call: create the instance); returns self."""
        if self.running:
            return self
        t0 = time.monotonic()
        self._prepare()
        first = not self.port or not self.ssl_port
        attempts = 5 if (first and not self._fixed_ports) else 1
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            if not self.ssl_port or attempt:
                self.ssl_port = free_port()
            self.conf_path.write_text(self._config(), encoding="utf-8")
            err = self._spawn_and_wait()
            if err is None:
                self._register()
                self.startup_seconds = time.monotonic() - t0
                return self
            if "Address already in use" not in err:
                break
        raise RigError(f"dovecot did not start ({self.root}):\n{err}")

    def _spawn_and_wait(self) -> str | None:
        if self._started_once:
            self._wait_ports_free(self.port, self.ssl_port)
        log_mark = self._log_sizes()
        self._spawn([_find_dovecot(), "-F", "-c", str(self.conf_path)])
        deadline = time.monotonic() + self.start_timeout
        ready_plain = ready_ssl = False
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._reap()
                return f"exit status {self._proc.returncode}\n{self._log_since(log_mark)}"
            if not ready_plain and "Fatal: " in self._log_since(log_mark):
                # e.g. a listener failed: the master would linger ~1-2 s before exiting
                time.sleep(0.05)
                err = self._log_since(log_mark)
                self.stop()
                return f"failed to start\n{err}"
            if not ready_plain:
                ready_plain = self._greets(self.port)
            if ready_plain and not ready_ssl:
                ready_ssl = self._accepts(self.ssl_port)
            if ready_plain and ready_ssl:
                return None
            time.sleep(0.005)
        self.stop()
        return f"timeout after {self.start_timeout}s\n{self._log_since(log_mark)}"

    def _greets(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=2) as s:
                s.settimeout(2)
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def _accepts(self, port: int) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=2):
                return True
        except OSError:
            return False

    def _only_disposable_left(self, others: list[tuple[int, str, str]]) -> bool:
        return bool(others) and all(c in _DISPOSABLE or st == "Z" for _p, c, st in others)

    def stop(self) -> None:
        """Stop the server; data and ports are kept for restart().

        SIGTERM to the master.  It then lingers ~1 s for its log process and a
        login process may linger 5 s; so once every process that can hold mail
        state (imap, auth...) has exited, the rest (master, log, imap-login) get
        SIGKILL.  After 10 s whatever is left gets SIGKILL.  (Even a clean exit
        leaves the log process for init to reap.)"""
        if self._proc is None:
            return
        super().stop()
        try:
            self._p("run", "master.pid").unlink()
        except (FileNotFoundError, AssertionError):
            pass

    # ------------------------------------------------------------------ names
    def server_name(self, logical: str) -> str:
        """Logical "A/B" (unicode) -> this server's mUTF-7 mailbox name."""
        if logical.upper() == "INBOX":
            return "INBOX"
        parts = logical.split("/")
        if self.public_prefix and parts[0] == self.public_prefix[:-1]:
            prefix = ""  # "Public/..." is in the public namespace
        else:
            prefix = self.prefix
        if self.separator != "/" and any(self.separator in p for p in parts):
            raise ValueError(f"{logical!r}: a name part contains the server separator "
                             f"{self.separator!r}")
        return mutf7_encode(prefix + self.separator.join(parts))

    def logical_name(self, server_name: str) -> str:
        """This server's mUTF-7 mailbox name -> logical "A/B" (unicode)."""
        return _logical_name(server_name, self.prefix, self.separator)

    # ------------------------------------------------------------------ IMAP (imaplib only)
    def connect(
        self,
        user: str,
        *,
        password: str | None = None,
        auth: str = "authzid",
        tls: str | None = None,
        timeout: float = 60.0,
    ) -> imaplib.IMAP4:
        """A logged-in imaplib connection for ``user``.

        auth: "authzid" (SASL PLAIN authzid=user, authcid=master; default),
              "separator" (LOGIN user*master masterpass),
              "user" (LOGIN user password - AUTHENTICATE PLAIN when not ASCII;
                      the password defaults to the stored one).
        tls:  None (plain), "starttls", or "ssl" (implicit TLS port).
        The certificate is verified against cert_path.
        """
        if tls == "ssl":
            m: imaplib.IMAP4 = imaplib.IMAP4_SSL(self.host, self.ssl_port,
                                                  ssl_context=self.ssl_context(),
                                                  timeout=timeout)
        else:
            m = imaplib.IMAP4(self.host, self.port, timeout=timeout)
            if tls == "starttls":
                m.starttls(ssl_context=self.ssl_context())
            elif tls is not None:
                raise ValueError(f"tls={tls!r}")
        master = (self.master_user, self.master_password)
        return self._log_in(m, user, auth=auth, password=password, proxy=master,
                            logins={"separator": (f"{user}*{master[0]}", master[1])})

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this instance's certificate."""
        ctx = ssl.create_default_context(cafile=str(self.cert_path))
        ctx.check_hostname = True
        return ctx

    def create_folder(self, user: str, logical_name: str, subscribe: bool = True) -> None:
        """CREATE the folder and any missing parents (SUBSCRIBE them too by default).

        (Special-use flags come from the ``special_use`` option only: Dovecot 2.3
        does not offer CREATE-SPECIAL-USE and silently ignores ``CREATE x (USE ...)``.)
        """
        parts = logical_name.split("/")
        m = self.connect(user)
        try:
            existing = set(self._list(m))
            for i in range(1, len(parts) + 1):
                logical = "/".join(parts[:i])
                name = self.server_name(logical)
                if logical not in existing:
                    typ, data = m._simple_command("CREATE", _imap_quote(name))
                    if typ != "OK" and "ALREADYEXISTS" not in _text(data):
                        raise RigError(f"CREATE {name}: {typ} {_text(data)}")
                    if subscribe:
                        _check(m.subscribe(_imap_quote(name)), f"SUBSCRIBE {name}")
                elif subscribe and i == len(parts):
                    _check(m.subscribe(_imap_quote(name)), f"SUBSCRIBE {name}")
        finally:
            self._logout(m)

    def subscribe(self, user: str, logical_name: str, on: bool = True) -> None:
        m = self.connect(user)
        try:
            name = _imap_quote(self.server_name(logical_name))
            _check(m.subscribe(name) if on else m.unsubscribe(name), "SUBSCRIBE")
        finally:
            self._logout(m)

    def append(self, user: str, logical_folder: str, raw: bytes,
               flags: Iterable[str] | str = (), internaldate=None) -> int | None:
        """APPEND one message; returns its UID (APPENDUID).  Raises AppendError on NO/BAD.

        internaldate: "01-Feb-2023 10:20:30 +0100", a UTC epoch, or an aware datetime.
        """
        m = self.connect(user)
        try:
            return _append_one(m, self.server_name(logical_folder), raw, flags, internaldate)
        finally:
            self._logout(m)

    def append_many(self, user: str, logical_folder: str,
                    messages: Iterable[bytes | tuple], batch: int = 200,
                    batch_bytes: int = 8 << 20) -> list[int]:
        """APPEND many messages over one connection (MULTIAPPEND + LITERAL+ batches).

        messages: raw bytes or (raw, flags, internaldate) tuples (flags/date may be
        empty/None).  Returns the UIDs in order.  A batch fails as a whole
        (AppendError); messages of earlier batches stay.
        """
        server = self.server_name(logical_folder)
        mailbox = _imap_quote(server).encode()
        m = self.connect(user)
        uids: list[int] = []
        try:
            multi = "MULTIAPPEND" in m.capabilities and "LITERAL+" in m.capabilities
            chunk: list[bytes] = []
            size = 0
            for item in messages:
                if isinstance(item, bytes | bytearray):
                    raw, flags, date = item, (), None
                else:
                    item = tuple(item)
                    raw = item[0]
                    flags = item[1] if len(item) > 1 else ()
                    date = item[2] if len(item) > 2 else None
                if not multi:
                    uids.append(_append_one(m, server, raw, flags, date))
                    continue
                part = b""
                if flags:
                    part += _flag_list(flags).encode() + b" "
                if date is not None:
                    part += b'"' + _idate(date).encode() + b'" '
                part += b"{%d+}\r\n" % len(raw) + bytes(raw)
                chunk.append(part)
                size += len(raw)
                if len(chunk) >= batch or size >= batch_bytes:
                    uids += self._multiappend(m, mailbox, chunk)
                    chunk, size = [], 0
            if chunk:
                uids += self._multiappend(m, mailbox, chunk)
        finally:
            self._logout(m)
        return uids

    @staticmethod
    def _multiappend(m: imaplib.IMAP4, mailbox: bytes, parts: list[bytes]) -> list[int]:
        tag = m._new_tag()
        m.send(tag + b" APPEND " + mailbox + b" " + b" ".join(parts) + b"\r\n")
        while True:
            line = m.readline()
            if not line:
                raise RigError("connection closed during APPEND")
            if line.startswith(tag + b" "):
                break
        status = line[len(tag) + 1:].split(b" ", 1)
        text = status[1].decode("utf-8", "replace").strip() if len(status) > 1 else ""
        if status[0] != b"OK":
            raise AppendError(status[0].decode(), text)
        mm = re.search(r"APPENDUID \d+ ([\d:,]+)", text)
        if not mm:
            return []
        out: list[int] = []
        for rng in mm.group(1).split(","):
            a, _, b = rng.partition(":")
            out += list(range(int(a), int(b or a) + 1))
        return out

    def _list(self, m: imaplib.IMAP4) -> dict[str, list[str]]:
        """{logical name: LIST flags} for every mailbox LIST "" "*" shows.

        \\Marked/\\UnMarked are left out: maildir derives them from new/ vs cur/
        directory times, so they change without any IMAP-visible change."""
        out = {}
        for flags, _sep, name in _parse_list(_check(m.list('""', '"*"'), "LIST")):
            logical = self.logical_name(name)
            if logical == "INBOX" and name.upper() != "INBOX" and "INBOX" in out:
                continue  # "INBOX.INBOX" (prefix + a folder called INBOX): keep the real one
            out[logical] = [f for f in flags if f.lower() not in ("\\marked", "\\unmarked")]
        return out

    def _subscriptions(self, m: imaplib.IMAP4) -> set[str]:
        return {self.logical_name(name)
                for _f, _s, name in _parse_list(_check(m.lsub('""', '"*"'), "LSUB"))}

    def folders(self, user: str) -> dict[str, dict]:
        """{logical name: {"flags": [LIST flags], "subscribed": bool}} (LIST "" "*")."""
        m = self.connect(user)
        try:
            listed = self._list(m)
            subs = self._subscriptions(m)
        finally:
            self._logout(m)
        return {name: {"flags": sorted(flags), "subscribed": name in subs}
                for name, flags in sorted(listed.items())}

    def _examine(self, m: imaplib.IMAP4, logical_folder: str) -> int:
        typ, data = m.select(_imap_quote(self.server_name(logical_folder)), readonly=True)
        if typ != "OK":
            raise RigError(f"EXAMINE {logical_folder}: {typ} {_text(data)}")
        return int(data[0] or 0)

    def _fetch_all(self, m: imaplib.IMAP4, exists: int, body: bool) -> dict[int, dict]:
        if not exists:
            return {}
        items = "(UID FLAGS INTERNALDATE RFC822.SIZE" + (" BODY.PEEK[])" if body else ")")
        return _parse_fetch(_check(m.uid("FETCH", "1:*", items), "FETCH"))

    def messages(self, user: str, logical_folder: str) -> list[dict]:
        """[{"uid", "flags" (sorted, no \\Recent), "internaldate" (UTC epoch), "size",
        "sha256" (of BODY.PEEK[])}] by UID, read with EXAMINE only."""
        m = self.connect(user)
        try:
            exists = self._examine(m, logical_folder)
            recs = self._fetch_all(m, exists, body=True)
        finally:
            self._logout(m)
        return [{"uid": uid, "flags": r.get("flags", []), "internaldate": r.get("internaldate"),
                 "size": r.get("size"), "sha256": hashlib.sha256(r.get("body", b"")).hexdigest()}
                for uid, r in sorted(recs.items())]

    def bodies(self, user: str, logical_folder: str) -> dict[int, bytes]:
        """{uid: BODY.PEEK[] bytes} of a folder (EXAMINE only)."""
        m = self.connect(user)
        try:
            exists = self._examine(m, logical_folder)
            recs = self._fetch_all(m, exists, body=True)
        finally:
            self._logout(m)
        return {uid: r.get("body", b"") for uid, r in sorted(recs.items())}

    def snapshot(self, user: str, hash: bool = False) -> dict:
        """JSON-able state of a user's mailboxes, read without changing anything:
        folders (LIST flags, subscribed), subscriptions, and per selectable folder
        UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ/MESSAGES (STATUS) and per UID
        flags/internaldate/size (+sha256 when hash=True)."""
        m = self.connect(user)
        try:
            listed = self._list(m)
            subs = self._subscriptions(m)
            condstore = "CONDSTORE" in m.capabilities
            folders: dict[str, dict] = {}
            for name, flags in sorted(listed.items()):
                lf = {f.lower() for f in flags}
                entry: dict = {"flags": sorted(flags), "subscribed": name in subs}
                folders[name] = entry
                if "\\noselect" in lf or "\\nonexistent" in lf:
                    continue
                server = _imap_quote(self.server_name(name))
                what = "(MESSAGES UIDVALIDITY UIDNEXT" + (" HIGHESTMODSEQ)" if condstore else ")")
                st = _text(_check(m.status(server, what), f"STATUS {name}"))
                for key in ("MESSAGES", "UIDVALIDITY", "UIDNEXT", "HIGHESTMODSEQ"):
                    mm = re.search(key + r" (\d+)", st)
                    entry[key.lower()] = int(mm.group(1)) if mm else None
                exists = self._examine(m, name)
                recs = self._fetch_all(m, exists, body=hash)
                mails = []
                for uid, r in sorted(recs.items()):
                    rec = {"uid": uid, "flags": r.get("flags", []),
                           "internaldate": r.get("internaldate"), "size": r.get("size")}
                    if hash:
                        rec["sha256"] = hashlib.sha256(r.get("body", b"")).hexdigest()
                    mails.append(rec)
                entry["mails"] = mails
                m.close()
        finally:
            self._logout(m)
        return {"user": user, "subscriptions": sorted(subs), "folders": folders}

    def namespace(self, user: str) -> str:
        """The raw NAMESPACE response text."""
        m = self.connect(user)
        try:
            return _text(_check(m.namespace(), "NAMESPACE"))
        finally:
            self._logout(m)


# --------------------------------------------------------------------------- by hand
def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Run one throwaway Dovecot on 127.0.0.1.")
    ap.add_argument("--separator", default="/", choices=["/", "."])
    ap.add_argument("--prefix", default="")
    ap.add_argument("--special-use", action="store_true", help="Sent/Drafts/Trash/Junk")
    ap.add_argument("--auto-create-special", action="store_true")
    ap.add_argument("--public", action="store_true")
    ap.add_argument("--user", action="append", default=[], metavar="EMAIL:PASSWORD")
    ap.add_argument("--users-file", help="also write user<TAB>password lines here")
    a = ap.parse_args(argv)
    d = Dovecot(separator=a.separator, prefix=a.prefix,
                special_use=DEFAULT_SPECIAL_USE if a.special_use else None,
                auto_create_special=a.auto_create_special, public_namespace=a.public)
    for u in a.user:
        email_, _, pw = u.partition(":")
        d.add_user(email_, pw)
    with d:
        if a.users_file:
            d.users_file(a.users_file)
        print(f"dovecot up in {d.startup_seconds:.3f}s: imap {d.host}:{d.port} (STARTTLS), "
              f"imaps {d.host}:{d.ssl_port}\n  dir {d.root}\n  cert {d.cert_path}\n"
              f"  fingerprint {d.fingerprint}\n  master {d.master_user}/{d.master_password}"
              "\nCtrl-C stops it.", flush=True)
        d._wait_while_running()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
