"""What the throwaway IMAP servers of tests/dovecot.py and tests/cyrus.py share.

A plain module (stdlib only, no pytest; it imports on Windows too, where the
unit tests import tests/dovecot.py without running a server).

Design.  ``RigServer`` is the base class of ``Dovecot`` and ``Cyrus``: one
server instance living in a temporary directory of its own (``root``) and run
as a child process, ``_proc``, in a session (process group) of its own with its
output in ``stderr.log``.  The base holds the lifecycle every rig runs the same
way - spawning (with the parent-death signal), the log tails a failed start
quotes, stop (SIGTERM, then SIGKILL to whatever is left of the process group),
restart, cleanup, the context manager and the registry that stops forgotten
servers at exit - and the imaplib login/logout of the seeding helpers.  What
differs per server - configuration, waiting for the greeting, which processes
stop() need not wait for, extra ways to log in - stays in the subclass.
"""

from __future__ import annotations

import atexit
import imaplib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Self

__all__ = ["RigServer", "pdeathsig_fn", "process_group"]

_live: weakref.WeakSet[RigServer] = weakref.WeakSet()  # started and not stopped


@atexit.register
def _stop_all() -> None:  # a script that forgot stop() must not leave servers behind
    for server in list(_live):
        try:
            server.stop()
        except Exception:
            pass


def pdeathsig_fn():
    """A preexec_fn asking Linux to SIGTERM the child when its parent thread dies
    (prctl PR_SET_PDEATHSIG), so a killed test run leaves no server behind."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before fork
    except (OSError, AttributeError):
        return None

    def preexec() -> None:
        prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG

    return preexec


def process_group(pgid: int) -> list[tuple[int, str, str]]:
    """[(pid, comm, state)] of the processes in process group ``pgid``, zombies
    included (Linux /proc; [] without it)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    out = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        comm_end = stat.rfind(")")
        fields = stat[comm_end + 2:].split()
        if len(fields) > 2 and fields[2] == str(pgid):
            out.append((int(entry), stat[stat.find("(") + 1:comm_end], fields[0]))
    return out


class RigServer:
    """One throwaway server instance on 127.0.0.1 (see the module docstring).

    A subclass provides start() (write the configuration, _spawn(), wait for the
    greeting, _register()), names its files (``_conf_file``, ``_log_file``), the
    prefix of its temporary directory (``_root_prefix``) and the environment
    variable that keeps that directory after cleanup() (``keep_dirs_env``), and
    says in ``_only_disposable_left()`` when stop() need not wait any longer.
    """

    host = "127.0.0.1"
    keep_dirs_env = ""  # e.g. "KIMT_KEEP_DOVECOT": set and not 0, cleanup() keeps root
    _root_prefix = "kr"
    _conf_file = ""  # the server's configuration file in root
    _log_file = ""  # the server's own log file in root

    def __init__(self, *, extra_config: str, port: int | None, start_timeout: float,
                 die_with_parent: bool):
        self.extra_config = extra_config
        self.start_timeout = start_timeout
        self.die_with_parent = die_with_parent
        self.port = port or 0
        self._users: dict[str, str] = {}
        self._users_lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self.root: Path | None = None
        self.startup_seconds: float | None = None  # wall time of the last start()
        self._started_once = False

    # ------------------------------------------------------------------ paths
    def _p(self, *parts: str) -> Path:
        assert self.root is not None, "instance not prepared (call start())"
        return self.root.joinpath(*parts)

    def _make_root(self) -> Path:
        """Create the instance directory: a new one in /tmp (or in $KIMT_RIG_DIR: the
        benchmark can put its servers in memory, /dev/shm), mode 755."""
        parent = os.environ.get("KIMT_RIG_DIR") or "/tmp"
        self.root = Path(tempfile.mkdtemp(prefix=self._root_prefix, dir=parent))
        os.chmod(self.root, 0o755)
        return self.root

    @property
    def conf_path(self) -> Path:
        return self._p(self._conf_file)

    @property
    def log_path(self) -> Path:
        return self._p(self._log_file)

    @property
    def pid(self) -> int | None:
        """The master process's pid while started (its children are the server's
        workers: the benchmark counts their CPU time through it)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def users(self) -> dict[str, str]:
        """{email: password} of the users added so far."""
        return dict(self._users)

    # ------------------------------------------------------------------ logs
    def _log_files(self) -> tuple[Path, Path]:
        return self.log_path, self._p("stderr.log")

    def _log_texts(self) -> list[str]:
        """The text of each of _log_files() there is."""
        out = []
        for p in self._log_files():
            try:
                out.append(p.read_text(errors="replace"))
            except FileNotFoundError:
                pass
        return out

    def _log_sizes(self) -> list[int]:
        return [p.stat().st_size if p.exists() else 0 for p in self._log_files()]

    def _log_since(self, mark: list[int]) -> str:
        """What the logs got since _log_sizes() gave ``mark`` (the last 6000 characters)."""
        out = []
        for p, off in zip(self._log_files(), mark, strict=True):
            try:
                with open(p, "rb") as f:
                    f.seek(off)
                    out.append(f.read().decode("utf-8", "replace"))
            except FileNotFoundError:
                pass
        return "".join(out)[-6000:]

    # ------------------------------------------------------------------ lifecycle
    def _spawn(self, argv: list[str], **popen_kwargs) -> None:
        """Run the server's master process as ``_proc``: a new session (so stop()
        can signal its whole process group), stdout and stderr appended to
        stderr.log, and with die_with_parent the parent-death signal - only when
        started from the main thread, since PDEATHSIG fires when the starting
        *thread* ends."""
        stderr = open(self._p("stderr.log"), "ab")  # handed to the child
        try:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                start_new_session=True, close_fds=True,
                preexec_fn=pdeathsig_fn() if self.die_with_parent and (
                    threading.current_thread() is threading.main_thread()) else None,
                **popen_kwargs,
            )
        finally:
            stderr.close()

    def _register(self) -> None:
        """The server is up: stop it at exit unless stopped before."""
        _live.add(self)
        self._started_once = True

    def _wait_ports_free(self, *ports: int, timeout: float = 5.0) -> None:
        """Before a restart: wait (up to ``timeout`` in all) until ``ports`` can be
        bound again - our previous processes may still hold them."""
        deadline = time.monotonic() + timeout
        for port in ports:
            while True:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        s.bind((self.host, port))
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            break
                time.sleep(0.02)

    def _reap(self) -> None:
        """SIGKILL whatever is left of the server's process group."""
        if self._proc is None:
            return
        for _ in range(200):
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                return
            if self._proc.poll() is not None and not [
                    g for g in process_group(self._proc.pid) if g[2] != "Z"]:
                return
            time.sleep(0.01)

    def _only_disposable_left(self, others: list[tuple[int, str, str]]) -> bool:
        """Whether stop() may SIGKILL the process group now, ``others`` being the
        [(pid, comm, state)] of the group but the master process."""
        return False

    def stop(self) -> None:
        """Stop the server; data and ports are kept for restart().

        SIGTERM to the master process; once the rest of its process group is
        disposable (_only_disposable_left()) or after 10 s, whatever is left of
        the group gets SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
                others = [g for g in process_group(proc.pid) if g[0] != proc.pid]
                if self._only_disposable_left(others):
                    time.sleep(0.02)  # let a log process write what it has
                    break
        self._reap()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self._proc = None
        _live.discard(self)

    def start(self) -> Self:
        """Start the server (first call: create the instance); returns self."""
        raise NotImplementedError

    def restart(self) -> Self:
        """stop() + start(): same port(s), same data."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """stop() and delete the instance directory (unless the variable
        ``keep_dirs_env`` of the environment is set and not 0)."""
        self.stop()
        if self.root is not None and os.environ.get(self.keep_dirs_env, "") in ("", "0"):
            for _ in range(20):
                shutil.rmtree(self.root, ignore_errors=True)
                if not self.root.exists():
                    break
                time.sleep(0.05)
            self.root = None

    def close(self) -> None:
        """The same as cleanup()."""
        self.cleanup()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc) -> None:
        self.cleanup()

    def _wait_while_running(self) -> None:
        """Block until the server exits or Ctrl-C (a rig run by hand)."""
        try:
            while self.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass

    # ------------------------------------------------------------------ IMAP (imaplib only)
    def _log_in(self, m: imaplib.IMAP4, user: str | None, *, auth: str,
                password: str | None, proxy: tuple[str, str],
                logins: dict[str, tuple[str, str]]) -> imaplib.IMAP4:
        """Log the fresh connection ``m`` in and return it (shut down on failure).

        auth: "authzid" (SASL PLAIN authzid=user with the (name, password) of
              ``proxy``, a user who may log in for any other),
              "user" (LOGIN user password - AUTHENTICATE PLAIN when not ASCII;
                      the password defaults to the stored one),
              a key of ``logins`` (LOGIN with its (name, password)).
        m.capabilities are read again once logged in."""
        try:
            # imaplib writes a literal and its CRLF separately: without this, Nagle +
            # delayed ACK cost ~40 ms per AUTHENTICATE/APPEND.
            m.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if auth == "authzid":
                cred = f"{user}\0{proxy[0]}\0{proxy[1]}".encode()
                m.authenticate("PLAIN", lambda _challenge: cred)
            elif auth == "user":
                assert user is not None
                pw = password if password is not None else self._users[user.lower()]
                if (user + pw).isascii():
                    m.login(user, pw)
                else:  # imaplib's LOGIN only sends ASCII
                    cred = f"\0{user}\0{pw}".encode()
                    m.authenticate("PLAIN", lambda _challenge: cred)
            elif auth in logins:
                m.login(*logins[auth])
            else:
                raise ValueError(f"auth={auth!r}")
            typ, dat = m.capability()  # imaplib keeps the pre-login list otherwise
            if typ == "OK" and dat and dat[-1]:
                m.capabilities = tuple(dat[-1].decode().upper().split())
        except BaseException:
            try:
                m.shutdown()
            except OSError:
                pass
            raise
        return m

    @staticmethod
    def _logout(m: imaplib.IMAP4) -> None:
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
