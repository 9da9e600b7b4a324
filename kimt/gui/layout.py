"""How the wizard's parts are laid out and reached by keyboard, at any window size.

Kept apart from the pages' shared pieces (`common`): nothing here knows a
page. `PageView` shows one page at a time and scrolls one taller than the
window (a 1024×700 screen); `Flow` lays widgets side by side and goes on in
the next line when there is no room, so a radio label or a button is never
cut; `fit_columns` widens a table's columns to their longest text;
`keyboard` gives back what ttkbootstrap takes away (Space on a button, a
visible focus); `descendants` and `usable` find where the keyboard may go.
"""

from __future__ import annotations

import os
import tkinter as tk
from pathlib import Path
from tkinter import font as tkfont
from typing import Any

import ttkbootstrap as ttk

PAD = 12  # the room between parts, everywhere (common re-exports it)


TEXT_FIELDS = ("TEntry", "TCombobox", "TSpinbox")


def descendants(widget: tk.Misc) -> list[tk.Misc]:
    """Every widget below `widget`, in creation order (the order Tab goes through them)."""
    found: list[tk.Misc] = []
    for child in widget.winfo_children():
        found.append(child)
        found.extend(descendants(child))
    return found


def usable(widget: tk.Misc) -> bool:
    """Shown on screen and not disabled: the keyboard may go there."""
    try:
        state = str(widget.cget("state"))
    except tk.TclError:
        state = "normal"
    return bool(widget.winfo_viewable()) and state != "disabled"


def keyboard(root: tk.Misc) -> None:
    """What ttkbootstrap takes away from the keyboard, given back.

    Space presses the focused button (ttkbootstrap unbinds it; Return still
    works). The focus is visible on every control: a focused button gets a
    dark border besides the theme's faint dotted ring, a table a coloured
    border like an entry's, and a table entered with Tab has a row to move
    from (its first), selected.
    """
    root.tk.eval("bind TButton <Key-space> {ttk::button::activate %W}")
    styled: set[str] = set()

    def focused(event: tk.Event) -> None:
        widget = event.widget
        if not isinstance(widget, tk.Misc):  # a Tcl-only widget (a dialog's part)
            return
        kind = widget.winfo_class()
        if kind == "Treeview" and not widget.focus():
            first = widget.get_children()
            if first:
                widget.focus(first[0])
                if str(widget.cget("selectmode")) != "none":
                    widget.selection_set(first[0])
        if kind not in ("TButton", "Treeview"):
            return
        try:
            name = str(widget.cget("style")) or kind
        except tk.TclError:
            return
        if name in styled:
            return
        styled.add(name)
        style = ttk.Style()
        colour = FOCUS_BORDER if kind == "TButton" else style.colors.primary
        mapped = style.map(name, "bordercolor") or []
        style.map(name, bordercolor=[("focus", "!disabled", colour), *mapped])

    root.bind_all("<FocusIn>", focused, add="+")


FOCUS_BORDER = "#212529"  # the theme's text colour: seen around any button colour


class Flow(ttk.Frame):
    """Widgets side by side that go on in the next line when the window is too narrow for
    them (radio buttons, a row of buttons): cut off at no window size.

    `add` the widgets (children of this frame) instead of packing them; `gap` is the room
    between two in a line.
    """

    def __init__(self, master: tk.Misc, gap: int = PAD, **kw: Any):
        super().__init__(master, height=1, **kw)
        self.gap = gap
        self.items: list[tuple[tk.Widget, int]] = []
        self.bind("<Configure>", lambda e: self.arrange())

    def add(self, widget: tk.Widget, gap: int | None = None) -> tk.Widget:
        """Put `widget` after the others, `gap` pixels after the one before it."""
        self.items.append((widget, self.gap if gap is None else gap))
        self.arrange()
        return widget

    def arrange(self) -> None:
        width = max(self.winfo_width(), 1)
        lines: list[list[tuple[tk.Widget, int]]] = [[]]
        x = 0
        for widget, gap in self.items:
            w = widget.winfo_reqwidth()
            if x and x + gap + w > width:
                lines.append([])
                x = 0
            elif x:
                x += gap
            lines[-1].append((widget, x))
            x += w
        y = line = 0
        for n, placed in enumerate(lines):
            if n:
                y += line + 2
            line = max((w.winfo_reqheight() for w, _ in placed), default=0)
            for widget, x in placed:  # centred in its line, as pack would
                widget.place(x=x, y=y + (line - widget.winfo_reqheight()) // 2)
        width_needed = max((w.winfo_reqwidth() for w, _ in self.items), default=1)
        if int(str(self.cget("height"))) != y + line:
            self.configure(height=y + line)
        if int(str(self.cget("width"))) != width_needed:  # never narrower than its widest
            self.configure(width=width_needed)


class PageView(ttk.Frame):
    """Where the pages are shown, one at a time; a page taller than the window scrolls.

    Each page (a child of this frame) is a window item of a canvas: the page
    shown has the canvas's width and at least its height; when it needs more
    (the Kerio destination with a certificate prompt in a 1024×700 window) a
    scrollbar appears, the mouse wheel scrolls it, and a field that gets the
    keyboard is scrolled into view. Hidden pages' items are hidden, so their
    widgets are unmapped: Tab never lands on them.
    """

    CHECK_MS = 300  # how often a page's height is looked at (it grows without telling)

    def __init__(self, master: tk.Misc):
        super().__init__(master)
        self.columnconfigure(0, weight=1)
        self.rowconfigure(0, weight=1)
        self.canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0,
                                background=ttk.Style().colors.bg)
        self.canvas.grid(row=0, column=0, sticky="nsew")
        self.bar = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(yscrollcommand=self.bar.set)
        self.items: dict[tk.Misc, int] = {}
        self.current: tk.Misc | None = None
        self.canvas.bind("<Configure>", lambda e: self.fit())
        self.bind_all("<FocusIn>", self._into_view, add="+")
        for wheel in ("<MouseWheel>", "<Button-4>", "<Button-5>"):
            self.bind_all(wheel, self._wheel, add="+")
        self._job = self.after(self.CHECK_MS, self._check)

    def add(self, page: tk.Misc) -> None:
        self.items[page] = self.canvas.create_window(0, 0, window=page, anchor="nw",
                                                     state="hidden")

    def show(self, page: tk.Misc) -> None:
        if self.current is not None:
            self.canvas.itemconfigure(self.items[self.current], state="hidden")
        self.current = page
        self.canvas.itemconfigure(self.items[page], state="normal")
        self.canvas.yview_moveto(0)
        self.fit()

    def scrolls(self) -> bool:
        return bool(self.bar.winfo_ismapped())

    def fit(self) -> None:
        page = self.current
        if page is None or not self.winfo_exists():
            return
        width, height = self.canvas.winfo_width(), self.canvas.winfo_height()
        if width <= 1:  # not on screen yet
            return
        need = page.winfo_reqheight()
        full = max(need, height)
        self.canvas.itemconfigure(self.items[page], width=width, height=full)
        self.canvas.configure(scrollregion=(0, 0, width, full))
        if need > height and not self.scrolls():
            self.bar.grid(row=0, column=1, sticky="ns")
        elif need <= height and self.scrolls():
            self.bar.grid_remove()
            self.canvas.yview_moveto(0)
        self.keep_in_view(self.focus_get())  # the page grew or shrank around it

    def _check(self) -> None:
        self._job = self.after(self.CHECK_MS, self._check)
        page = self.current
        if page is not None and int(self.canvas.itemcget(self.items[page], "height") or 0) \
                != max(page.winfo_reqheight(), self.canvas.winfo_height()):
            self.fit()

    def _on_page(self, widget: object) -> bool:
        return (isinstance(widget, tk.Misc) and self.current is not None
                and str(widget).startswith(str(self.current) + "."))

    def _into_view(self, event: tk.Event) -> None:
        widget = event.widget
        # (its frames get a FocusIn too, on the way: only the focused widget counts)
        if isinstance(widget, tk.Misc) and widget.focus_get() is widget:
            # once the layout is done: a field that just appeared has no place before
            self.after_idle(self.keep_in_view, widget)

    def keep_in_view(self, widget: tk.Misc | None) -> None:
        """Scroll the page so that `widget` (the keyboard's) can be seen."""
        if widget is None or not self.scrolls() or not self._on_page(widget) \
                or not widget.winfo_exists():
            return
        full = float(str(self.canvas.cget("scrollregion")).split()[3])
        top = widget.winfo_rooty() - self.current.winfo_rooty()
        shown_from, shown_to = (f * full for f in self.canvas.yview())
        if top < shown_from or top + widget.winfo_height() > shown_to:
            self.canvas.yview_moveto(max(0.0, (top - PAD) / full))

    def _wheel(self, event: tk.Event) -> None:
        widget = event.widget
        if not self.scrolls() or not self._on_page(widget) \
                or widget.winfo_class() in ("Treeview", "Text", "TCombobox", "TSpinbox"):
            return
        up = event.num == 4 or getattr(event, "delta", 0) > 0
        self.canvas.yview_scroll(-3 if up else 3, "units")

    def destroy(self) -> None:
        self.after_cancel(self._job)
        super().destroy()


def documents_folder() -> str:
    """Where a file dialog starts the first time: the user's documents folder (its
    localized name from the XDG user dirs on Linux, e.g. Dokumenty), else home."""
    home = Path.home()
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config") / "user-dirs.dirs"
    try:
        for line in config.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "XDG_DOCUMENTS_DIR":
                folder = Path(value.strip().strip('"').replace("$HOME", str(home)))
                if folder.is_dir():
                    return str(folder)
    except OSError:
        pass
    documents = home / "Documents"
    return str(documents if documents.is_dir() else home)


WIDEST_COLUMN = 600  # px: a longer address or name is read with the table's scrollbar


def fit_columns(tree: ttk.Treeview, texts: dict[str, list[str]],
                columns: tuple[tuple[str, str, int], ...]) -> None:
    """Widen the table's columns in `texts` to their longest text (up to WIDEST_COLUMN),
    never narrower than given in `columns`: an address or a name is not cut; a table
    wider than the window scrolls sideways."""
    font = tkfont.nametofont("TkDefaultFont")
    given = {key: width for key, _, width in columns}
    for key, values in texts.items():
        longest = sorted(values, key=len)[-20:]  # measuring thousands would take long
        width = max([given[key], *(font.measure(v) + PAD for v in longest)])
        width = min(width, max(WIDEST_COLUMN, given[key]))
        tree.column(key, width=width, minwidth=width)
