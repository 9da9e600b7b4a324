"""A tooltip for a table's cells: the whole text of a cell its column has no room for.

The users table shows a failed login's reason in a narrow column ("failed:
[AUTHENTICATIONFAILED] Authe…"); resting the pointer on the cell shows all
of it in a small borderless window beside the pointer, gone when the pointer
moves on or leaves. What to show is asked of the page (`text_of(row, column)`,
None for nothing), so the table keeps no second copy of its answers.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

import ttkbootstrap as ttk

DELAY_MS = 400  # resting this long on a cell shows its tip
WRAP = 520


class CellTips:
    """Tips for `tree`'s cells; `text_of(iid, column_name)` says what (None: no tip)."""

    def __init__(self, tree: ttk.Treeview, text_of: Callable[[str, str], str | None]):
        self.tree = tree
        self.text_of = text_of
        self.window: tk.Toplevel | None = None
        self.label: tk.Label | None = None
        self.cell: tuple[str, str] | None = None
        self._job: str | None = None
        tree.bind("<Motion>", self._moved, add="+")
        tree.bind("<Leave>", lambda e: self.hide(), add="+")

    def _moved(self, event: tk.Event) -> None:
        iid = self.tree.identify_row(event.y)
        column = self.tree.identify_column(event.x)  # "#3"
        cell = None
        if iid and column.startswith("#") and column != "#0":
            names = self.tree["columns"]
            index = int(column[1:]) - 1
            cell = (iid, names[index]) if 0 <= index < len(names) else None
        if cell == self.cell:
            return
        self.hide()
        self.cell = cell
        if cell is not None and self.text_of(*cell):
            self._job = self.tree.after(DELAY_MS, lambda: self.show(event.x_root, event.y_root))

    def show(self, x: int, y: int) -> None:
        """Show the tip of the cell under the pointer at screen point (x, y)."""
        self._job = None
        text = self.text_of(*self.cell) if self.cell else None
        if not text:
            return
        if self.window is None:
            self.window = tk.Toplevel(self.tree)
            self.window.wm_overrideredirect(True)
            self.label = tk.Label(self.window, justify="left", wraplength=WRAP,
                                  background="#fff8dc", foreground="#212529", relief="solid",
                                  borderwidth=1, padx=6, pady=4)
            self.label.pack()
        assert self.label is not None
        self.label.configure(text=text)
        self.window.update_idletasks()
        # inside the window where there is room: a tip cut by the screen's edge is no help
        top = self.tree.winfo_toplevel()
        right = top.winfo_rootx() + top.winfo_width() - self.window.winfo_reqwidth() - 4
        self.window.wm_geometry(f"+{max(0, min(x + 12, right))}+{y + 16}")
        self.window.deiconify()
        self.window.lift()

    def shown(self) -> str:
        """The tip's text while it is shown, else ''."""
        if self.window is None or not self.window.winfo_viewable() or self.label is None:
            return ""
        return str(self.label.cget("text"))

    def hide(self) -> None:
        if self._job is not None:
            self.tree.after_cancel(self._job)
            self._job = None
        self.cell = None
        if self.window is not None:
            self.window.withdraw()
