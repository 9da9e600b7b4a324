"""Pieces every page uses: the page base, its host, a field with its own error line, tasks.

A page talks to the window around it only through `PageHost` (the `Wizard`
is the one host): background tasks, the remembered settings, Next, the
source server's settings (and the 4D WebSTAR configuration when that is the
source), starting and stopping a run. Pages never reach
each other; what a page offers it returns from its own methods, and the
wizard passes it on. A page says whether it is complete with `problem()`
(None or a sentence); the host disables Next while there is one. The
sentence is shown next to the field it concerns (`FieldError`), never in a
pop-up.

`Tasks` runs a function in a thread and calls back on the Tk thread through
a queue drained with `after()`: the only way pages reach the network. Every
task ends in `done` or `failed`, both required, so an error always reaches
the page that asked. `Latest` drops the answer to a question asked again
since ("latest answer wins").
"""

from __future__ import annotations

import queue
import re
import tkinter as tk
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from tkinter import font as tkfont
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import ttkbootstrap as ttk

from .layout import PAD, TEXT_FIELDS, descendants, usable

if TYPE_CHECKING:
    from ..core.accounts import Account
    from ..core.servers import ServerConfig
    from ..core.webstar import WebstarConfig
    from .settings import Settings

WRAP = 640  # characters of explanatory text wrap at this many pixels
LABEL_WIDTH = 150  # px of the label column, the same in every part of a server page
# The label column inside a Labelframe: its border and padding make up the rest,
# so its fields line up with the page's.
SECTION_LABEL_WIDTH = LABEL_WIDTH - PAD - 2


# Text colours that stay readable on the light background (the theme's warning
# yellow and info cyan are meant for fills, not for text).
TONES = {"ok": "#146c43", "warning": "#8a5a00", "danger": "#b02a37", "muted": "#5c636a",
         "default": ""}


def tone(label: ttk.Label, kind: str, text: str | None = None) -> None:
    """Set a label's text colour (and text) by meaning."""
    if text is not None:
        label.configure(text=text)
    label.configure(foreground=TONES[kind])


class Tasks:
    """Background work for the Tk thread: `run(fn, *args, done=..., failed=...)`."""

    def __init__(self, widget: tk.Misc, threads: int = 4, poll_ms: int = 50):
        self.widget = widget
        self.poll_ms = poll_ms
        self.queue: queue.Queue[tuple[Callable[..., None], tuple]] = queue.Queue()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="kimt-task")
        self.closed = False
        self._job = widget.after(poll_ms, self._drain)

    def run(self, fn: Callable[..., Any], *args: Any, done: Callable[[Any], None],
            failed: Callable[[BaseException], None],
            wanted: Callable[[], bool] | None = None) -> None:
        """`fn(*args)` in a thread, then `done(result)` or `failed(error)` on the Tk thread.

        With `wanted` (a `Latest.ask()`), neither is called once it says False:
        the question was asked again since.
        """
        def finished(future: Future) -> None:
            if future.cancelled():  # the window closed: nobody is left to tell
                return
            error = future.exception()
            callback, value = (done, future.result()) if error is None else (failed, error)
            self.call_soon(lambda: callback(value) if wanted is None or wanted() else None)

        self.pool.submit(fn, *args).add_done_callback(finished)

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        """From any thread: call `fn(*args)` on the Tk thread at the next poll."""
        self.queue.put((fn, args))

    def _drain(self) -> None:
        # Scheduled again first: a callback that raises (Tk reports it) must not
        # stop the answers after it.
        self._job = self.widget.after(self.poll_ms, self._drain)
        while not self.closed:
            try:
                callback, args = self.queue.get_nowait()
            except queue.Empty:
                return
            callback(*args)

    def close(self) -> None:
        self.closed = True
        self.widget.after_cancel(self._job)
        self.pool.shutdown(wait=False, cancel_futures=True)


class Latest:
    """Latest answer wins: an answer to a question that was asked again since is dropped.

    `wanted = latest.ask()` starts a question (Test connection pressed, a
    survey of the selected users) and says whether it is still the newest;
    pass it to `Tasks.run`. One question may have many answers (a survey
    asks about every user at once). `forget()` drops every answer on its way
    (another users file was loaded).
    """

    def __init__(self) -> None:
        self.asked = 0

    def ask(self) -> Callable[[], bool]:
        self.asked += 1
        question = self.asked
        return lambda: question == self.asked

    def forget(self) -> None:
        self.asked += 1


@runtime_checkable
class PageHost(Protocol):
    """All a page may ask of the window it is in (the `Wizard`)."""

    tasks: Tasks
    settings: Settings  # remembered between starts: each page keeps its own part there

    def refresh(self) -> None:
        """Something on the page changed: ask its `problem()` again (Next follows it)."""
        ...

    def next(self) -> None:
        """Go on as if Next was pressed (Enter in a field)."""
        ...

    def source_config(self) -> ServerConfig | None:
        """The source server as the engine takes it; None while its page is incomplete."""
        ...

    def webstar(self) -> WebstarConfig | None:
        """The 4D WebSTAR configuration the source page read; None for an IMAP source."""
        ...

    def start_run(self, accounts: list[Account], workers: int) -> str | None:
        """Migrate `accounts`: None once the run started, else why it can't."""
        ...

    def run_again(self) -> str | None:
        """The last run's accounts once more: None once it started, else why it can't."""
        ...

    def stop_run(self) -> None:
        """Stop the run after the batch in flight."""
        ...

    def selected_emails(self) -> list[str]:
        """The addresses selected on the users page (none before a file is loaded)."""
        ...

    def focus_next(self) -> None:
        """Put the keyboard on Next (a page's button that was pressed went away)."""
        ...

    def show_server(self, role: str) -> None:
        """Go to the page of the "source" or "destination" server (to fix its settings)."""
        ...


class FieldError(ttk.Label):
    """The line under a field that says what is wrong with it.

    Once the field is in play (it had the keyboard, or showed an error) its
    line stays, empty while all is well: a line that came and went while
    typing moved the rows under the pointer (a click meant for one radio
    button landed on the next). Until then it takes no room: the server
    pages hold many fields, and a blank line under each would push the page
    off a small window. The error of a field it `watch`es waits until the
    field was left or Next was tried (`reveal`): an empty field the user
    has not reached yet is not a mistake.
    """

    def __init__(self, master: tk.Misc, **kw: Any):
        super().__init__(master, text="", bootstyle="danger", wraplength=WRAP, **kw)
        self.field: tk.Widget | None = None
        self.revealed = True
        self.engaged = False
        self.pending = ""
        self._hidden = False

    def watch(self, field: tk.Widget) -> FieldError:
        """Hold this field's error back until the field is left (or Next is tried)."""
        self.field = field
        self.revealed = False
        field.bind("<FocusIn>", lambda e: self.engage(), add="+")
        field.bind("<FocusOut>", lambda e: self.reveal(), add="+")
        return self

    def show(self, text: str | None) -> None:
        self.pending = text or ""
        shown = self.pending if self.revealed else ""
        if shown:
            self.engaged = True
        if self.cget("text") != shown:
            self.configure(text=shown)
        self._place()

    def reveal(self) -> None:
        self.revealed = True
        self.show(self.pending)

    def engage(self) -> None:
        """The field is in play: its line is kept from now on."""
        self.engaged = True
        self._place()

    def _place(self) -> None:
        if self.winfo_manager() == "grid" and not self.engaged:
            self.grid_remove()
            self._hidden = True
        elif self._hidden and self.engaged:
            self.grid()
            self._hidden = False


class Page(ttk.Frame):
    """One step of the wizard."""

    title = ""
    subtitle = ""  # what to do on this page, in one sentence
    next_label = "Next"
    can_go_back = True

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, padding=(PAD * 2, PAD))
        self.wizard = wizard  # seen through PageHost: all a page may ask of it

    def problem(self) -> str | None:
        """None when Next may be pressed, else what is missing (also shown at its field)."""
        return None

    def reason_words(self, reason: str) -> str:
        """What the line beside Next says while `problem()` is `reason`."""
        return ("Complete the marked fields to go on." if self.shows_errors()
                else "Fill in the fields above to go on.")

    def on_show(self) -> None:
        pass

    def next_note(self) -> str:
        """A few words beside Next on what it acts on ("6 of 5 000 selected"); "" for none."""
        return ""

    def on_next(self) -> bool:
        """Called when Next is pressed; False keeps the wizard on this page."""
        return True

    def changed(self, *_: object) -> None:
        self.wizard.refresh()

    def first_field(self) -> tk.Widget | None:
        """Where the keyboard goes when the page is shown: its first field to fill in
        (None: the wizard's Next). A read-only entry (a path to copy) is not one."""
        return next((w for w in descendants(self) if w.winfo_class() in TEXT_FIELDS
                     and usable(w) and not (w.winfo_class() == "TEntry"
                                            and str(w.cget("state")) == "readonly")), None)

    def reveal_errors(self) -> tk.Widget | None:
        """Next was tried: every field says what is wrong with it now. Returns the
        first field with an error (for the keyboard), if any."""
        first = None
        for error in descendants(self):
            if isinstance(error, FieldError):
                error.reveal()
                if error.pending and first is None and error.field is not None \
                        and usable(error.field):
                    first = error.field
        return first

    def shows_errors(self) -> bool:
        """Whether a field of this page shows an error now (the reason Next waits)."""
        return any(isinstance(w, FieldError) and w.cget("text") for w in descendants(self))


def autowrap(label: ttk.Label) -> ttk.Label:
    """Wrap the label's text at whatever width the layout gives it (never clipped)."""
    label.bind("<Configure>", lambda e: label.configure(wraplength=max(150, e.width - 4)))
    return label


def scrolled_table(master: tk.Misc, columns: tuple[tuple[str, str, int], ...], *,
                   numeric: tuple[str, ...], stretch: tuple[str, ...], selectmode: str,
                   minwidth: int, tags: dict[str, str], centered: tuple[str, ...] = (),
                   across: bool = False) -> tuple[ttk.Frame, ttk.Treeview]:
    """A table (frame + Treeview with scrollbars); `tags` colour the rows tagged so.

    Numbers are right-aligned; a centered column (a check mark) keeps its width.
    """
    frame = ttk.Frame(master)
    frame.columnconfigure(0, weight=1)
    frame.rowconfigure(0, weight=1)
    tree = ttk.Treeview(frame, columns=[c[0] for c in columns], show="headings",
                        selectmode=selectmode, height=8)
    font = tkfont.nametofont("TkDefaultFont")
    for key, heading, width in columns:
        anchor = "e" if key in numeric else "w"
        tree.heading(key, text=heading, anchor=anchor)
        least = max(minwidth, font.measure(heading) + PAD)  # a heading is never cut
        tree.column(key, width=width, minwidth=width if key in centered else least,
                    anchor="center" if key in centered else anchor, stretch=key in stretch)
    tree.grid(row=0, column=0, sticky="nsew")
    down = ttk.Scrollbar(frame, orient="vertical", command=tree.yview)
    down.grid(row=0, column=1, sticky="ns")
    tree.configure(yscrollcommand=down.set)
    if across:
        side = ttk.Scrollbar(frame, orient="horizontal", command=tree.xview)
        side.grid(row=1, column=0, sticky="we")
        tree.configure(xscrollcommand=side.set)
    for tag, colour in tags.items():
        tree.tag_configure(tag, foreground=colour)
    return frame, tree


def labeled_entry(master: tk.Misc, row: int, label: str, var: tk.StringVar,
                  hint: str = "", show: str = "", width: int = 40
                  ) -> tuple[ttk.Entry, FieldError]:
    """A label, an entry and its error line, on a 2-column grid."""
    ttk.Label(master, text=label).grid(row=row, column=0, sticky="w", padx=(0, PAD), pady=(6, 0))
    entry = ttk.Entry(master, textvariable=var, width=width, show=show)
    entry.grid(row=row, column=1, sticky="we", pady=(6, 0))
    error = FieldError(master).watch(entry)
    error.grid(row=row + 1, column=1, columnspan=2, sticky="w")
    if hint:
        ttk.Label(master, text=hint, bootstyle="secondary").grid(
            row=row, column=2, sticky="w", padx=(PAD, 0), pady=(6, 0))
    return entry, error


class TestLine(ttk.Frame):
    """One answer of "Test connection", with "Trust exactly this certificate" when asked.

    `on_trust(fingerprint)` is called when the admin trusts the certificate offered.
    """

    def __init__(self, master: tk.Misc, text: str, on_trust: Callable[[str], None]):
        super().__init__(master)
        self.columnconfigure(0, weight=1)
        self.on_trust = on_trust
        self.offered = ""
        self.result = autowrap(ttk.Label(self, text=text, justify="left",
                                         bootstyle="secondary"))
        self.result.grid(row=0, column=0, sticky="we")
        # The fingerprint in a fixed-width font, broken only between its groups: read
        # side by side with the server's, not wrapped in the middle of a hex pair.
        self.fingerprint_label = ttk.Label(self, font="TkFixedFont", justify="left")
        self.trust_frame = ttk.Frame(self)
        self.trust_frame.columnconfigure(1, weight=1)
        self.trust_button = ttk.Button(self.trust_frame, text="Trust exactly this certificate",
                                       command=self._trust, bootstyle="warning")
        self.trust_button.grid(row=0, column=0, sticky="w")
        autowrap(ttk.Label(self.trust_frame, text="Compare the fingerprint with the one on the "
                           "server first.", bootstyle="secondary", justify="left")).grid(
            row=0, column=1, sticky="we", padx=(PAD, 0))

    def say(self, kind: str, text: str, offer: str | None = None) -> None:
        """Show an answer; with `offer`, a fingerprint the admin may choose to trust."""
        if offer and offer in text:
            text = text.replace(offer, "").rstrip(" .") + ":"
            self.fingerprint_label.configure(text=fingerprint_lines(offer))
            self.fingerprint_label.grid(row=1, column=0, sticky="w", pady=(4, 0))
        else:
            self.fingerprint_label.grid_remove()
        tone(self.result, "warning" if offer else kind, text)
        self.offered = offer or ""
        if offer:
            self.trust_frame.grid(row=2, column=0, sticky="we", pady=(6, 0))
        else:
            self.trust_frame.grid_remove()

    def _trust(self) -> None:
        if not self.offered:  # pressed again (a second Return) after it was trusted
            return
        self.trust_frame.grid_remove()
        self.on_trust(self.offered)


def _fingerprint_groups(fingerprint: str) -> tuple[str, list[str]]:
    """('SHA256:', its 32 groups) of a fingerprint ('' when it has no such prefix)."""
    prefix, sep, body = fingerprint.partition(":")
    if not sep or prefix.upper() != "SHA256":
        return "", fingerprint.split(":")
    return prefix + ":", body.split(":")


def fingerprint_lines(fingerprint: str, per_line: int = 16) -> str:
    """'SHA256:AB:CD:…' (32 groups) on two lines of 16 groups, the second under the first."""
    prefix, groups = _fingerprint_groups(fingerprint)
    lines = [":".join(groups[i:i + per_line]) for i in range(0, len(groups), per_line)]
    return (":\n" + " " * len(prefix)).join(lines).join((prefix, ""))


_FINGERPRINT = re.compile(r"SHA256:(?:[0-9A-F]{2}:){31}[0-9A-F]{2}")


def wrappable_fingerprints(text: str, per_part: int = 8) -> str:
    """Running text whose fingerprints have a space after every eighth group, so that a
    line breaks between groups, never inside one (Tk wraps text at spaces only: "…C8:8" /
    "5:F5…" read as two other numbers)."""
    def spaced(m: re.Match) -> str:
        prefix, groups = _fingerprint_groups(m.group(0))
        return prefix + ": ".join(":".join(groups[i:i + per_part])
                                  for i in range(0, len(groups), per_part))
    return _FINGERPRINT.sub(spaced, text)


class ConfirmDialog(ttk.Toplevel):
    """A small modal question with two buttons; `answer` is True for the first."""

    def __init__(self, master: tk.Misc, title: str, text: str, yes: str, no: str):
        super().__init__(title=title, transient=master, resizable=(False, False))
        self.answer = False
        frame = ttk.Frame(self, padding=PAD * 2)
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text=text, wraplength=420, justify="left").pack(anchor="w")
        buttons = ttk.Frame(frame)
        buttons.pack(anchor="e", pady=(PAD * 2, 0))
        self.no_button = ttk.Button(buttons, text=no, command=self.destroy,
                                    bootstyle="secondary")
        self.no_button.pack(side="right")
        self.yes_button = ttk.Button(buttons, text=yes, command=self._yes, bootstyle="danger")
        self.yes_button.pack(side="right", padx=(0, PAD))
        self.bind("<Escape>", lambda e: self.destroy())
        self.protocol("WM_DELETE_WINDOW", self.destroy)
        self.no_button.focus_set()

    def _yes(self) -> None:
        self.answer = True
        self.destroy()

    def ask(self) -> bool:
        self.update_idletasks()
        master = self.master
        x = master.winfo_rootx() + (master.winfo_width() - self.winfo_reqwidth()) // 2
        y = master.winfo_rooty() + (master.winfo_height() - self.winfo_reqheight()) // 3
        self.geometry(f"+{max(0, x)}+{max(0, y)}")
        self.grab_set()
        self.wait_window()
        return self.answer
