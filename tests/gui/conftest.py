"""Fixtures for the GUI tests: an X server, a private home, a wizard window, screenshots.

The tests use the DISPLAY they are given (scripts/test runs them under
xvfb-run); without one they start their own Xvfb on a free display number
for the session. Each test gets a fresh HOME and XDG folders, so settings,
the lock file and the KimtLogs folder live in its tmp_path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

SCREEN = "1280x900x24"


def _free_display() -> int:
    for n in range(90, 200):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture(scope="session")
def x_display():
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not shutil.which("Xvfb"):
        pytest.fail("the GUI tests need Xvfb (apt-get install xvfb)")
    n = _free_display()
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


@pytest.fixture
def home(tmp_path, monkeypatch, x_display) -> Path:
    """A private home: settings, lock and logs of this test only."""
    home = tmp_path / "home"
    for sub in ("config", "runtime", "data", "cache"):
        (home / sub).mkdir(parents=True)
    (home / "runtime").chmod(0o700)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home / "runtime"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    return home


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Path:
    """Where the page screenshots go: $KIMT_SCREENSHOTS, or a tmp folder (printed)."""
    chosen = os.environ.get("KIMT_SCREENSHOTS")
    folder = Path(chosen).resolve() if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture
def wizard(home):
    from kimt.gui.app import make_window

    w = make_window()
    w.root.update()
    yield w
    if w.run is not None:
        w.run.stop_now()
        w.run.join(20)
    try:
        if w.root.winfo_exists():
            w.tasks.close()
            w.root.destroy()
    except Exception:
        pass
