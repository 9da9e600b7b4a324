"""Locks shared by every KIMT process on this computer (CLI runs, the GUI, their workers).

One KIMT window at a time: `SingleInstance` holds a lock file named
`LOCK_NAME`, and on Windows a named mutex of the same name, which the
installer's `AppMutex` looks for to ask the user to close KIMT first. The
holder listens on a local endpoint beside the lock (`endpoint.py`), so a
later start can ask it to bring its window to the front instead of opening
a second one.

Two runs copying into the same destination mailbox at once would both see
the same messages missing and both append them: duplicates. So a worker
holds `mailbox_lock(destination address, email)` while it writes to a
mailbox, and a second run that finds it held leaves that mailbox alone.
The locks are OS file locks (filelock): the OS releases them when their
process ends, even by SIGKILL, so a crashed run never blocks the next one.
They live in the per-user runtime folder.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

from .endpoint import RaiseEndpoint, ask_to_raise

log = logging.getLogger("kimt.system.locks")

LOCK_NAME = "KIMT-Mail-Migration-SingleInstance"  # also the installer's AppMutex
APP_NAME = "KIMT"


def runtime_dir() -> Path:
    """A folder for KIMT's lock files, private to this user; created on first use."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        preferred = Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))
    uid = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    for path in (preferred, Path(tempfile.gettempdir()) / f"kimt-{uid}"):
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            return path
        except OSError:
            continue
    raise OSError(f"no folder for lock files: neither {preferred} nor "
                  f"{tempfile.gettempdir()} can be written")


def mailbox_lock_path(address: str, email: str) -> Path:
    """The lock file of one destination mailbox (`address` is 'host:port')."""
    key = f"{address.lower()}/{email.lower()}".encode()
    return runtime_dir() / f"mailbox-{hashlib.sha256(key).hexdigest()[:32]}.lock"


def mailbox_lock(address: str, email: str) -> FileLock:
    """Not yet acquired: `lock.acquire(timeout=0)` raises `filelock.Timeout` when held."""
    return FileLock(mailbox_lock_path(address, email))


class SingleInstance:
    """`acquire()` is False when another KIMT holds the lock; release on exit.

    The holder calls `listen(on_raise)`; a later start, refused the lock,
    calls `ask_to_raise()`.
    """

    def __init__(self, folder: Path | None = None, tcp: bool | None = None):
        self.folder = folder or runtime_dir()
        self.path = self.folder / f"{LOCK_NAME}.lock"
        self.tcp = tcp  # None: the system's kind of endpoint (a Unix socket; TCP on Windows)
        self._lock = FileLock(str(self.path), timeout=0)
        self._mutex = None
        self._endpoint: RaiseEndpoint | None = None

    def acquire(self) -> bool:
        try:
            self._lock.acquire()
        except Timeout:
            return False
        if sys.platform == "win32":
            self._mutex = _windows_mutex()
        return True

    def listen(self, on_raise: Callable[[], None]) -> bool:
        """Holding the lock: call `on_raise()` (from another thread) when a later start asks.

        False when no endpoint could be opened: later starts then show their message.
        """
        endpoint = RaiseEndpoint(self.folder, on_raise, self.tcp)
        try:
            endpoint.open()
        except OSError as e:
            log.warning("a second start can't bring this window to the front: %s", e)
            return False
        self._endpoint = endpoint
        return True

    def ask_to_raise(self) -> bool:
        """Refused the lock: ask its holder to bring its window to the front; True if it did."""
        return ask_to_raise(self.folder, self.tcp)

    def release(self) -> None:
        if self._endpoint is not None:
            self._endpoint.close()
            self._endpoint = None
        if self._lock.is_locked:
            self._lock.release()
        if self._mutex is not None:
            import ctypes
            ctypes.windll.kernel32.CloseHandle(self._mutex)
            self._mutex = None


def _windows_mutex() -> int | None:
    import ctypes
    handle = ctypes.windll.kernel32.CreateMutexW(None, False, LOCK_NAME)
    return handle or None
