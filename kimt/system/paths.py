"""Where KIMT puts its logs on each system (the folders admins know from Kerio's tools)."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path


def default_log_base() -> Path:
    """`%TEMP%\\KimtLogs`, `~/Library/Logs/KimtLogs` or `~/KimtLogs`."""
    if sys.platform == "win32":
        return Path(tempfile.gettempdir()) / "KimtLogs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs" / "KimtLogs"
    return Path.home() / "KimtLogs"


def new_run_dir(base: str | os.PathLike | None = None) -> Path:
    """A fresh `MMDDYYYY_HHMMSS` folder under `base` (owner-only on POSIX)."""
    root = Path(base) if base else default_log_base()
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%m%d%Y_%H%M%S")
    for n in range(100):
        path = root / (stamp if n == 0 else f"{stamp}_{n}")
        try:
            path.mkdir(mode=0o700)
            return path
        except FileExistsError:
            continue
    raise OSError(f"could not create a new log folder in {root}")
