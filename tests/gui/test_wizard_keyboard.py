"""The wizard by keyboard, and the users list with thousands of users.

Real key events go to the focused widget (`event_generate`), as the keyboard
would send them; what has the focus is asked of Tk (`focus_get`).
"""

from __future__ import annotations

import time
import tkinter as tk
from pathlib import Path

from drive import press, pump, row, settle, shot, text_of, type_into
from helpers import write_csv
from PIL import ImageChops, ImageGrab

from kimt.gui.app import already_running_window


def key(w, name: str) -> None:
    """Press a key where the keyboard is."""
    focused = w.root.focus_get()
    assert focused is not None, "nothing has the keyboard"
    focused.event_generate(f"<KeyPress-{name}>")
    focused.event_generate(f"<KeyRelease-{name}>")
    w.root.update()


def on_page(widget, page) -> bool:
    return str(widget).startswith(str(page) + ".")


def test_keyboard_only(wizard, tmp_path, monkeypatch):
    w = wizard
    w.root.focus_lastfor().focus_force()  # the window gets the keyboard, where it was
    # the welcome page has no field (waited for: X delivers the focus later when loaded)
    pump(w, lambda: w.root.focus_get() is w.next_button, timeout=10, what="Next focused")
    key(w, "space")  # Space presses the focused button
    assert w.page is w.source_page
    assert w.root.focus_get() is w.source_page.host_entry  # the page's first field
    type_into(w, w.source_page.host, "old.example.com")
    seen = []
    for _ in range(40):  # Tab goes round the page and the buttons, never elsewhere
        key(w, "Tab")
        focused = w.root.focus_get()
        seen.append(focused)
        hidden = [p for p in w.pages if p is not w.page and on_page(focused, p)]
        assert not hidden, f"Tab landed on {focused} of a hidden page"
        assert focused.winfo_viewable(), f"Tab landed on {focused}, not on screen"
    assert w.next_button in seen and w.source_page.test_button in seen
    while w.root.focus_get() is not w.next_button:
        key(w, "Tab")
    key(w, "space")
    assert w.page is w.destination_page
    assert w.root.focus_get() is w.destination_page.host_entry
    users = write_csv(tmp_path / "u.csv", [("a@example.com", "pw", "A")])
    monkeypatch.setattr("tkinter.filedialog.askopenfilename", lambda **o: str(users))
    w.show(w.pages.index(w.users_page))
    assert w.root.focus_get() is w.users_page.load_button  # nothing loaded yet
    key(w, "space")
    assert w.users_page.accounts is not None and len(w.users_page.accounts.accounts) == 1
    assert text_of(w.users_page.file_label) == "u.csv  —  1 user"  # not "1 users"
    # the sidebar: a completed step goes back to its page; a later one does nothing
    w.step_labels[1].event_generate("<Button-1>")
    w.root.update()
    assert w.page is w.source_page
    w.step_labels[3].event_generate("<Button-1>")
    w.root.update()
    assert w.page is w.source_page


def test_the_focus_is_visible_on_every_kind_of_control(wizard, tmp_path):
    w = wizard
    w.root.focus_force()
    users = w.users_page
    w.show(w.pages.index(users))
    users.load(str(write_csv(tmp_path / "u.csv", [("a@example.com", "pw", "A"),
                                                 ("b@example.com", "pw", "B")])))
    settle(w, 0.3)
    controls = [w.next_button, users.load_button, users.check_button, users.table.all_button,
                users.run_options.passwords_check, users.table.filter_entry, users.encoding_box,
                users.workers_box, users.table.tree]
    for control in controls:
        w.back_button.focus_force()  # somewhere else first
        pump(w, lambda: w.root.focus_get() is w.back_button, timeout=10, what="Back focused")
        settle(w, 0.2)
        before = grab(control)
        control.focus_force()
        pump(w, lambda c=control: w.root.focus_get() is c, timeout=10,
             what=f"{control} focused")
        # redrawn with its focus ring (waited for, not a fixed pause: a loaded machine lags)
        pump(w, lambda c=control, b=before: ImageChops.difference(b, grab(c)).getbbox(),
             timeout=10, what=f"{control.winfo_class()} {control}: a visible focus")
    assert users.table.tree.focus() == "0"  # a table entered by keyboard has a row to start from
    w.show(w.pages.index(w.source_page))
    radio = w.source_page.security_radios[0]
    w.next_button.focus_force()
    pump(w, lambda: w.root.focus_get() is w.next_button, timeout=10, what="Next focused")
    settle(w, 0.2)
    before = grab(radio)
    radio.focus_force()
    pump(w, lambda: ImageChops.difference(before, grab(radio)).getbbox(), timeout=10,
         what="a radio button's visible focus")


def grab(widget):
    import os
    x, y = widget.winfo_rootx() - 2, widget.winfo_rooty() - 2
    return ImageGrab.grab(bbox=(x, y, x + widget.winfo_width() + 4,
                                y + widget.winfo_height() + 4), xdisplay=os.environ["DISPLAY"])


def test_the_file_dialog_starts_in_the_documents_folder(wizard, home, monkeypatch):
    documents = home / "Dokumenty"  # a localized name, from the XDG user dirs
    documents.mkdir()
    (home / "config" / "user-dirs.dirs").write_text('XDG_DOCUMENTS_DIR="$HOME/Dokumenty"\n')
    offered = {}
    monkeypatch.setattr("tkinter.filedialog.askopenfilename",
                        lambda **o: offered.update(o) or "")
    w = wizard
    w.users_page.choose_file()
    assert offered["initialdir"] == str(documents)


def test_already_running_says_so_in_kimts_style(home):
    root = already_running_window()
    try:
        root.update()
        ok = [w for w in root.winfo_children()[0].winfo_children()
              if w.winfo_class() == "TButton"][0]
        assert root.focus_get() is ok and str(ok.cget("style")) == "primary.TButton"
        closed = []
        root.bind("<Destroy>", lambda e: closed.append(e.widget) if e.widget is root else None)
        ok.event_generate("<KeyPress-space>")  # (the window is gone before the release)
        root.update()
        assert closed == [root]  # Space pressed OK
    finally:
        try:
            root.destroy()
        except tk.TclError:  # closed by the test
            pass


def many_users(path: Path, n: int) -> Path:
    return write_csv(path, [(f"user{i:05d}@dept{i % 7}.example.com", f"pw-{i}",
                             f"User Number {i}") for i in range(n)])


def test_thousands_of_users(wizard, tmp_path, screenshots):
    w = wizard
    page = w.users_page
    w.show(w.pages.index(page))
    page.load(str(many_users(tmp_path / "many.csv", 5000)))
    assert text_of(w.note_label) == "5 000 of 5 000 selected"
    assert text_of(page.table.all_button) == "Select all"
    slowest = 0.0
    for typed in ("u", "us", "user0", "user01", "dept3", "", "user04"):
        start = time.monotonic()
        type_into(w, page.table.filter, typed)
        slowest = max(slowest, time.monotonic() - start)
        assert page.table.tree.yview()[0] == 0.0  # from the top of the list
    print(f"slowest filter over 5 000 rows: {slowest * 1000:.0f} ms")
    assert slowest < 1.0, f"filtering 5 000 rows took {slowest:.2f} s"
    shown = page.table.tree.get_children()
    assert len(shown) == 1000 and all(row(page.table.tree, i)["address"].startswith("user04")
                                      for i in shown)
    assert text_of(page.table.all_button) == "Select all 1 000 shown"
    press(w, page.table.none_button)  # acts on the 1 000 shown only
    assert text_of(w.note_label) == "4 000 of 5 000 selected"
    type_into(w, page.table.filter, "nobody")
    assert page.table.tree.get_children() == () and page.table.empty_label.winfo_ismapped()
    assert text_of(page.table.empty_label) == "No user matches “nobody”."
    assert str(page.table.all_button.cget("state")) == "disabled"
    # The count beside Start stays in view however the table is scrolled.
    type_into(w, page.table.filter, "")
    assert not page.table.empty_label.winfo_ismapped()
    page.table.tree.yview_moveto(1.0)
    settle(w, 0.2)
    assert w.note_label.winfo_viewable() and text_of(w.note_label) == "4 000 of 5 000 selected"
    shot(w, screenshots, "4-users-many")
