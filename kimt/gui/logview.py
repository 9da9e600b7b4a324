"""The Report and Debug logs in a window of KIMT itself: read-only, searchable.

Kerio's tools opened their logs from a link; KIMT used the desktop's file
opener, and a desktop without one (no xdg-open on a server's minimal
desktop) left the admin with a path in a label. So the logs are always
shown here, the same on every system: a find box with next and previous,
the file's path in a field that can be selected, "Copy path" and "Open
folder" (the one thing left to the desktop, which says plainly when it has
no opener). Every path the wizard shows is such a field (`path_field`).

The Report holds generated passwords: the file is read straight into the
text widget, never copied to a temporary file, and nothing is put on the
clipboard but the path or what the admin selects. A long run's Debug log
can be tens of MB: the window shows its last TAIL_BYTES (and says so), put
into the widget in chunks from `after()` so the window keeps answering.
"""

from __future__ import annotations

import os
import tkinter as tk
from pathlib import Path

import ttkbootstrap as ttk

from ..core.report import size
from ..system import open_path
from .common import PAD, TONES, autowrap, tone

TAIL_BYTES = 4 * 2**20  # what a big log shows of its end
CHUNK_CHARS = 128 * 1024  # put into the text widget per turn of the event loop
MAX_COUNTED = 1000  # matches counted for "3 of 12"; past it "3 of 1000+"


def path_field(master: tk.Misc, path: str | os.PathLike = "", width: int = 60) -> ttk.Entry:
    """A path shown so it can be selected and copied: a read-only entry, not a label."""
    var = tk.StringVar(master, value=str(path))
    entry = ttk.Entry(master, textvariable=var, width=width, state="readonly")
    entry.var = var  # type: ignore[attr-defined]  (kept with it: set_path below)
    return entry


def set_path(entry: ttk.Entry, path: str | os.PathLike | None) -> None:
    entry.var.set("" if path is None else str(path))  # type: ignore[attr-defined]


def open_folder(folder: str | os.PathLike, where: str = "above") -> str:
    """Open `folder` with the desktop; what to tell the admin when it can't ("" if done),
    who sees its path `where` ("above", "below") in a `path_field`."""
    try:
        open_path(folder)
    except OSError as e:
        return f"Could not open the folder: {e}. Its path is shown {where}: select it " \
               "and copy it."
    return ""


def selectable(text: tk.Text) -> tk.Text:
    """A read-only (disabled) text whose selection Ctrl+C copies: a click gives it the
    focus, which Tk gives a disabled text no longer."""
    text.bind("<Button-1>", lambda e: text.focus_set(), add="+")
    return text


class Words(tk.Text):
    """Words shown like a label's (wrapped, read-only, no border) that can be selected
    and copied: a line that may name a path (the status page's notice, the result
    page's headline). A Tk label's text can't be selected at all.

    It takes a label's `configure(text=..., foreground=...)` and `cget("text")`, so
    `tone` and the tests treat it as one; its height follows its wrapped lines.
    """

    def __init__(self, master: tk.Misc, font: str = "TkDefaultFont", muted: bool = False):
        style = ttk.Style()
        # its colour when `tone` says "default" (a label's style colour: grey if muted)
        self.base = TONES["muted"] if muted else style.lookup("TLabel", "foreground")
        super().__init__(master, height=1, width=20, wrap="word", relief="flat",
                         borderwidth=0, highlightthickness=0, padx=2, pady=0, font=font,
                         background=style.lookup("TFrame", "background"),
                         foreground=self.base,
                         takefocus=0, cursor="xterm", state="disabled")
        self.words = ""
        self.bind("<Configure>", lambda e: self._fit(), add="+")
        # Tk's own last newline is never part of what is copied (a path pasted whole).
        self.bind("<<Selection>>", lambda e: self.tag_remove("sel", "end-1c", "end"), add="+")
        selectable(self)

    def configure(self, cnf: dict | None = None, **kw):  # type: ignore[override]
        text = kw.pop("text", None)
        kw.pop("wraplength", None)  # it wraps at its width
        if kw.get("foreground") == "":  # tone's "default"
            kw["foreground"] = self.base
        result = super().configure(cnf, **kw) if cnf or kw else None
        if text is not None and text != self.words:
            self.words = text
            super().configure(state="normal")
            self.delete("1.0", "end")
            self.insert("1.0", text)
            super().configure(state="disabled")
            self._fit()
        return result

    config = configure

    def cget(self, key: str):  # type: ignore[override]
        return self.words if key == "text" else super().cget(key)

    def lines(self) -> int:
        """Its wrapped lines at its width now."""
        if not self.words:
            return 1
        return max(1, int(self.tk.call(self._w, "count", "-update", "-displaylines",
                                       "1.0", "end")))

    def _fit(self) -> None:
        height = self.lines()
        if int(super().cget("height")) != height:
            super().configure(height=height)


class LogViewer(tk.Toplevel):
    """One log file, read-only, with a find box; `kind` names it ("Report log")."""

    def __init__(self, master: tk.Misc, path: str | os.PathLike, kind: str):
        super().__init__(master)
        self.path = Path(path)
        self.kind = kind
        self.title(f"{kind} — {self.path.parent.name}")
        self.geometry("900x600")
        self.minsize(500, 300)
        self.columnconfigure(0, weight=1)
        self.rowconfigure(2, weight=1)
        self._pending = ""  # text read but not yet in the widget
        self._loading: str | None = None  # the after() id of the next chunk
        self.matches = 0  # of the current find text (at most MAX_COUNTED)
        self.current = 0  # the match shown, 1-based (0: none)

        top = ttk.Frame(self, padding=(PAD, PAD, PAD, 0))
        top.grid(row=0, column=0, sticky="we")
        top.columnconfigure(1, weight=1)
        ttk.Label(top, text=f"{kind}:").grid(row=0, column=0, sticky="w", padx=(0, 6))
        self.path_entry = path_field(top, self.path)
        self.path_entry.grid(row=0, column=1, sticky="we")
        self.copy_button = ttk.Button(top, text="Copy path", bootstyle="secondary",
                                      command=self.copy_path)
        self.copy_button.grid(row=0, column=2, padx=(6, 0))
        self.folder_button = ttk.Button(top, text="Open folder", bootstyle="secondary",
                                        command=self.open_folder)
        self.folder_button.grid(row=0, column=3, padx=(6, 0))
        self.note = autowrap(ttk.Label(self, text="", bootstyle="secondary", justify="left",
                                       padding=(PAD, 4, PAD, 4)))
        self.note.grid(row=1, column=0, sticky="we")

        box = ttk.Frame(self, padding=(PAD, 0, PAD, 0))
        box.grid(row=2, column=0, sticky="nsew")
        box.columnconfigure(0, weight=1)
        box.rowconfigure(0, weight=1)
        self.text = tk.Text(box, wrap="word", relief="flat", padx=8, pady=6,
                            font="TkFixedFont", undo=False)
        self.text.grid(row=0, column=0, sticky="nsew")
        down = ttk.Scrollbar(box, orient="vertical", command=self.text.yview)
        down.grid(row=0, column=1, sticky="ns")
        self.text.configure(yscrollcommand=down.set, state="disabled")
        self.text.tag_configure("match", background="#fff3b0")
        self.text.tag_configure("current", background="#ffb000")
        self.text.tag_raise("sel")
        selectable(self.text)

        find = ttk.Frame(self, padding=PAD)
        find.grid(row=3, column=0, sticky="we")
        ttk.Label(find, text="Find:").pack(side="left")
        self.find_text = tk.StringVar(self)
        self.find_entry = ttk.Entry(find, textvariable=self.find_text, width=30)
        self.find_entry.pack(side="left", padx=(6, 0))
        self.previous_button = ttk.Button(find, text="Previous", bootstyle="secondary",
                                          command=lambda: self.find(backwards=True))
        self.previous_button.pack(side="left", padx=(6, 0))
        self.next_button = ttk.Button(find, text="Next", bootstyle="secondary",
                                      command=self.find)
        self.next_button.pack(side="left", padx=(6, 0))
        self.found = ttk.Label(find, text="", bootstyle="secondary")
        self.found.pack(side="left", padx=PAD)
        ttk.Button(find, text="Close", bootstyle="secondary-outline",
                   command=self.close).pack(side="right")
        self.find_text.trace_add("write", lambda *_: self._find_changed())
        self.find_entry.bind("<Return>", lambda e: self.find())
        self.find_entry.bind("<Shift-Return>", lambda e: self.find(backwards=True))
        for key in ("<Control-f>", "<Control-F>"):
            self.bind(key, lambda e: self.focus_find())
        self.bind("<F3>", lambda e: self.find())
        self.bind("<Shift-F3>", lambda e: self.find(backwards=True))
        self.bind("<Escape>", lambda e: self.close())
        self.protocol("WM_DELETE_WINDOW", self.close)
        self.load()
        self.focus_find()

    # -- the file ----------------------------------------------------------------------

    def load(self) -> None:
        """The file (its end, when big), put into the widget a chunk at a time."""
        try:
            total = self.path.stat().st_size
            with open(self.path, "rb") as f:
                if total > TAIL_BYTES:
                    f.seek(total - TAIL_BYTES)
                    data = f.read()
                    data = data[data.find(b"\n") + 1:]  # from a whole line on
                else:
                    data = f.read()
        except OSError as e:
            tone(self.note, "danger", f"Could not read it: {e.strerror or e}.")
            return
        self._pending = data.decode("utf-8", errors="replace")
        if total > TAIL_BYTES:
            tone(self.note, "muted",
                 f"This log is {size(total)}: its last {size(len(data))} are shown. The whole "
                 "file is at the path above.")
        self._put_chunk()

    @property
    def loading(self) -> bool:
        return bool(self._pending)

    def _put_chunk(self) -> None:
        chunk, self._pending = self._pending[:CHUNK_CHARS], self._pending[CHUNK_CHARS:]
        self.text.configure(state="normal")
        self.text.insert("end", chunk)
        self.text.configure(state="disabled")
        if self._pending:
            self._loading = self.after(1, self._put_chunk)
            return
        self._loading = None
        if self.find_text.get():
            self._find_changed()

    def close(self) -> None:
        if self._loading is not None:
            self.after_cancel(self._loading)
        self._pending = ""
        self.destroy()

    # -- the buttons -------------------------------------------------------------------

    def copy_path(self) -> None:
        self.clipboard_clear()
        self.clipboard_append(str(self.path))
        tone(self.note, "ok", "The path is on the clipboard.")

    def open_folder(self) -> None:
        problem = open_folder(self.path.parent)
        if problem:
            tone(self.note, "danger", problem)

    # -- finding -----------------------------------------------------------------------

    def focus_find(self) -> None:
        self.find_entry.focus_set()
        self.find_entry.select_range(0, "end")

    def _find_changed(self) -> None:
        """Mark every match (up to MAX_COUNTED) and show the first."""
        text = self.text
        text.tag_remove("match", "1.0", "end")
        text.tag_remove("current", "1.0", "end")
        self.matches = self.current = 0
        wanted = self.find_text.get()
        if not wanted:
            self.found.configure(text="")
            return
        index = "1.0"
        length = tk.IntVar(self)
        while self.matches < MAX_COUNTED:
            index = text.search(wanted, index, stopindex="end", nocase=True, count=length)
            if not index:
                break
            end = f"{index}+{length.get()}c"
            text.tag_add("match", index, end)
            self.matches += 1
            index = end
        self.find()

    def find(self, backwards: bool = False) -> None:
        """The next (or previous) match after the one shown, round the end."""
        wanted = self.find_text.get()
        if not wanted:
            return
        if not self.matches:
            tone(self.found, "danger", "not found")
            return
        ranges = self.text.tag_ranges("current")
        if backwards:
            start = ranges[0] if ranges else "end"
            found = self.text.tag_prevrange("match", start) or self.text.tag_prevrange(
                "match", "end")
        else:
            start = ranges[1] if ranges else "1.0"
            found = self.text.tag_nextrange("match", start) or self.text.tag_nextrange(
                "match", "1.0")
        self.text.tag_remove("current", "1.0", "end")
        self.text.tag_add("current", *found)
        self.text.see(found[0])
        before = self.text.tag_prevrange("match", found[0])
        self.current = 1
        while before:  # counted only up to the match shown
            self.current += 1
            before = self.text.tag_prevrange("match", before[0])
        more = "+" if self.matches >= MAX_COUNTED else ""
        tone(self.found, "muted", f"{self.current} of {self.matches}{more}")

    def shown_text(self) -> str:
        return self.text.get("1.0", "end-1c")


def show_log(master: tk.Misc, viewers: dict[Path, LogViewer], path: str | os.PathLike,
             kind: str) -> LogViewer:
    """The viewer of `path`: the one already open (brought to the front), or a new one."""
    path = Path(path)
    viewer = viewers.get(path)
    if viewer is not None and viewer.winfo_exists():
        viewer.deiconify()
        viewer.lift()
        viewer.focus_find()
        return viewer
    viewer = viewers[path] = LogViewer(master, path, kind)
    return viewer
