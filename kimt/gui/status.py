"""Step 5: the migration as it runs — one row per mailbox, an overall bar, Stop.

A view of the run, which the wizard owns: it hands over the engine's events
as it drains them (`handle`, then `tick`) and tells the page when Stop was
asked for (`show_stopping`). Before its first folder a mailbox says what it
does (logging in, listing folders: `ListingFolders`); then its messages are
counted against the total the engine counted on the source at its start
(`MailboxCounted`; an Estimate until then), and its progress is the sum of
its folders' (two lanes copy folders side by side, so progress events of
different folders interleave). Speed and ETA are computed from the bytes
copied and that fraction. The folder's name is cut at its start to fit its
column; how many folders are done has a column of its own. A passwords-only
run shows each user's outcome instead (`PasswordOutcome`).
"""

from __future__ import annotations

import time
import tkinter as tk
import tkinter.font as tkfont
from dataclasses import dataclass, field

import ttkbootstrap as ttk

from ..core.accounts import Account
from ..core.events import (
    DAY_OVER,
    DONE,
    FAILED,
    MIGRATING,
    PROBLEMS,
    RUNNING_SCRIPT,
    SCRIPT_FAILED,
    STOPPED,
    WAITING,
    FolderProgress,
    ListingFolders,
    MailboxCounted,
    MailboxFinished,
    MailboxResult,
    MailboxStarted,
    Notice,
    RunFinished,
    RunStarted,
    ScriptStarted,
)
from ..core.passwords import PasswordOutcome
from ..core.report import number, size, stopped_words
from .common import PAD, Page, PageHost, scrolled_table, tone
from .logview import Words

# Wide enough for their words ("done with problems", "12,345 / 23,456") and together
# as wide as the table at the window's first size (the bytes copied are in the line
# above the table); a smaller window scrolls the table sideways rather than squeeze a
# column. Address and Folder take any room left.
COLUMNS = (("address", "Address", 152), ("state", "State", 150), ("folder", "Folder", 142),
           ("folders", "Folders", 68), ("messages", "Messages", 100), ("speed", "Speed", 76),
           ("eta", "Time left", 78))
# What a mailbox does before its first folder's progress (`ListingFolders`, `MailboxCounted`).
LOGGING_IN, LISTING, COUNTED = "logging in…", "listing folders…", "listing messages…"


def clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


@dataclass
class Progress:
    email: str
    expected: int = 0  # messages on the source: estimated, then counted (0: unknown)
    state: str = WAITING
    phase: str = ""  # before the first folder's progress: LOGGING_IN, LISTING, COUNTED
    folder: str = ""  # the folder of the latest progress (lanes copy several at once)
    folder_count: int = 0
    # folder number -> (messages handled, its messages, bytes copied): the folders
    # seen so far, whichever lane reported them last.
    folders: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    started: float = 0.0
    result: MailboxResult | None = None
    outcome: PasswordOutcome | None = None  # passwords only: what was done with it

    @property
    def done(self) -> int:
        return sum(d for d, _, _ in self.folders.values())

    @property
    def nbytes(self) -> int:
        return (self.result.bytes_copied if self.result
                else sum(b for _, _, b in self.folders.values()))

    @property
    def folders_done(self) -> int:
        return sum(1 for d, t, _ in self.folders.values() if d >= t)

    @property
    def fraction(self) -> float:
        if self.result is not None or self.outcome is not None:
            return 1.0
        if self.expected:
            return min(1.0, self.done / self.expected)
        if not self.folder_count:
            return 0.0
        within = sum(d / t if t else 1.0 for d, t, _ in self.folders.values())
        return min(1.0, within / self.folder_count)


def fit(text: str, font: tkfont.Font, width: int) -> str:
    """`text` within `width` pixels: cut at its start, where a folder path is least
    telling ("…/dev.team"), rather than clipped at its end by the table."""
    if font.measure(text) <= width:
        return text
    while text and font.measure("…" + text) > width:
        text = text[1:]
    return "…" + text


class StatusPage(Page):
    title = "Migration status"
    can_go_back = False
    next_label = "Next"

    @property
    def subtitle(self) -> str:  # type: ignore[override]
        if self.passwords:
            return ("Each user's password is checked on the old server and set on the new one "
                    "where it differs. No mail is copied.")
        return ("Mail is being copied. You can stop at any time: a later run finishes "
                "the job without copying anything twice.")

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, wizard)
        self.rows: dict[str, Progress] = {}
        self.passwords = False  # a passwords-only run: one outcome per user, no mail
        self.started = 0.0
        self.columnconfigure(0, weight=1)
        self.rowconfigure(2, weight=1)

        self.overall = ttk.Progressbar(self, maximum=1000, bootstyle="success-striped")
        self.overall.grid(row=0, column=0, sticky="we")
        self.overall_label = ttk.Label(self, text="")
        self.overall_label.grid(row=1, column=0, sticky="w", pady=(4, PAD / 2))

        table, self.tree = scrolled_table(
            self, COLUMNS, numeric=("folders", "messages", "speed", "eta"),
            stretch=("address", "folder"), selectmode="none", minwidth=50, across=True,
            tags={"failed": "#b02a37", "done": "#146c43", "problems": "#997404",
                  "stopped": "#6c757d"})
        table.grid(row=2, column=0, sticky="nsew")
        for key, _, width in COLUMNS:
            self.tree.column(key, minwidth=width)
        named = ttk.Style().lookup("Treeview", "font") or "TkDefaultFont"
        self.font = (tkfont.nametofont(named) if named in tkfont.names()
                     else tkfont.Font(font=named))

        bottom = ttk.Frame(self)
        bottom.grid(row=3, column=0, sticky="we", pady=(PAD, 0))
        self.stop_button = ttk.Button(bottom, text="Stop", command=self.wizard.stop_run,
                                      bootstyle="danger-outline")
        self.stop_button.pack(side="left")
        self.notice = Words(bottom, muted=True)  # it may name a path: selectable
        self.notice.pack(side="left", padx=PAD, fill="x", expand=True)

    # -- running ------------------------------------------------------------------------

    def begin(self, accounts: list[Account], expected: dict[str, int],
              passwords: bool = False) -> None:
        """A new run of `accounts`; `expected`: messages per address, as estimated;
        `passwords`: a passwords-only run."""
        self.passwords = passwords
        self.tree.heading("folder", text="Details" if passwords else "Folder")
        self.started = time.monotonic()
        self.rows = {a.email: Progress(a.email, expected.get(a.email, 0)) for a in accounts}
        self.tree.delete(*self.tree.get_children())
        for email in self.rows:
            self.tree.insert("", "end", iid=email, values=self.values(self.rows[email]))
        self.stop_button.configure(state="normal", text="Stop")
        tone(self.notice, "default", "Connecting to both servers…" if not passwords else
             "Checking the passwords; Stop leaves the users not yet checked as they are.")
        self.tick()

    def handle(self, event) -> None:
        match event:
            case RunStarted():
                self.notice.configure(text="Stop finishes the batch of messages in flight, "
                                      "then stops.")
            case MailboxStarted(email=email):
                p = self.rows[email]
                p.state, p.started, p.phase = MIGRATING, time.monotonic(), LOGGING_IN
                self.show(p)
            case ListingFolders(email=email):
                self.rows[email].phase = LISTING
                self.show(self.rows[email])
            case MailboxCounted(email=email):
                p = self.rows[email]
                p.phase, p.expected, p.folder_count = COUNTED, event.messages, event.folders
                self.show(p)
            case FolderProgress(email=email):
                p = self.rows[email]
                p.phase, p.folder, p.folder_count = "", event.folder, event.folder_count
                p.folders[event.folder_number] = (event.done, event.total, event.bytes_copied)
                self.show(p)
            case Notice(email=email, text=text):
                self.notice.configure(text=f"{email}: {text}")
            case PasswordOutcome(email=email):
                p = self.rows[email]
                p.state, p.outcome = event.state, event
                self.show(p)
            case ScriptStarted(email=email):
                p = self.rows[email]
                p.state, p.folder, p.phase = RUNNING_SCRIPT, "", ""
                self.show(p)
            case MailboxFinished(result=result):
                p = self.rows.setdefault(result.email, Progress(result.email))
                p.state, p.result, p.folder, p.phase = result.state, result, "", ""
                self.show(p)
            case RunFinished(fatal=fatal) if fatal:
                tone(self.notice, "danger", fatal)

    def values(self, p: Progress) -> tuple:
        if p.outcome is not None:
            return (p.email, p.state, p.outcome.reason, "", "", "", "")
        speed = eta = folders = ""
        if p.result is not None:
            r = p.result
            messages = (f"{number(r.copied + r.already)} / {number(r.total)}" if r.folders
                        else "" if r.started else stopped_words(r))  # "not started"
            if r.folders:
                folders = number(len(r.folders))
        elif p.state in (MIGRATING, RUNNING_SCRIPT):
            messages = number(p.done) + (f" / {number(p.expected)}" if p.expected else "")
            if p.phase in (LOGGING_IN, LISTING) and not p.expected:
                messages = ""  # not counted yet: no "0" that looks like an empty mailbox
            if p.folder_count:
                folders = f"{p.folders_done} / {p.folder_count}"
            elapsed = time.monotonic() - p.started
            if elapsed > 0.5 and p.nbytes:
                speed = f"{size(p.nbytes / elapsed)}/s"
            if elapsed > 2 and 0.02 < p.fraction < 1:
                eta = clock(elapsed * (1 - p.fraction) / p.fraction)
        else:
            messages = f"0 / {number(p.expected)}" if p.expected else ""
        folder = p.phase
        if p.folder and p.result is None:
            folder = fit(p.folder, self.font, int(self.tree.column("folder", "width")) - 10)
        return (p.email, p.state, folder, folders, messages, speed, eta)

    def show(self, p: Progress) -> None:
        tag = {DONE: "done", FAILED: "failed", PROBLEMS: "problems", SCRIPT_FAILED: "problems",
               STOPPED: "stopped", DAY_OVER: "stopped"}.get(p.state, "")
        if p.outcome is not None:
            tag = "done" if p.outcome.ok else "failed"
        self.tree.item(p.email, values=self.values(p), tags=(tag,))

    def tick(self) -> None:
        """The overall bar, and the speed and time left, which move on between events."""
        if not self.rows:
            return
        fractions = [p.fraction for p in self.rows.values()]
        whole = sum(fractions) / len(fractions)
        self.overall.configure(value=int(whole * 1000))
        finished = sum(1 for p in self.rows.values()
                       if p.result is not None or p.outcome is not None)
        elapsed = time.monotonic() - self.started
        what = "users done" if self.passwords else "mailboxes finished"
        copied = sum(p.nbytes for p in self.rows.values())
        self.overall_label.configure(
            text=f"{finished} of {len(self.rows)} {what}  ·  {whole:.0%}  ·  "
                 + (f"{size(copied)} copied  ·  " if copied else "")
                 + f"elapsed {clock(elapsed)}")
        for p in self.rows.values():
            if p.state == MIGRATING:
                self.show(p)

    def show_stopping(self) -> None:
        self.stop_button.configure(state="disabled", text="Stopping…")
        tone(self.notice, "warning", "Stopping after the batch of messages in flight…"
             if not self.passwords else "Stopping: the logins in flight end, the users not "
             "yet checked are left as they are…")
