"""Driving the wizard as a user would: wait for the window, press, type, take screenshots."""

from __future__ import annotations

import os
import time
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import ttk

from helpers import ADMIN_PASSWORD
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


def until_result(w, timeout: float = 60, what: str = "the result") -> None:
    """Run the Tk event loop until the run has ended and the Result page shows it."""
    pump(w, lambda: w.page is w.result_page and w.run is None, timeout=timeout, what=what)


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


def try_next(w) -> None:
    """Press Next while it waits: the page's fields show what they lack."""
    assert str(w.next_button.cget("state")) == "disabled", "Next is not waiting"
    w.next()
    w.root.update()


def fill_destination(w, dst) -> None:
    """The destination page: `dst` in plain text with its master user; then Next."""
    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    type_into(w, d.logins.admin_user, "admin")
    type_into(w, d.logins.admin_password, ADMIN_PASSWORD)
    press(w, w.next_button)


def to_users_page(w, src, dst, users_csv, source_security: str = "none",
                  workers: int | None = None) -> None:
    """From the welcome page to the users page with `users_csv` loaded: the source (plain
    unless told), the destination plain with its master user; `workers` mailboxes at once
    when given."""
    press(w, w.next_button)
    w.source_page.security.set(source_security)
    type_into(w, w.source_page.host, f"{src.host}:{src.port}")
    press(w, w.next_button)
    fill_destination(w, dst)
    w.users_page.load(str(users_csv))
    if workers is not None:
        w.users_page.workers.set(workers)


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


def close_window(w) -> None:
    """Stop a run still going and destroy the window, whatever state the test left it in."""
    if w.run is not None:
        w.run.stop_now()
        w.run.join(20)
    try:
        if w.root.winfo_exists():
            w.tasks.close()
            w.root.destroy()
    except tk.TclError:  # the test destroyed it already
        pass


def row(tree, iid: str) -> dict:
    return dict(zip(tree["columns"], tree.item(iid, "values"), strict=True))


def all_text(widget: tk.Misc) -> str:
    """Every text a user could see in `widget` and below: labels, buttons, entries, tables.

    Hidden parts (another page, a section of another kind) are included: a
    secret must not be anywhere in the window, shown or not.
    """
    parts: list[str] = []
    try:
        parts.append(str(widget.cget("text")))
    except tk.TclError:
        pass
    if isinstance(widget, tk.Text):
        parts.append(widget.get("1.0", "end"))
    elif isinstance(widget, (tk.Entry, ttk.Entry)):
        shown = str(widget.cget("show"))  # a password field shows only its dots
        parts.append(shown * len(widget.get()) if shown else widget.get())
    elif isinstance(widget, ttk.Treeview):
        def rows(parent: str) -> None:
            for iid in widget.get_children(parent):
                parts.append(" ".join(str(v) for v in widget.item(iid, "values")))
                parts.append(str(widget.item(iid, "text")))
                rows(iid)
        rows("")
    for child in widget.winfo_children():
        parts.append(all_text(child))
    return "\n".join(p for p in parts if p)


def copy_by_dragging(w, widget) -> str:
    """Drag the pointer over all of `widget`, press Ctrl+C's <<Copy>>: what the clipboard
    holds then ("" when the widget let nothing be selected, as a label does)."""
    w.root.clipboard_clear()
    right, bottom = widget.winfo_width() - 2, widget.winfo_height() - 2
    widget.event_generate("<Button-1>", x=1, y=2)
    widget.event_generate("<B1-Motion>", x=right, y=bottom)
    widget.event_generate("<ButtonRelease-1>", x=right, y=bottom)
    w.root.update()
    widget.event_generate("<<Copy>>")
    w.root.update()
    try:
        return w.root.clipboard_get()
    except tk.TclError:  # nothing copied
        return ""
