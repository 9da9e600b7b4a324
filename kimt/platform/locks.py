"""Locks shared by every KIMT process on this computer (CLI runs, the GUI, their workers).

Two runs copying into the same destination mailbox at once would both see
the same messages missing and both append them: duplicates. So a worker
holds `mailbox_lock(destination address, email)` while it writes to a
mailbox, and a second run that finds it held leaves that mailbox alone.
The locks are OS file locks (filelock): the OS releases them when their
process ends, even by SIGKILL, so a crashed run never blocks the next one.
They live in the per-user runtime folder, where the GUI keeps its own.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import platformdirs
from filelock import FileLock


def runtime_dir() -> Path:
    """A folder for KIMT's lock files, private to this user; created on first use."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        preferred = Path(platformdirs.user_runtime_dir("kimt", appauthor=False))
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
