"""Open a file or folder with the system's own viewer (the Report log, its folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .children import environ_for_programs


def open_path(path: str | os.PathLike) -> None:
    """Hand `path` to the desktop: os.startfile, `open`, or `xdg-open`. Raises OSError."""
    target = Path(path)
    if not target.exists():
        raise OSError(f"{target} does not exist (any more)")
    if sys.platform == "win32":
        os.startfile(str(target))  # noqa: S606  (the documented way on Windows)
        return
    command = ["open", str(target)] if sys.platform == "darwin" else ["xdg-open", str(target)]
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         env=environ_for_programs())
    except FileNotFoundError:
        raise OSError(f"this computer has no program to open it with ({command[0]} is not "
                      "installed)") from None
