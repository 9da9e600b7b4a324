"""How KIMT starts its worker processes on each system.

Workers must never inherit a live Tk or half-used sockets, so they are not
plain forks of the main process. On Linux they come from a fork server: one
process that imported the worker module once, forked for each worker in
milliseconds (a re-run with nothing to copy is mostly start-up). Elsewhere,
and in a frozen app, they are spawned: each starts a fresh interpreter, the
method proven on Windows, macOS and with PyInstaller. `start_early` starts the
fork server in the background before the main process has imported KIMT, so
the two import at the same time - unless a password is in the environment
(KIMT_TARGET_PASS...): the fork server and so every worker would inherit it,
so it starts later, when the CLI has taken the password out.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Sequence
from multiprocessing.context import BaseContext

WORKER_MODULE = "kimt.core.worker"  # the workers' entry point, all they import
WORKER_COMMANDS = ("migrate", "verify", "4d2kms")


def worker_context() -> BaseContext:
    if sys.platform.startswith("linux") and not getattr(sys, "frozen", False):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([WORKER_MODULE])
        return ctx
    return multiprocessing.get_context("spawn")


def start_early(argv: Sequence[str]) -> None:
    """For a command that starts workers, start the fork server now (in the background)."""
    if not argv or argv[0] not in WORKER_COMMANDS:
        return
    if any(k.startswith("KIMT_") and k.endswith("_PASS") for k in os.environ):
        return  # a password in the environment: the server starts once the CLI took it out
    if worker_context().get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    threading.Thread(target=forkserver.ensure_running, name="fork-server",
                     daemon=True).start()
