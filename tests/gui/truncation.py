"""Text cut off in a window: every label, button, choice, field and table cell measured.

A widget that reaches past the edge of a frame it is in (the window's bottom)
counts as cut too, unless that frame scrolls (`PageView` with its scrollbar).

`clipped(window)` walks the widgets that are on screen and measures each text
with the widget's own font (`tkinter.font.Font.measure`) against the room the
widget has: labels, buttons, radio and check buttons (one line each, or their
wrapped lines), the text of entries and combo boxes, and a table's headings
and the cells of the rows in view, and the wrapped lines of selectable words
(`Words`) against their height. It returns one line per text that does not
fit, saying where; a choice whose words end in "…" reads as cut too. Re-run
it after any change to a page (a test walks every page at 1024×700 with it).
"""

from __future__ import annotations

import tkinter as tk
from tkinter import font as tkfont
from tkinter import ttk

from kimt.gui.logview import Words

LABELS = ("TLabel", "TButton", "TRadiobutton", "TCheckbutton", "Label", "Button")
FIELDS = ("TEntry", "TCombobox", "TSpinbox")
INDICATOR = 22  # a radio or check button's circle or box, with its gap
FIELD_INSIDE = 14  # an entry's border and padding, both sides
ARROW = 24  # a combo box's or spin box's arrow part
CELL_INSIDE = 8  # a table cell's padding


def font_of(widget: tk.Misc, default: str = "TkDefaultFont") -> tkfont.Font:
    name = ""
    try:
        name = str(widget.cget("font"))
    except tk.TclError:
        pass
    if not name:
        try:
            style = str(widget.cget("style")) or widget.winfo_class()
            name = str(ttk.Style(widget).lookup(style, "font")) or ""
        except tk.TclError:
            name = ""
    return tkfont.Font(root=widget, font=name or default)


def where(widget: tk.Misc) -> str:
    return f"{widget.winfo_class()} {widget}"


def label_problems(widget: tk.Misc) -> list[str]:
    text = str(widget.cget("text"))
    if not text.strip():
        return []
    font = font_of(widget)
    room = widget.winfo_width()
    if widget.winfo_class() in ("TRadiobutton", "TCheckbutton"):
        room -= INDICATOR
    try:
        wrap = int(str(widget.cget("wraplength")) or 0)
    except (tk.TclError, ValueError):
        wrap = 0
    problems = []
    if widget.winfo_class() in ("TRadiobutton", "TCheckbutton") and text.endswith("…"):
        problems.append(f"{where(widget)}: {text[:60]!r} ends in '…', which reads as cut")
    lines = text.split("\n")
    widest = max(font.measure(line) for line in lines)
    if wrap > 0:  # wrapped: each line fits the wrap length; all lines fit the height
        if widget.winfo_height() < widget.winfo_reqheight():
            problems.append(f"{where(widget)}: {text[:60]!r} is cut at the bottom "
                            f"({widget.winfo_height()} of {widget.winfo_reqheight()} px)")
        if wrap > room + 2 and widest > room:
            problems.append(f"{where(widget)}: {text[:60]!r} wraps at {wrap} px but has "
                            f"{room} px")
        return problems
    if widest > room:
        problems.append(f"{where(widget)}: {text[:60]!r} needs {widest} px, has {room}")
    elif widget.winfo_width() < widget.winfo_reqwidth() and not _set_width(widget):
        problems.append(f"{where(widget)}: {text[:60]!r} gets {widget.winfo_width()} px of "
                        f"the {widget.winfo_reqwidth()} it asks for")
    return problems


def _set_width(widget: tk.Misc) -> bool:
    """A width given in characters: Tk asks for that, whatever the text needs."""
    try:
        return bool(str(widget.cget("width")).strip("0 "))
    except tk.TclError:
        return False


def field_problems(widget: tk.Misc) -> list[str]:
    text = widget.get()
    try:
        shown = str(widget.cget("show"))
    except tk.TclError:
        shown = ""
    if not text or shown:
        return []
    font = font_of(widget, "TkTextFont")
    room = widget.winfo_width() - FIELD_INSIDE
    if widget.winfo_class() != "TEntry":
        room -= ARROW
    need = font.measure(text)
    # An entry scrolls (what was typed, a path to select and copy); a choice box's
    # choice is only read, so it must show all of it.
    if need > room and widget.winfo_class() == "TCombobox":
        return [f"{where(widget)}: {text!r} needs {need} px, has {room}"]
    return []


def table_problems(tree: ttk.Treeview) -> list[str]:
    problems = []
    font = tkfont.nametofont("TkDefaultFont")
    heading_font = font_of(tree)
    columns = list(tree["columns"])
    shown = [c for c in columns if c in (tree["displaycolumns"] if tree["displaycolumns"]
                                         != ("#all",) else columns)]
    for key in shown:
        width = int(tree.column(key, "width"))
        heading = str(tree.heading(key, "text"))
        if heading and heading_font.measure(heading) + CELL_INSIDE > width:
            problems.append(f"{where(tree)}: heading {heading!r} needs "
                            f"{heading_font.measure(heading) + CELL_INSIDE} px, has {width}")
    for iid in tree.get_children():
        if not tree.bbox(iid):  # not in view
            continue
        values = dict(zip(columns, tree.item(iid, "values"), strict=False))
        for key in shown:
            text = str(values.get(key, ""))
            width = int(tree.column(key, "width"))
            if text and font.measure(text) + CELL_INSIDE > width:
                problems.append(f"{where(tree)}: row {iid} {key} {text!r} needs "
                                f"{font.measure(text) + CELL_INSIDE} px, has {width}")
    return problems


def outside(widget: tk.Misc) -> list[str]:
    """The widget reaches past the bottom or the right of a frame it is in (the window's
    edge included): that part of it is not seen."""
    right = widget.winfo_rootx() + widget.winfo_width()
    bottom = widget.winfo_rooty() + widget.winfo_height()
    master = widget.master
    while master is not None:
        if getattr(master, "scrolls", lambda: False)():  # what is below is scrolled to
            break
        if (bottom > master.winfo_rooty() + master.winfo_height() + 1
                or right > master.winfo_rootx() + master.winfo_width() + 1):
            text = ""
            try:
                text = str(widget.cget("text"))[:40]
            except tk.TclError:
                pass
            return [f"{where(widget)} {text!r}: past the edge of {master}"]
        master = master.master
    return []


def clipped(window: tk.Misc, allow: tuple[str, ...] = ()) -> list[str]:
    """Every text in `window` cut off now (widgets on screen only); `allow`: substrings
    of problem lines that are expected (a cell whose start is all that is meant)."""
    problems: list[str] = []

    def walk(widget: tk.Misc) -> None:
        if not widget.winfo_viewable():
            return
        kind = widget.winfo_class()
        if kind in LABELS + FIELDS + ("Treeview",):
            problems.extend(outside(widget))
        if kind in LABELS:
            problems.extend(label_problems(widget))
        elif kind in FIELDS:
            problems.extend(field_problems(widget))
        elif kind == "Treeview":
            problems.extend(table_problems(widget))
        elif isinstance(widget, Words):  # a label's words that can be selected
            problems.extend(outside(widget))
            if widget.lines() > int(tk.Text.cget(widget, "height")):
                problems.append(f"{where(widget)}: {widget.words[:60]!r} has "
                                f"{widget.lines()} lines, shows "
                                f"{tk.Text.cget(widget, 'height')}")
        for child in widget.winfo_children():
            walk(child)

    window.update_idletasks()
    walk(window)
    return [p for p in problems if not any(a in p for a in allow)]
