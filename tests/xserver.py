"""One X server for every test that opens a window: the GUI tests and the frozen wizard.

`x_display` is a session fixture: the DISPLAY the tests were given
(scripts/test runs them under xvfb-run), else an Xvfb started for the
session on a free display number, exported as DISPLAY until the session
ends. A conftest or a test module imports it to use it; when both do, the
first one started serves the other (it finds DISPLAY set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCREEN = "1280x900x24"


def free_display() -> int:
    for n in range(90, 220):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture(scope="session")
def x_display():
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        pytest.fail("tests that open a window need Xvfb (apt-get install xvfb)")
    n = free_display()
    proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", SCREEN, "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{n}")
    deadline = time.monotonic() + 10
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    try:
        yield f":{n}"
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
