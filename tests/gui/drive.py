"""Driving the wizard as a user would: wait for the window, press, type, take screenshots."""

from __future__ import annotations

import os
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path

from PIL import ImageGrab


def pump(w, until: Callable[[], object], timeout: float = 20, what: str = "") -> None:
    """Run the Tk event loop until `until()` is true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        w.root.update()
        if until():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or until}")


def settle(w, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w.root.update()
        time.sleep(0.02)


def type_into(w, var: tk.StringVar, text: str) -> None:
    var.set(text)
    w.root.update()


def press(w, button) -> None:
    assert str(button.cget("state")) != "disabled", f"{button.cget('text')} is disabled"
    button.invoke()
    w.root.update()


def text_of(widget) -> str:
    return str(widget.cget("text"))


def shot(w, folder: Path, name: str, window: tk.Misc | None = None) -> Path:
    """PNG of the window (X11 capture of the screen area it covers)."""
    settle(w, 0.4)
    win = window or w.root
    x, y = win.winfo_rootx(), win.winfo_rooty()
    width, height = win.winfo_width(), win.winfo_height()
    path = folder / f"{name}.png"
    ImageGrab.grab(bbox=(x, y, x + width, y + height),
                   xdisplay=os.environ["DISPLAY"]).save(path)
    return path


def row(tree, iid: str) -> dict:
    return dict(zip(tree["columns"], tree.item(iid, "values"), strict=True))
