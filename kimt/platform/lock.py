"""One KIMT window at a time: a lock file, plus a named mutex on Windows.

The lock is an OS file lock (filelock: fcntl/flock on POSIX, msvcrt on
Windows) on a file in the user's runtime folder, so it is released by the
OS when the process ends in any way: a crashed or killed KIMT never blocks
the next start, and no stale-PID guessing is needed. On Windows a named
mutex with the same name is held too: the installer's `AppMutex` looks for
exactly `LOCK_NAME` to ask the user to close KIMT before updating it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

LOCK_NAME = "KIMT-Mail-Migration-SingleInstance"  # also the installer's AppMutex
APP_NAME = "KIMT"


def lock_dir() -> Path:
    """The user's runtime folder when it can be made, else the config folder."""
    for where in (platformdirs.user_runtime_dir, platformdirs.user_config_dir):
        with warnings.catch_warnings():  # "XDG_RUNTIME_DIR is not set": the fallback is fine
            warnings.simplefilter("ignore")
            path = Path(where(APP_NAME, appauthor=False))
        try:
            path.mkdir(parents=True, exist_ok=True)
            return path
        except OSError:
            continue
    raise OSError("no writable folder for KIMT's lock file")


class SingleInstance:
    """`acquire()` is False when another KIMT holds the lock; release on exit."""

    def __init__(self, folder: Path | None = None):
        self.path = (folder or lock_dir()) / f"{LOCK_NAME}.lock"
        self._lock = FileLock(str(self.path), timeout=0)
        self._mutex = None

    def acquire(self) -> bool:
        try:
            self._lock.acquire()
        except Timeout:
            return False
        if sys.platform == "win32":
            self._mutex = _windows_mutex()
        return True

    def release(self) -> None:
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
