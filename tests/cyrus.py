"""Throwaway Cyrus IMAP 3.6 servers for KIMT's integration tests.

A plain module (stdlib only, no pytest) in the style of tests/dovecot.py, whose
IMAP helpers it shares; the process lifecycle (stop, restart, cleanup, context
manager, log tails) and the imaplib login are tests/rig_server.py's
``RigServer``, the base class of both rigs::

    with Cyrus() as c:
        c.add_user("jdoe@example.com", "secret")
        c.create_folder("jdoe@example.com", "Účty/Faktury 2023")
        c.append("jdoe@example.com", "Účty/Faktury 2023", make_message("hi"))
        print(c.messages("jdoe@example.com", "Účty/Faktury 2023"))

Design.  Debian's cyrus-imapd conflicts with dovecot-imapd, so scripts/setup
unpacks the cyrus-common and cyrus-imapd .debs into .rig/cyrus (dpkg -x) and
installs only their libraries and sasl2-bin.  Each instance has a temporary
directory holding its own imapd.conf (Debian's, with every path moved inside)
and cyrus.conf (absolute binary paths, ``-C`` on every command: the binaries
otherwise read /etc/imapd.conf), and runs ``master`` as a child process with
LD_LIBRARY_PATH pointing at the private libcyrus*.so, listening on a free port
of 127.0.0.1; it is ready once that port greets.  Cyrus refuses to run as
root: as root the instance runs as the system user "cyrus" (scripts/setup
creates it) - switched to before exec, so PR_SET_PDEATHSIG still stops the
server when the test process dies.  Passwords are real: a private sasldb
(saslpasswd2); the admin user is in ``admins`` and ``proxyservers``, and the
helpers log in as admin with SASL PLAIN authzid=user, so they are an oracle
independent of KIMT.  Users are e-mail addresses (``virtdomains: userid``),
the separator is "/" (``unixhierarchysep``); like Debian ``altnamespace`` is
off, so personal folders are "INBOX/..." - the helpers take *logical* names
without that prefix.  Debian's ``munge8bit`` stays on: raw 8-bit bytes in
headers are stored as "X" on APPEND.

Cyrus logs to syslog only (lost when the machine has no /dev/log);
``log_text()`` gives master's own output and the per-user protocol telemetry
(``configdirectory/log/<user>``).  ``python3 tests/cyrus.py --help`` runs an
instance by hand.
"""

from __future__ import annotations

import functools
import imaplib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from dovecot import (  # shared with the Dovecot rig (one registry of ports given out)
    AppendError,
    RigError,
    _append_one,
    _check,
    _imap_quote,
    _logical_name,
    _parse_fetch,
    _parse_list,
    _text,
    free_port,
    mutf7_encode,
)
from rig_server import RigServer

__all__ = ["Cyrus", "RIG_DIR", "AppendError", "RigError", "cyrus_available"]

RIG_DIR = Path(os.environ.get("KIMT_CYRUS_DIR")
               or Path(__file__).resolve().parent.parent / ".rig" / "cyrus")
CYRUS_SYSTEM_USER = "cyrus"  # the user Cyrus runs as when the tests run as root

_PORT_TAKEN = "port taken by another server:"
_USER_RE = re.compile(r"[a-z0-9][a-z0-9._\-+]*@[a-z0-9][a-z0-9.\-]*")

# Debian 12's /etc/imapd.conf without its paths (those point into the instance)
# and without the news/POP3 bits; the rig changes unixhierarchysep (Debian: no).
_DEBIAN_DEFAULTS = {
    "altnamespace": "no",
    "lmtp_downcase_rcpt": "yes",
    "allowanonymouslogin": "no",
    "autocreate_quota": "0",  # a user's INBOX is created at its first login
    "umask": "077",
    "sieveusehomedir": "false",
    "hashimapspool": "true",
    "allowplaintext": "yes",
    "sasl_pwcheck_method": "auxprop",
    "sasl_auto_transition": "no",
    "syslog_prefix": "cyrus",
}


# --------------------------------------------------------------------------- installation
def _bin(name: str) -> Path:
    return RIG_DIR / "usr" / "lib" / "cyrus" / "bin" / name


def _libdir() -> Path | None:
    hits = sorted(RIG_DIR.glob("usr/lib/*/libcyrus_min.so.0"))
    return hits[0].parent if hits else None


def _saslpasswd2() -> str | None:
    for cand in (shutil.which("saslpasswd2"), "/usr/sbin/saslpasswd2"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def _env() -> dict[str, str]:
    env = dict(os.environ)
    libdir = str(_libdir())
    env["LD_LIBRARY_PATH"] = libdir + (":" + env["LD_LIBRARY_PATH"]
                                       if env.get("LD_LIBRARY_PATH") else "")
    env.pop("CYRUS_USER", None)  # would override cyrus_user of imapd.conf
    return env


@functools.lru_cache(maxsize=1)
def cyrus_available() -> str | None:
    """None when Cyrus instances can run here, else the reason why not."""
    if not sys.platform.startswith("linux"):
        return "the Cyrus rig needs Linux"
    if not os.access(_bin("master"), os.X_OK) or not os.access(_bin("imapd"), os.X_OK):
        return f"Cyrus IMAP is not unpacked in {RIG_DIR} (run scripts/setup)"
    if any(c.isspace() for c in str(RIG_DIR)):
        return f"{RIG_DIR}: Cyrus cannot run from a path with spaces (cyrus.conf cmd=)"
    if _libdir() is None:
        return f"libcyrus_min.so.0 not found under {RIG_DIR}/usr/lib (run scripts/setup)"
    if _saslpasswd2() is None:
        return "saslpasswd2 not found (apt-get install sasl2-bin)"
    if not list(Path("/usr/lib").glob("*/sasl2/libsasldb.so*")) + list(
            Path("/usr/lib").glob("sasl2/libsasldb.so*")):
        return "the SASL sasldb plugin is missing (apt-get install libsasl2-modules-db)"
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam(CYRUS_SYSTEM_USER)
        except KeyError:
            return (f"no system user {CYRUS_SYSTEM_USER!r}: Cyrus does not run as root "
                    "(run scripts/setup)")
    # every library imapd links against is there (exits at once: no configuration)
    try:
        r = subprocess.run([str(_bin("imapd")), "-C", "/nonexistent/imapd.conf"],
                           env=_env(), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run {_bin('imapd')}: {e}"
    err = r.stderr.decode("utf-8", "replace")
    if "error while loading shared libraries" in err:
        return f"Cyrus libraries missing (run scripts/setup): {err.strip()}"
    return None


# --------------------------------------------------------------------------- the server
class Cyrus(RigServer):
    """One independent Cyrus IMAP instance on 127.0.0.1 (see module docstring).

    Options (all keyword, all optional):

    altnamespace        False (Debian): personal folders are "INBOX/x"; True: "x"
    admin_user, admin_password   the admin (in admins and proxyservers)
    servername          servername: the greeting's host name and the SASL realm of
                        unqualified users (the admin)
    telemetry           log every user's IMAP session to configdirectory/log/<user>
                        (shown by log_text())
    extra_config        "key: value" lines for imapd.conf (replacing the rig's value
                        of a key), e.g. "autocreate_quota: -1" or "munge8bit: no"
    port                a fixed port instead of a free one
    die_with_parent     when started from the main thread, the server gets SIGTERM
                        if this process dies; default True
    """

    separator = "/"
    keep_dirs_env = "KIMT_KEEP_CYRUS"  # =1: cleanup() keeps the instance directory
    _root_prefix = "kc"
    _conf_file = "imapd.conf"
    _log_file = "master.log"

    def __init__(
        self,
        *,
        altnamespace: bool = False,
        admin_user: str = "admin",
        admin_password: str = "adminpass",
        servername: str = "cyrus.kimt.test",
        telemetry: bool = True,
        extra_config: str = "",
        port: int | None = None,
        start_timeout: float = 15.0,
        die_with_parent: bool = True,
    ):
        if not re.fullmatch(r"[a-z0-9][a-z0-9._\-]*", admin_user):
            raise ValueError(f"bad admin user {admin_user!r}")
        self.altnamespace = altnamespace
        self.prefix = "" if altnamespace else "INBOX/"
        self.admin_user = admin_user
        self.admin_password = admin_password
        self.servername = servername
        self.telemetry = telemetry
        super().__init__(extra_config=extra_config, port=port, start_timeout=start_timeout,
                         die_with_parent=die_with_parent)
        self._fixed_port = port is not None
        self._mailboxes: set[str] = set()  # users whose mailbox exists

    # ------------------------------------------------------------------ paths
    @property
    def master_conf_path(self) -> Path:
        return self._p("cyrus.conf")

    @property
    def sasldb_path(self) -> Path:
        return self._p("sasldb2")

    def __repr__(self) -> str:
        return (f"<Cyrus {self.host}:{self.port} altnamespace={self.altnamespace} "
                f"root={self.root}>")

    def log_text(self) -> str:
        """master's output (-L) and the protocol telemetry of every user, oldest first."""
        if self.root is None:
            return ""
        out = self._log_texts()
        try:
            tele = sorted((p for p in self._p("conf", "log").rglob("*") if p.is_file()),
                          key=lambda p: p.stat().st_mtime)
        except OSError:
            tele = []
        for p in tele:
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            out.append(f"--- telemetry {p.parent.name}/{p.name}\n{text}")
        return "\n".join(s.rstrip("\n") for s in out if s) + "\n"

    # ------------------------------------------------------------------ identity
    def _ids(self) -> tuple[str, int, int] | None:
        """(name, uid, gid) Cyrus runs as when we are root; None: as ourselves."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            pw = pwd.getpwnam(CYRUS_SYSTEM_USER)
        except KeyError:
            raise RigError(f"no system user {CYRUS_SYSTEM_USER!r} (run scripts/setup): "
                           "Cyrus does not run as root") from None
        return pw.pw_name, pw.pw_uid, pw.pw_gid

    def _user_name(self) -> str:
        ids = self._ids()
        if ids:
            return ids[0]
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name

    def _as_cyrus(self) -> dict:
        """Popen keyword arguments that run a command as the Cyrus user."""
        ids = self._ids()
        return {"user": ids[1], "group": ids[2], "extra_groups": []} if ids else {}

    def _chown(self, path: Path) -> None:
        ids = self._ids()
        if ids:
            os.chown(path, ids[1], ids[2])

    # ------------------------------------------------------------------ users
    def add_user(self, email: str, password: str) -> None:
        """Add (or change) a user: its password in the sasldb and, once the server
        runs, its mailbox user/<email> (= its INBOX).  Works before and while the
        server runs."""
        key = email.lower()
        if not _USER_RE.fullmatch(key) or ".." in key:
            raise ValueError(f"bad user name {email!r} (local@domain; letters, digits, .-_+)")
        if any(c in password for c in "\r\n\0") or not password:
            raise ValueError("password must be non-empty without CR, LF or NUL")
        with self._users_lock:
            self._users[key] = password
            if self.root is not None:
                local, domain = key.rsplit("@", 1)
                self._saslpasswd(local, domain, password)
            if self.running:
                self._create_mailbox(key)

    def _saslpasswd(self, name: str, realm: str, password: str) -> None:
        cmd = [_saslpasswd2() or "saslpasswd2", "-p", "-c", "-f", str(self.sasldb_path),
               "-u", realm, name]
        r = subprocess.run(cmd, input=password.encode("utf-8"), capture_output=True,
                           timeout=30, **self._as_cyrus())
        if r.returncode != 0:
            raise RigError(f"saslpasswd2 {name}@{realm} failed: "
                           f"{r.stderr.decode('utf-8', 'replace').strip()}")

    def _create_mailbox(self, user: str) -> None:
        m = self.connect(user, auth="admin")
        try:
            typ, data = m._simple_command("CREATE", _imap_quote(f"user/{user}"))
            if typ != "OK" and "exists" not in _text(data).lower():
                raise RigError(f"CREATE user/{user}: {typ} {_text(data)}")
        finally:
            self._logout(m)
        self._mailboxes.add(user)
        if self.telemetry:
            d = self._p("conf", "log", user)
            d.mkdir(exist_ok=True)
            self._chown(d)

    # ------------------------------------------------------------------ setup
    def _prepare(self) -> None:
        if self.root is not None:
            return
        self._chown(self._make_root())
        for d in ("conf", "conf/db", "conf/proc", "conf/socket", "conf/log", "conf/msg",
                  "conf/user", "conf/quota", "conf/lock", "conf/sync", "spool",
                  "spool/stage.", "sieve"):
            self._p(d).mkdir(mode=0o750)
            self._chown(self._p(d))
        self._saslpasswd(self.admin_user, self.servername, self.admin_password)
        for key, password in self._users.items():
            local, domain = key.rsplit("@", 1)
            self._saslpasswd(local, domain, password)

    def _imapd_conf(self) -> str:
        conf = dict(_DEBIAN_DEFAULTS)
        conf.update({
            "configdirectory": str(self._p("conf")),
            "defaultpartition": "default",
            "partition-default": str(self._p("spool")),
            "sievedir": str(self._p("sieve")),
            "servername": self.servername,
            "cyrus_user": self._user_name(),
            "admins": self.admin_user,
            "proxyservers": self.admin_user,
            "virtdomains": "userid",
            "unixhierarchysep": "yes",
            "altnamespace": "yes" if self.altnamespace else "no",
            "sasl_auxprop_plugin": "sasldb",
            "sasl_sasldb_path": str(self.sasldb_path),
            "sasl_mech_list": "PLAIN LOGIN",
            "failedloginpause": "0",  # Debian: 3 s after each failed login
        })
        for line in self.extra_config.splitlines():  # Cyrus refuses a key given twice
            if line.strip() and not line.lstrip().startswith("#"):
                key, sep, value = line.partition(":")
                if not sep:
                    raise ValueError(f"extra_config: {line!r} is no 'key: value' line")
                conf[key.strip()] = value.strip()
        lines = ["# generated by tests/cyrus.py - one throwaway instance"]
        lines += [f"{k}: {v}" for k, v in conf.items()]
        return "\n".join(lines) + "\n"

    def _cyrus_conf(self) -> str:
        conf = self.conf_path

        def cmd(prog: str, *args: str) -> str:
            return " ".join([str(_bin(prog)), "-C", str(conf), *args])

        return "\n".join([
            "# generated by tests/cyrus.py - one throwaway instance",
            "START {",
            f'  recover cmd="{cmd("ctl_cyrusdb", "-r")}"',
            "}",
            "SERVICES {",
            f'  imap cmd="{cmd("imapd", "-U", "30")}" listen="{self.host}:{self.port}"'
            " prefork=1 maxchild=100",
            "}",
        ]) + "\n"

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o644)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Cyrus:
        """Start the server (first call: create the instance); returns self."""
        if self.running:
            return self
        reason = cyrus_available()
        if reason:
            raise RigError(reason)
        t0 = time.monotonic()
        self._prepare()
        attempts = 1 if (self._fixed_port or self._started_once) else 3
        for attempt in range(attempts):
            if not self.port or attempt:
                self.port = free_port()
            self._write(self.conf_path, self._imapd_conf())
            self._write(self.master_conf_path, self._cyrus_conf())
            err = self._spawn_and_wait()
            if err is None or not err.startswith(_PORT_TAKEN):
                break
        if err is not None:
            syslog = ("Cyrus logs its errors to syslog" if os.path.exists("/dev/log") else
                      "Cyrus logs its errors to syslog, and this machine has no /dev/log")
            raise RigError(f"cyrus did not start ({self.root}):\n{err.rstrip()}\n"
                           f"({syslog}; configuration: {self.conf_path})")
        self._register()
        with self._users_lock:
            for user in self._users:
                if user not in self._mailboxes:
                    self._create_mailbox(user)
        self.startup_seconds = time.monotonic() - t0
        return self

    def _spawn_and_wait(self) -> str | None:
        if self._started_once:
            self._wait_ports_free(self.port)
        mark = self._log_sizes()
        self._spawn(
            [str(_bin("master")), "-C", str(self.conf_path),
             "-M", str(self.master_conf_path), "-p", str(self._p("master.pid")),
             "-L", str(self.log_path)],
            env=_env(), cwd=str(self.root),
            # the switch to the cyrus user happens before preexec_fn, so the
            # parent-death signal survives it (a later setuid would clear it)
            **self._as_cyrus(),
        )
        deadline = time.monotonic() + self.start_timeout
        dropped = 0
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._reap()
                return f"master exit status {self._proc.returncode}\n{self._log_since(mark)}"
            listener = self._listener()
            if listener == "foreign":  # master cannot bind it (it keeps running)
                self.stop()
                return f"{_PORT_TAKEN} {self.port}\n{self._log_since(mark)}"
            state = self._probe() if listener == "ours" else "refused"
            if state == "greeted":
                return None
            if state == "dropped":  # imapd dies at once (its reason went to syslog)
                dropped += 1
                if dropped >= 3:
                    self.stop()
                    return ("imapd closes every connection without a greeting (Cyrus "
                            f"logs the reason to syslog)\n{self._log_since(mark)}")
            time.sleep(0.005)
        self.stop()
        return (f"timeout after {self.start_timeout}s: no listener on port {self.port}"
                f"\n{self._log_since(mark)}")

    def _listener(self) -> str | None:
        """Who listens on our port: "ours" (master), "foreign" or None (nobody yet).

        (master does not exit when it cannot bind; it only logs that to syslog.)"""
        inodes = set()
        port_hex = f":{self.port:04X}"
        try:
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                with open(table) as f:
                    next(f)
                    for line in f:
                        fields = line.split()
                        # any local address with our port, state 0A = LISTEN
                        if fields[1].endswith(port_hex) and fields[3] == "0A":
                            inodes.add(fields[9])
        except (OSError, StopIteration, IndexError):
            return "ours" if self._probe() != "refused" else None  # no /proc: just try
        if not inodes:
            return None
        assert self._proc is not None
        fd_dir = f"/proc/{self._proc.pid}/fd"
        try:
            for fd in os.listdir(fd_dir):
                try:
                    link = os.readlink(f"{fd_dir}/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return "ours"
        except OSError:
            return None  # master just exited: the caller sees that next
        return "foreign"

    def _probe(self) -> str:
        """"greeted", "refused" (nothing listens yet) or "dropped" (closed without
        a greeting)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as s:
                s.settimeout(5)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return "greeted" if data.startswith(b"* OK") else "dropped"
        except ConnectionRefusedError:
            return "refused"
        except OSError:
            return "dropped"

    def _only_disposable_left(self, others: list[tuple[int, str, str]]) -> bool:
        """SIGTERM makes master pass it on to its imapd processes ("graceful
        shutdown") and, once they are gone, idle up to a second before it exits;
        so once only master is left it gets SIGKILL."""
        return all(st == "Z" for _pid, _comm, st in others)

    def cleanup(self) -> None:
        """stop() and delete the instance directory (unless KIMT_KEEP_CYRUS=1)."""
        super().cleanup()
        if self.root is None:
            self._mailboxes.clear()

    # ------------------------------------------------------------------ names
    def server_name(self, logical: str) -> str:
        """Logical "A/B" (unicode, "INBOX" or below it) -> this server's mUTF-7 name."""
        if logical.upper() == "INBOX":
            return "INBOX"
        return mutf7_encode(self.prefix + logical)

    def logical_name(self, server_name: str) -> str:
        """This server's mUTF-7 mailbox name -> logical "A/B" (unicode)."""
        return _logical_name(server_name, self.prefix, self.separator)

    # ------------------------------------------------------------------ IMAP (imaplib only)
    def connect(self, user: str | None = None, *, password: str | None = None,
                auth: str = "authzid", timeout: float = 60.0) -> imaplib.IMAP4:
        """A logged-in imaplib connection.

        auth: "authzid" (SASL PLAIN authzid=user, authcid=admin; default),
              "user" (LOGIN user password - AUTHENTICATE PLAIN when not ASCII;
                      the password defaults to the stored one),
              "admin" (LOGIN as the admin itself; ``user`` is ignored).
        """
        m = imaplib.IMAP4(self.host, self.port, timeout=timeout)
        admin = (self.admin_user, self.admin_password)
        return self._log_in(m, user, auth=auth, password=password, proxy=admin,
                            logins={"admin": admin})

    def capabilities(self, user: str) -> tuple[str, ...]:
        """CAPABILITY after logging in for ``user`` (upper case)."""
        m = self.connect(user)
        try:
            return m.capabilities
        finally:
            self._logout(m)

    def create_folder(self, user: str, logical_name: str, subscribe: bool = True) -> None:
        """CREATE the folder and any missing parents (SUBSCRIBE them too by default).

        Cyrus would make missing parents "intermediate" mailboxes itself; each level
        is created explicitly instead, so that every level is a real folder."""
        parts = logical_name.split("/")
        m = self.connect(user)
        try:
            for i in range(1, len(parts) + 1):
                name = _imap_quote(self.server_name("/".join(parts[:i])))
                typ, data = m._simple_command("CREATE", name)
                if typ != "OK" and "exists" not in _text(data).lower():
                    raise RigError(f"CREATE {name}: {typ} {_text(data)}")
                if subscribe:
                    _check(m.subscribe(name), f"SUBSCRIBE {name}")
        finally:
            self._logout(m)

    def folders(self, user: str) -> list[str]:
        """Logical names of the user's folders (LIST "" "*"), sorted; "INBOX" included."""
        m = self.connect(user)
        try:
            listed = _parse_list(_check(m.list('""', '"*"'), "LIST"))
        finally:
            self._logout(m)
        return sorted({self.logical_name(name) for _flags, _sep, name in listed})

    def append(self, user: str, logical_folder: str, raw: bytes,
               flags: Iterable[str] | str = (), internaldate=None) -> int | None:
        """APPEND one message, its bytes sent exactly as given; returns its UID
        (APPENDUID).  Raises AppendError on NO/BAD.

        internaldate: "01-Feb-2023 10:20:30 +0100", a UTC epoch, or an aware datetime.
        """
        m = self.connect(user)
        try:
            return _append_one(m, self.server_name(logical_folder), raw, flags, internaldate)
        finally:
            self._logout(m)

    def messages(self, user: str, logical_folder: str) -> list[dict]:
        """[{"uid", "flags" (sorted tuple, no \\Recent), "internaldate" (the server's
        string, e.g. " 1-Feb-2023 09:20:30 +0000"), "size" (RFC822.SIZE), "raw"
        (BODY.PEEK[])}] by UID, read with EXAMINE only."""
        m = self.connect(user)
        try:
            name = _imap_quote(self.server_name(logical_folder))
            typ, data = m.select(name, readonly=True)
            if typ != "OK":
                raise RigError(f"EXAMINE {logical_folder}: {typ} {_text(data)}")
            if not int(data[0] or 0):
                return []
            recs = _parse_fetch(_check(m.uid(
                "FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"), "FETCH"),
                idate=lambda text: text.decode("ascii"))  # exactly as sent
        finally:
            self._logout(m)
        return [{"uid": uid, "flags": tuple(r.get("flags", ())),
                 "internaldate": r.get("internaldate"), "size": r.get("size"),
                 "raw": r.get("body", b"")}
                for uid, r in sorted(recs.items())]


# --------------------------------------------------------------------------- by hand
def _main(argv: Sequence[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="Run one throwaway Cyrus IMAP on 127.0.0.1.")
    ap.add_argument("--altnamespace", action="store_true")
    ap.add_argument("--user", action="append", default=[], metavar="EMAIL:PASSWORD")
    a = ap.parse_args(argv)
    reason = cyrus_available()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    c = Cyrus(altnamespace=a.altnamespace)
    for u in a.user:
        email_, _, pw = u.partition(":")
        c.add_user(email_, pw)
    with c:
        print(f"cyrus up in {c.startup_seconds:.3f}s: imap {c.host}:{c.port}\n"
              f"  dir {c.root}\n  admin {c.admin_user}/{c.admin_password}"
              "\nCtrl-C stops it.", flush=True)
        c._wait_while_running()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
