"""The script the frozen KIMT starts with (PyInstaller's entry point, see build.spec).

freeze_support() comes first: the engine's worker processes are this same
executable started by multiprocessing's spawn method, and each must turn into
a worker here, before any option is parsed or any window is drawn. The
package's own `python -m kimt` does the same in kimt/__main__.py; this file
lives outside the package so that PyInstaller does not put kimt/ itself on
the import path, where a module of KIMT's could shadow a standard one.
Started under the name `4d2kms` (the macOS bundle's second executable), it is
that command (kimt/cli_4d.py).
"""

import multiprocessing
import os
import sys


def started_as_4d2kms() -> bool:
    """The macOS bundle has this program under a second name too: Kerio's `4d2kms`."""
    names = [sys.argv[0]] + ([sys.executable] if getattr(sys, "frozen", False) else [])
    return any(os.path.basename(n).lower().split(".")[0] == "4d2kms" for n in names if n)


if __name__ == "__main__":
    multiprocessing.freeze_support()
    if started_as_4d2kms():
        from kimt.cli_4d import main
    else:
        from kimt.cli import main

    raise SystemExit(main())
