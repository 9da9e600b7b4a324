"""Step 5: the migration as it runs — one row per mailbox, an overall bar, Stop.

A view of the run, which the wizard owns: it hands over the engine's events
as it drains them (`handle`, then `tick`) and tells the page when Stop was
asked for (`show_stopping`). A mailbox's progress is its finished folders
plus the current one; with an Estimate its messages are counted against the
estimated total, otherwise against its folders. Speed and ETA are computed
from the bytes copied and that fraction. A passwords-only run shows each
user's outcome instead (`PasswordOutcome`).
"""

from __future__ import annotations

import time
import tkinter as tk
from dataclasses import dataclass

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
    MailboxFinished,
    MailboxResult,
    MailboxStarted,
    Notice,
    RunFinished,
    RunStarted,
    ScriptStarted,
)
from ..core.passwords import PasswordOutcome
from ..core.report import number, size
from .common import PAD, Page, PageHost, autowrap, scrolled_table, tone

COLUMNS = (("address", "Address", 190), ("state", "State", 140), ("folder", "Folder", 150),
           ("messages", "Messages", 100), ("size", "Size", 70), ("speed", "Speed", 80),
           ("eta", "Time left", 80))


def clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


@dataclass
class Progress:
    email: str
    expected: int = 0  # messages estimated beforehand (0: unknown)
    state: str = WAITING
    folder: str = ""
    folder_number: int = 0
    folder_count: int = 0
    folder_done: int = 0
    folder_total: int = 0
    folder_bytes: int = 0
    done_before: int = 0  # messages of the finished folders
    bytes_before: int = 0
    started: float = 0.0
    result: MailboxResult | None = None
    outcome: PasswordOutcome | None = None  # passwords only: what was done with it

    @property
    def done(self) -> int:
        return self.done_before + self.folder_done

    @property
    def nbytes(self) -> int:
        return self.result.bytes_copied if self.result else self.bytes_before + self.folder_bytes

    @property
    def fraction(self) -> float:
        if self.result is not None or self.outcome is not None:
            return 1.0
        if self.expected:
            return min(1.0, self.done / self.expected)
        if not self.folder_count:
            return 0.0
        within = self.folder_done / self.folder_total if self.folder_total else 1.0
        return (self.folder_number - 1 + within) / self.folder_count


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
            self, COLUMNS, numeric=("messages", "size", "speed", "eta"),
            stretch=("address", "folder"), selectmode="none", minwidth=50,
            tags={"failed": "#b02a37", "done": "#146c43", "problems": "#997404",
                  "stopped": "#6c757d"})
        table.grid(row=2, column=0, sticky="nsew")

        bottom = ttk.Frame(self)
        bottom.grid(row=3, column=0, sticky="we", pady=(PAD, 0))
        self.stop_button = ttk.Button(bottom, text="Stop", command=self.wizard.stop_run,
                                      bootstyle="danger-outline")
        self.stop_button.pack(side="left")
        self.notice = autowrap(ttk.Label(bottom, text="", bootstyle="secondary",
                                         justify="left"))
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
                p.state, p.started = MIGRATING, time.monotonic()
                self.show(p)
            case FolderProgress(email=email):
                p = self.rows[email]
                if event.folder_number != p.folder_number:
                    p.done_before += p.folder_total if p.folder_number else 0
                    p.bytes_before += p.folder_bytes
                p.folder, p.folder_number, p.folder_count = (event.folder, event.folder_number,
                                                             event.folder_count)
                p.folder_done, p.folder_total, p.folder_bytes = (event.done, event.total,
                                                                 event.bytes_copied)
                self.show(p)
            case Notice(email=email, text=text):
                self.notice.configure(text=f"{email}: {text}")
            case PasswordOutcome(email=email):
                p = self.rows[email]
                p.state, p.outcome = event.state, event
                self.show(p)
            case ScriptStarted(email=email):
                p = self.rows[email]
                p.state, p.folder = RUNNING_SCRIPT, ""
                self.show(p)
            case MailboxFinished(result=result):
                p = self.rows.setdefault(result.email, Progress(result.email))
                p.state, p.result, p.folder = result.state, result, ""
                self.show(p)
            case RunFinished(fatal=fatal) if fatal:
                tone(self.notice, "danger", fatal)

    def values(self, p: Progress) -> tuple:
        if p.outcome is not None:
            return (p.email, p.state, p.outcome.reason, "", "", "", "")
        speed = eta = ""
        if p.result is not None:
            r = p.result
            messages = f"{number(r.copied + r.already)} / {number(r.total)}"
        elif p.state in (MIGRATING, RUNNING_SCRIPT):
            messages = number(p.done) + (f" / {number(p.expected)}" if p.expected else "")
            elapsed = time.monotonic() - p.started
            if elapsed > 0.5 and p.nbytes:
                speed = f"{size(p.nbytes / elapsed)}/s"
            if elapsed > 2 and 0.02 < p.fraction < 1:
                eta = clock(elapsed * (1 - p.fraction) / p.fraction)
        else:
            messages = f"0 / {number(p.expected)}" if p.expected else ""
        folder = (f"{p.folder} ({p.folder_number} of {p.folder_count})"
                  if p.folder and p.result is None else "")
        return (p.email, p.state, folder, messages, size(p.nbytes) if p.nbytes else "",
                speed, eta)

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
        self.overall_label.configure(
            text=f"{finished} of {len(self.rows)} {what}  ·  {whole:.0%}  ·  "
                 f"elapsed {clock(elapsed)}")
        for p in self.rows.values():
            if p.state == MIGRATING:
                self.show(p)

    def show_stopping(self) -> None:
        self.stop_button.configure(state="disabled", text="Stopping…")
        tone(self.notice, "warning", "Stopping after the batch of messages in flight…"
             if not self.passwords else "Stopping: the logins in flight end, the users not "
             "yet checked are left as they are…")
