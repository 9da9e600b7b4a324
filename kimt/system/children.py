"""The environment for programs KIMT starts that are not part of it.

A frozen KIMT on Linux (PyInstaller onedir) runs with LD_LIBRARY_PATH set to
its bundled libraries, and a child process would inherit that: a system
program (the editor xdg-open starts for the Report log, the admin's OAuth
token tool) would load KIMT's copies of libssl, libstdc++ or libX11 instead
of its own, and may fail. PyInstaller keeps the user's own value in
LD_LIBRARY_PATH_ORIG: children get that back, or no LD_LIBRARY_PATH at all.
Its `_PYI_*` bookkeeping is dropped, and PYINSTALLER_RESET_ENVIRONMENT tells
a child that is itself a PyInstaller program to start afresh. Outside a
frozen app the environment is passed on as it is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def environ_for_programs(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of os.environ (plus `extra`) fit for starting another program."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False):
        for name in [n for n in env if n.startswith("_PYI_")]:
            del env[name]
        env["PYINSTALLER_RESET_ENVIRONMENT"] = "1"
        if sys.platform.startswith("linux"):
            original = env.pop("LD_LIBRARY_PATH_ORIG", None)
            if original is None:
                env.pop("LD_LIBRARY_PATH", None)
            else:
                env["LD_LIBRARY_PATH"] = original
    if extra:
        env.update(extra)
    return env
