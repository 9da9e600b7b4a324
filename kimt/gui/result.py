"""Step 6: what happened — totals, what is not complete and why, the logs, Run again.

The words come from `core.report` (number, size, duration, verdict,
finish_line), so the page says what the Report log says; so do the Kerio
account lines (`core.provision`), which never show a generated password.
Run again repeats the same selection: the engine copies only what is
missing, so it finishes a stopped or failed run. Once a mailbox is complete
the button reads "Finish migration" (IceWarp's word for it): after the
cut-over the same run copies mail that arrived on the old server since and
carries its flag changes over, and this page then shows that per user.
A passwords-only run shows its outcomes instead (`show_passwords`): what
was not set, and why. A run that could not start because of a server's
settings (unreachable, its certificate not trusted, the admin refused)
offers a button back to that server's page, where it is fixed.
"""

from __future__ import annotations

import tkinter as tk
from pathlib import Path
from tkinter import filedialog

import ttkbootstrap as ttk

from ..core.errors import KimtError
from ..core.events import DONE, PROBLEMS, SCRIPT_FAILED, RunFinished
from ..core.logs import copy_report
from ..core.passwords import PasswordsFinished
from ..core.passwords import summary as passwords_summary
from ..core.provision import (
    CREATED,
    EXISTING,
    REFUSED,
    ProvisionResult,
    domain_words,
    outcome_words,
    summary,
)
from ..core.report import (
    day_over_advice,
    duration,
    finish_line,
    number,
    plural,
    size,
    source_messages,
    state_counts,
    verdict,
)
from .common import PAD, Page, PageHost, autowrap, tone, wrappable_fingerprints
from .logview import (
    LogViewer,
    Words,
    open_folder,
    path_field,
    selectable,
    set_path,
    show_log,
)

SHOWN_ACCOUNTS = 8  # addresses named per line; the Report log lists every one


class ResultPage(Page):
    title = "Result"
    next_label = "Close"

    @property
    def subtitle(self) -> str:  # type: ignore[override]
        what = ("Passwords only is" if isinstance(self.finished, PasswordsFinished)
                else "The migration is")
        return f"{what} over. The Report log lists every user and every problem."

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, wizard)
        self.finished: RunFinished | PasswordsFinished | None = None
        self.report_path = self.debug_path = self.log_dir = None
        self.columnconfigure(0, weight=1)
        self.rowconfigure(4, weight=1)
        self.headline = Words(self, font="-size 13 -weight bold")  # selectable: a path
        self.headline.grid(row=0, column=0, sticky="we")

        grid = self.figures_frame = ttk.Frame(self)
        grid.grid(row=1, column=0, sticky="we", pady=(PAD, 0))
        # The values share the page's width and wrap at the width they get: in a narrow
        # window (or one whose page scrolls) a long value takes two lines, never cut.
        grid.columnconfigure((1, 3), weight=1, uniform="values")
        self.figures: dict[str, ttk.Label] = {}
        names = ("Time", "Users", "Folders", "Messages on the source", "Copied",
                 "Already on the destination", "Size copied", "Skipped messages")
        for n, name in enumerate(names):
            row, col = n % 4, (n // 4) * 2
            ttk.Label(grid, text=name + ":", bootstyle="secondary").grid(
                row=row, column=col, sticky="w", padx=(0 if col == 0 else PAD * 3, 8), pady=1)
            value = autowrap(ttk.Label(grid, text="", font="-weight bold", justify="left"))
            value.grid(row=row, column=col + 1, sticky="we", pady=1)
            self.figures[name] = value

        self.accounts_label = autowrap(ttk.Label(self, text="", justify="left"))
        self.accounts_label.grid(row=2, column=0, sticky="we", pady=(PAD, 0))
        self.box_label = ttk.Label(self, text="Not complete (each with the reason):")
        self.box_label.grid(row=3, column=0, sticky="w", pady=(PAD, 2))
        box = ttk.Frame(self)
        box.grid(row=4, column=0, sticky="nsew")
        box.columnconfigure(0, weight=1)
        box.rowconfigure(0, weight=1)
        self.problems = selectable(tk.Text(box, height=6, wrap="word", relief="flat", padx=8,
                                           pady=6))
        self.problems.grid(row=0, column=0, sticky="nsew")
        scroll = ttk.Scrollbar(box, orient="vertical", command=self.problems.yview)
        scroll.grid(row=0, column=1, sticky="ns")
        self.problems.configure(yscrollcommand=scroll.set, state="disabled")

        logs = ttk.Frame(self)
        logs.grid(row=5, column=0, sticky="we", pady=(PAD, 0))
        self.report_button = ttk.Button(logs, text="Open Report log", bootstyle="primary",
                                        command=lambda: self.show_log("Report log"))
        self.report_button.pack(side="left")
        self.debug_button = ttk.Button(logs, text="Open Debug log", bootstyle="secondary",
                                       command=lambda: self.show_log("Debug log"))
        self.debug_button.pack(side="left", padx=(6, 0))
        self.folder_button = ttk.Button(logs, text="Open log folder", bootstyle="secondary",
                                        command=self.open_folder)
        self.folder_button.pack(side="left", padx=(6, 0))
        self.save_button = ttk.Button(logs, text="Save a copy…", bootstyle="secondary-outline",
                                      command=self.save_copy)
        self.save_button.pack(side="left", padx=(6, 0))
        self.again_button = ttk.Button(logs, text="Run again", bootstyle="success",
                                       command=self.run_again)
        self.again_button.pack(side="right")
        self.fix_button = ttk.Button(self, text="", bootstyle="primary",
                                     command=lambda: self.wizard.show_server(self.fix_on))
        self.fix_on = ""
        self.again_hint = autowrap(ttk.Label(self, text="", bootstyle="secondary",
                                             justify="right", anchor="e"))
        self.again_hint.grid(row=6, column=0, sticky="we", pady=(4, 0))
        self.error_label = autowrap(ttk.Label(self, text="", bootstyle="danger"))
        self.error_label.grid(row=7, column=0, sticky="we")
        where = ttk.Frame(self)  # a path that can be selected and copied (`path_field`)
        where.grid(row=8, column=0, sticky="we", pady=(4, 0))
        where.columnconfigure(1, weight=1)
        self.path_label = ttk.Label(where, text="Logs of this run:", bootstyle="secondary")
        self.path_label.grid(row=0, column=0, sticky="w", padx=(0, 6))
        self.path_entry = path_field(where)
        self.path_entry.grid(row=0, column=1, sticky="we")
        self.viewers: dict[Path, LogViewer] = {}  # open log windows, by file

    def show_log(self, kind: str) -> None:
        """The run's Report or Debug log in KIMT's own window (`logview`)."""
        path = self.report_path if kind == "Report log" else self.debug_path
        if path is not None:
            show_log(self, self.viewers, path, kind)

    def open_folder(self) -> None:
        if self.log_dir is not None:
            tone(self.error_label, "danger", open_folder(self.log_dir, "below"))

    def clear(self) -> None:
        """A new run starts: nothing of the last one stays (its logs, figures, lines);
        the log windows already open stay, each named after its run's folder."""
        self.finished = None
        self.report_path = self.debug_path = self.log_dir = None
        tone(self.headline, "default", "")
        for value in self.figures.values():
            value.configure(text="")
        self.accounts_label.configure(text="")
        self._problems([], "")
        self.again_hint.configure(text="")
        self.error_label.configure(text="")
        self.path_label.configure(text="Logs of this run:")
        set_path(self.path_entry, None)

    def save_copy(self) -> None:
        """A copy of the Report where the admin wants it (as `--log-file` does)."""
        if self.report_path is None:
            return
        chosen = filedialog.asksaveasfilename(
            parent=self, title="Save a copy of the Report log", initialfile="report.log",
            defaultextension=".log", filetypes=[("Report log", "*.log *.txt"), ("All", "*")])
        if not chosen:
            return
        try:
            where = copy_report(self.report_path, chosen)
        except KimtError as e:
            tone(self.error_label, "danger", str(e))
            return
        tone(self.error_label, "ok", "A copy of the Report log is saved (readable by you "
                                     "alone); its path is below.")
        self.path_label.configure(text="Copy of the Report log:")
        set_path(self.path_entry, where)

    def run_again(self) -> None:
        tone(self.error_label, "danger", self.wizard.run_again() or "")

    def _logs_of(self, finished: RunFinished | PasswordsFinished) -> None:
        self.finished = finished
        self.fix_on = getattr(finished, "fix_on", "")  # the server whose settings failed it
        if self.fix_on:
            self.fix_button.configure(text=f"Change the {self.fix_on} server settings")
            self.fix_button.grid(row=9, column=0, sticky="w", pady=(PAD, 0))
        else:
            self.fix_button.grid_remove()
        self.error_label.configure(text="")
        self.report_path, self.debug_path, self.log_dir = (
            Path(p) if p else None
            for p in (finished.report_path, finished.debug_path, finished.log_dir))
        self.path_label.configure(text="Logs of this run:")
        set_path(self.path_entry, self.log_dir)

    def _problems(self, lines: list[str], nothing: str) -> None:
        self.problems.configure(state="normal")
        self.problems.delete("1.0", "end")
        self.problems.insert("1.0", "\n".join(lines) if lines else nothing)
        self.problems.configure(state="disabled")

    def show_passwords(self, finished: PasswordsFinished) -> None:
        """A passwords-only run: each user's outcome not set, in the Report's words."""
        self._logs_of(finished)
        self.figures_frame.grid_remove()  # no mail figures: no mail was copied
        self.show_accounts(None)
        if finished.fatal:
            head, style = f"No password was set: {finished.fatal}", "danger"
        else:
            head, style = passwords_summary(finished.outcomes), "ok" if finished.ok else "warning"
        tone(self.headline, style, head)
        lines = [finished.fatal] if finished.fatal else []
        lines += [f"{o.email}: {o.words()}" for o in finished.outcomes if not o.ok]
        self.box_label.configure(text="Not set (each with the reason):")
        self._problems(lines, "Nothing: every password is set or already the same.")
        self.again_button.configure(text="Run again")
        self.again_hint.configure(text="Run again checks the selected users' passwords once "
                                       "more; those already the same are left as they are. "
                                       "No mail is copied.")

    def show_run(self, finished: RunFinished) -> None:
        self._logs_of(finished)
        self.figures_frame.grid()
        results = finished.results
        complete = sum(1 for r in results if r.mail_state == DONE)
        script_failed = sum(1 for r in results if r.state == SCRIPT_FAILED)
        if finished.fatal:
            # (said once: the engine's words may end by saying it too, for the CLI)
            fatal = finished.fatal.removesuffix(" Nothing was copied.")
            # its first sentence: the whole of it (a fingerprint, what to do) is below
            head, style = f"Nothing was copied: {first_sentence(fatal)}", "danger"
        elif finished.stopped:
            head, style = ("Stopped. Run again to finish: nothing is copied twice.", "warning")
        elif complete == len(results):
            head, style = ("The mailbox is complete on the destination." if len(results) == 1
                           else f"All {len(results)} mailboxes are complete on the destination.",
                           "ok" if not script_failed else "warning")
        elif complete == 0:  # ("0 of 2 are complete; the others…": there are no others)
            head, style = ("No mailbox is complete; each is listed below with the reason.",
                           "warning")
        else:
            head, style = (f"{complete} of {len(results)} mailboxes are complete; the "
                           "others are listed below.", "warning")
        day_over = day_over_advice(results)
        if day_over and not finished.fatal:  # when the same run may go on
            head += f" {day_over}"
        if script_failed and not finished.fatal:
            head += (" The post-migrate script failed for "
                     f"{plural(script_failed, 'mailbox', 'mailboxes')}, "
                     "listed below.")
        tone(self.headline, style, head)
        users = f"{len(results)}" + (f", {state_counts(results)}" if results else "")
        copied = sum(r.copied for r in results)
        values = {
            "Time": duration(finished.seconds),
            "Users": users,
            "Folders": number(sum(len(r.folders) for r in results)),
            "Messages on the source": source_messages(results),
            "Copied": number(copied),
            "Already on the destination": number(sum(r.already for r in results)),
            "Size copied": size(sum(r.bytes_copied for r in results)),
            "Skipped messages": number(sum(len(r.skipped) for r in results)),
        }
        for name, value in values.items():
            self.figures[name].configure(text=value)
        self.show_accounts(finished.accounts)
        lines = []
        if finished.fatal:
            lines.append(wrappable_fingerprints(finished.fatal))
        for r in results:
            if r.state != DONE:
                lines.append(f"{r.email}: {verdict(r)}")
            for s in r.skipped:
                lines.append(f"    skipped in '{s.folder}': \"{s.subject or '(no subject)'}\""
                             f" ({s.date or 'no date'}, {size(s.size)}): {s.reason}")
        webstar = self.wizard.webstar()
        if webstar is not None and not finished.fatal:  # never selectable: said here too
            lines += [f"not migrated from 4D WebSTAR: {line}" for line in webstar.left_out_lines()]
        news = [f"{r.email}: {finish_line(r)}" for r in results
                if r.rerun and r.mail_state in (DONE, PROBLEMS)]
        altered = sum(r.altered_total for r in results)
        if altered:
            news.append(f"{plural(altered, 'message')} "
                        f"{'was' if altered == 1 else 'were'} stored differently by the new "
                        "server (listed in the Report log): they are there and are never "
                        "copied again.")
        what = "needs attention" if script_failed else "is not complete"
        self.box_label.configure(
            text=("Since the last run" + (f", and what {what}:" if lines else ":"))
            if news else ("Needs attention" if script_failed else "Not complete")
            + " (each with the reason):")
        self._problems(news + lines, "Nothing: every selected mailbox is complete.")
        # Once a mailbox is complete, running again is how the migration is finished.
        finishing = any(r.mail_state == DONE or r.rerun for r in results)
        self.again_button.configure(text="Finish migration" if finishing else "Run again")
        self.again_hint.configure(
            text="Finish migration copies the mail that arrived on the old server since, "
                 "and its flag changes. Nothing is copied twice or deleted: KIMT's migration "
                 "journal (named in the Report log; deleting it is safe) remembers what "
                 "went where."
            if finishing else "Run again checks every selected mailbox and copies only "
                              "what is missing.")

    def show_accounts(self, provisioned: ProvisionResult | None) -> None:
        """What the Kerio step did, in the Report's words (never a password)."""
        if provisioned is None:
            self.accounts_label.configure(text="")
            self.accounts_label.grid_remove()
            return
        text = summary(provisioned)
        if provisioned.domains_created:
            text += "\nDomains created: " + ", ".join(provisioned.domains_created)
        for d in provisioned.domains:  # a 4D post office's domain that was not created
            if d.state != CREATED:
                text += f"\n{d.name}: {domain_words(d)}"
        for state in (CREATED, EXISTING):
            who = [o for o in provisioned.accounts if o.state == state]
            if who:
                words = outcome_words(who[0]).split(" (")[0]  # "created", "already there, …"
                names = ", ".join(o.email for o in who[:SHOWN_ACCOUNTS])
                more = len(who) - SHOWN_ACCOUNTS
                text += (f"\n{words.capitalize()}: {names}"
                         + (f" and {more} more (see the Report log)" if more > 0 else ""))
        refused = sum(o.state == REFUSED for o in provisioned.accounts)
        if refused:
            text += "\nNot created: listed below with Kerio's reason."
        self.accounts_label.grid()
        tone(self.accounts_label, "default", text)  # the headline already warns

    def problem_lines(self) -> str:
        return self.problems.get("1.0", "end").strip()


def first_sentence(text: str) -> str:
    """The first sentence of an engine's message (the headline: the rest is below)."""
    head, stop, _ = text.partition(". ")
    return head + "." if stop else text
