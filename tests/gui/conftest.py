"""Fixtures for the GUI tests: an X server, a private home, a wizard window, screenshots.

The X server is `xserver.x_display`, shared with the frozen wizard test. Each
test gets a fresh HOME and XDG folders, so settings, the lock file and the
KimtLogs folder live in its tmp_path. An exception in any Tk callback (a
button, an `after()`, a task's answer) fails the test: Tk would only print
it and carry on.
"""

from __future__ import annotations

import os
import tkinter as tk
import traceback
from pathlib import Path

import pytest
from drive import close_window
from xserver import x_display  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def tk_callback_errors(monkeypatch) -> list[BaseException]:
    """The exceptions Tk callbacks raised in this test; any still here at its end fail it.

    A test that provokes one on purpose takes it out of the list.
    """
    errors: list[BaseException] = []
    monkeypatch.setattr(tk.Tk, "report_callback_exception",
                        lambda self, kind, error, tb: errors.append(error))
    yield errors
    if errors:
        details = "".join("".join(traceback.format_exception(e)) for e in errors)
        pytest.fail(f"{len(errors)} exception(s) in Tk callbacks:\n{details}", pytrace=False)


@pytest.fixture
def home(tmp_path, monkeypatch, x_display) -> Path:  # noqa: F811
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
def wizard(home, tk_callback_errors):
    from kimt.gui.app import make_window

    w = make_window()
    w.root.update()
    yield w
    close_window(w)

