"""Step 4: the users — the file (or 4D WebSTAR's users), who is chosen, how the run goes.

The page is the frame around three sections of its own and the values the
wizard takes from it; each section is a module: `users_table` (the rows,
the filters, the selection), `surveys` (Check logins and Estimate, the part
that reaches the network) and `run_options` (the post-migrate script,
"Passwords only"). What stays here is where the users come from and what
ties the sections together. The file is read by `core.accounts` exactly as
`kimt migrate` reads it; changing the encoding reads it again, keeping the
selection. When the source is 4D WebSTAR, the users of its configuration
(`core.webstar`, as the wizard hands it over) take the file's place, and
those left out are listed with the reason. Another file drops every answer
about the last one. "Advanced: folders…" opens the folder choices
(`folders.FolderDialog`); Estimate counts only what they let through, and
new choices drop an estimate made under the old ones. The page gives the
wizard its values (`accounts`, `selected()`, `expected_messages()`,
`folder_rules()`, `post_migrate()`, `passwords_only()`) and asks it to
start the run.
"""

from __future__ import annotations

import os
import tkinter as tk
from pathlib import Path
from tkinter import filedialog

import ttkbootstrap as ttk

from ..core.accounts import ENCODING_CHOICES, ENCODING_LABELS, Account, AccountList, read_accounts
from ..core.errors import KimtError
from ..core.folder_rules import FolderRules
from ..core.report import number, plural, size
from ..core.webstar import WebstarConfig
from .common import PAD, FieldError, Page, PageHost, autowrap, tone
from .folders import FolderChoices, FolderDialog
from .layout import documents_folder
from .run_options import RunOptions
from .surveys import Survey
from .users_table import UsersTable

LARGE_USERS, LARGE_BYTES = 50, 20 * 2**30
SHOWN_PROBLEMS = 5


class UsersPage(Page):
    title = "Users"

    @property
    def next_label(self) -> str:  # type: ignore[override]
        return "Set passwords" if self.passwords_only() else "Start migration"

    @property
    def subtitle(self) -> str:  # type: ignore[override]
        if self.wizard.webstar() is not None:
            return ("The users of 4D WebSTAR's post offices: choose who to migrate. Check "
                    "logins and Estimate are optional and only read 4D's IMAP service.")
        return ("Load the users file, then choose who to migrate. Check logins and Estimate "
                "are optional and only read the old server.")

    def __init__(self, master: tk.Misc, wizard: PageHost):
        super().__init__(master, wizard)
        self.webstar_config: WebstarConfig | None = None  # the users' source, instead of a file
        self.accounts: AccountList | None = None
        self.columnconfigure(0, weight=1)
        self.rowconfigure(1, weight=1)

        top = ttk.Frame(self)
        top.grid(row=0, column=0, sticky="we")
        top.columnconfigure(1, weight=1)
        self.load_button = ttk.Button(top, text="Load CSV…", command=self.choose_file,
                                      bootstyle="primary")
        self.load_button.grid(row=0, column=0, sticky="w")
        self.file_label = ttk.Label(top, text="No file loaded yet.", bootstyle="secondary")
        self.file_label.grid(row=0, column=1, sticky="w", padx=PAD)
        self.encoding_label = ttk.Label(top, text="Encoding:")
        self.encoding_label.grid(row=0, column=2, sticky="e")
        self.encoding = tk.StringVar()
        self.encoding_box = ttk.Combobox(  # as wide as its longest choice
            top, textvariable=self.encoding, state="disabled",
            width=max(len(ENCODING_LABELS[c]) for c in ENCODING_CHOICES) + 3,
            values=[ENCODING_LABELS[c] for c in ENCODING_CHOICES])
        self.encoding_box.grid(row=0, column=3, sticky="e", padx=(6, 0))
        self.encoding_box.bind("<<ComboboxSelected>>", lambda e: self.reread())
        self.file_error = FieldError(top)
        self.file_error.grid(row=1, column=0, columnspan=4, sticky="w")
        self.problems_label = autowrap(ttk.Label(top, text="", bootstyle="danger",
                                                 justify="left"))
        self.problems_label.grid(row=2, column=0, columnspan=4, sticky="we")

        self.table = UsersTable(self, on_change=self.selection_changed)
        self.table.grid(row=1, column=0, sticky="nsew")
        self.selection_error = FieldError(self)
        self.selection_error.grid(row=2, column=0, sticky="w")

        actions = ttk.Frame(self)
        actions.grid(row=3, column=0, sticky="we", pady=(4, 0))
        self.check_button = ttk.Button(actions, text="Check logins",
                                       bootstyle="primary-outline")
        self.check_button.pack(side="left")
        self.estimate_button = ttk.Button(actions, text="Estimate",
                                          bootstyle="primary-outline")
        self.estimate_button.pack(side="left", padx=(6, 0))
        self.unselect_failed_button = ttk.Button(  # beside the check that finds them
            actions, text="Unselect failed logins", bootstyle="secondary-outline",
            command=self.table.unselect_failed)
        self.unselect_failed_button.pack(side="left", padx=(6, 0))
        saved = wizard.settings
        self.choices = FolderChoices(tuple(saved.exclude_folders), tuple(saved.include_folders),
                                     tuple(saved.map_folders), saved.public_into)
        try:
            self.choices.rules()
        except KimtError:  # a settings file edited by hand: the choices are made again
            self.choices = FolderChoices()
        self.folder_dialog: FolderDialog | None = None
        self.survey_label = autowrap(ttk.Label(self, text="", justify="left"))
        self.survey_label.grid(row=4, column=0, sticky="we", pady=(4, 0))
        self.survey = Survey(wizard, self.table, self.survey_label,
                             (self.check_button, self.estimate_button), self.folder_rules,
                             on_done=self.update_counts)
        self.check_button.configure(command=self.survey.check_logins)
        self.estimate_button.configure(command=self.survey.estimate)
        self.workers = tk.IntVar(value=wizard.settings.workers)
        self.workers_box = ttk.Spinbox(actions, from_=1, to=16, width=3,
                                       textvariable=self.workers)
        self.workers_box.pack(side="right")
        ttk.Label(actions, text="Mailboxes at the same time:").pack(side="right", padx=(0, 6))
        folders = ttk.Frame(self)
        folders.grid(row=5, column=0, sticky="we", pady=(PAD / 2, 0))
        self.folders_button = ttk.Button(folders, text="Advanced: folders…",
                                         command=self.open_folders,
                                         bootstyle="secondary-outline")
        self.folders_button.pack(side="left")
        self.folders_label = ttk.Label(folders, text=self.choices.summary())
        self.folders_label.pack(side="left", padx=(6, 0))
        self.run_options = RunOptions(self, wizard, beside=folders, on_change=self.changed,
                                      copy_widgets=(self.folders_button,))
        self.run_options.grid(row=6, column=0, sticky="we", pady=(PAD / 2, 0))
        self.hint = autowrap(ttk.Label(self, text="", bootstyle="secondary", justify="left"))
        self.hint.grid(row=7, column=0, sticky="we", pady=(PAD / 2, 0))
        self.update_counts()

    def passwords_only(self) -> bool:
        return self.run_options.passwords_only()

    # -- the file -----------------------------------------------------------------------

    def choose_file(self) -> None:
        """The file dialog, in the folder of the last file, that file preselected (the
        first time: the documents folder)."""
        settings = self.wizard.settings
        last = Path(settings.csv_file) if settings.csv_file else None
        if last is not None and not last.is_file():
            last = None  # moved or deleted since: its folder, if that is still there
        folder = str(last.parent) if last is not None else settings.csv_folder
        path = filedialog.askopenfilename(
            parent=self, title="Users file (CSV)",
            initialdir=folder if folder and os.path.isdir(folder) else documents_folder(),
            initialfile=last.name if last is not None else None,
            filetypes=[("Users file", "*.csv *.txt"), ("All files", "*")])
        if path:
            self.load(path)

    def load(self, path: str, encoding: str | None = None) -> None:
        try:
            accounts = read_accounts(path, encoding)
        except KimtError as e:
            self.file_error.show(str(e))
            self.changed()
            return
        self.wizard.settings.csv_file = os.path.abspath(path)
        self.wizard.settings.csv_folder = os.path.dirname(os.path.abspath(path))
        keep = {a.email.casefold() for a in self.selected()} if encoding else None
        self.use(accounts, keep)
        self.file_error.show(None)
        tone(self.file_label, "default",
             f"{os.path.basename(path)}  —  {plural(len(accounts.accounts), 'user')}")
        self.encoding.set(ENCODING_LABELS.get(accounts.encoding, accounts.encoding))
        self.encoding_box.configure(state="readonly")
        self.show_problems()
        self.table.fill()

    def use(self, accounts: AccountList, keep: set[str] | None = None) -> None:
        """These users, all selected (or those in `keep`); answers about others dropped."""
        self.accounts = accounts
        self.survey.drop()
        tone(self.survey_label, "default", "")  # it was about the last users
        self.table.show(accounts.accounts, keep)

    def first_field(self) -> tk.Widget | None:
        """Load CSV… until a file is loaded, then the filter."""
        if self.accounts is None and self.webstar_config is None:
            return self.load_button
        return self.table.filter_entry

    # -- 4D WebSTAR -----------------------------------------------------------------------

    def on_show(self) -> None:
        config = self.wizard.webstar()
        if config is not None and config is not self.webstar_config:
            self.load_webstar(config)
        elif config is None and self.webstar_config is not None:  # back to an IMAP source
            self.webstar_config = None
            self.use(AccountList("", "", "", [], []))
            self.accounts = None
            for widget in (self.load_button, self.encoding_label, self.encoding_box):
                widget.grid()
            self.file_label.grid_configure(padx=PAD)
            tone(self.file_label, "muted", "No file loaded yet.")
            self.show_problems()
            self.table.fill()

    def load_webstar(self, config: WebstarConfig) -> None:
        """The users of the 4D configuration instead of a users file."""
        self.webstar_config = config
        self.use(AccountList(config.path, "", "", list(config.accounts), []))
        for widget in (self.load_button, self.encoding_label, self.encoding_box):
            widget.grid_remove()
        self.file_label.grid_configure(padx=0)  # where the button was
        self.file_error.show(None)
        tone(self.file_label, "default", f"4D WebSTAR: {config.counts()}")
        self.show_problems()
        self.table.fill()

    def reread(self) -> None:
        if self.accounts is None:
            return
        by_label = {label: codec for codec, label in ENCODING_LABELS.items()}
        self.load(self.accounts.path, by_label.get(self.encoding.get(), self.encoding.get()))

    def show_problems(self) -> None:
        if self.webstar_config is not None:
            left_out = self.webstar_config.left_out_lines()
            lines = [f"{plural(len(left_out), 'user')} of the 4D configuration "
                     f"{'is' if len(left_out) == 1 else 'are'} not migrated:"]
            lines += [f"   {line}" for line in left_out[:SHOWN_PROBLEMS]]
            if len(left_out) > SHOWN_PROBLEMS:
                lines.append(f"   … and {len(left_out) - SHOWN_PROBLEMS} more (a run's "
                             "Report log lists them all)")
            self.problems_label.configure(text="\n".join(lines) if left_out else "")
            return
        problems = self.accounts.problems if self.accounts else []
        if not problems:
            self.problems_label.configure(text="")
            return
        lines = [f"{plural(len(problems), 'line')} of the file "
                 f"{'is' if len(problems) == 1 else 'are'} left out:"]
        for p in problems[:SHOWN_PROBLEMS]:
            lines.append(f"   line {p.line}: {p.reason}" + (f"  ({p.excerpt})" if p.excerpt
                                                             else ""))
        if len(problems) > SHOWN_PROBLEMS:
            lines.append(f"   … and {len(problems) - SHOWN_PROBLEMS} more (a run's Report "
                         "log lists them all)")
        self.problems_label.configure(text="\n".join(lines))

    # -- the selection ------------------------------------------------------------------

    def selected(self) -> list[Account]:
        return self.table.selected()

    def selection_changed(self) -> None:
        """The table's selection or the rows it shows changed."""
        self.update_counts()
        self.changed()

    def next_note(self) -> str:
        total = len(self.accounts.accounts) if self.accounts else 0
        return f"{number(len(self.table.checked))} of {number(total)} selected" if total else ""

    def update_counts(self) -> None:
        """What the selection allows (Check logins, Estimate, Unselect failed logins), and
        the advice under the page when it is a large set."""
        table = self.table
        chosen = len(table.checked)
        state = "normal" if chosen else "disabled"
        self.check_button.configure(state=state)
        self.estimate_button.configure(state=state)
        failed = sum(1 for i in table.failed_logins() if i in table.checked)
        self.unselect_failed_button.configure(
            text=f"Unselect {plural(failed, 'failed login')}" if failed
            else "Unselect failed logins", state="normal" if failed else "disabled")
        known = table.selected_estimates()
        nbytes = sum(e.bytes for e in known)
        if chosen > LARGE_USERS or nbytes > LARGE_BYTES:
            text = (f"{number(chosen)} users" + (f", {size(nbytes)} estimated" if known else "")
                    + ": a large set. Migrate it in parts — filter by domain or select about "
                    f"{LARGE_USERS} users at a time, e.g. one part a night. Each part can be "
                    "run again later: only what is missing is copied.")
            tone(self.hint, "warning", text)
        else:
            tone(self.hint, "muted",
                 "Tip: for large migrations (many users or tens of GB), migrate in parts by "
                 "selecting some users at a time. A re-run only copies what is missing.")

    # -- folder choices -----------------------------------------------------------------

    def open_folders(self) -> None:
        self.folder_dialog = FolderDialog(self.winfo_toplevel(), self.choices,
                                          self.folders_chosen)

    def folders_chosen(self, choices: FolderChoices) -> None:
        """New choices: remembered; an estimate made under the old ones is dropped."""
        self.folder_dialog = None
        if choices == self.choices:
            return
        self.choices = choices
        saved = self.wizard.settings
        saved.exclude_folders, saved.include_folders, saved.map_folders = (
            list(choices.exclude), list(choices.include), list(choices.maps))
        saved.public_into = choices.public_into
        self.folders_label.configure(text=choices.summary())
        if self.table.estimates or self.table.estimating:
            self.survey.drop()
            self.table.forget_estimates()
            tone(self.survey_label, "muted", "The folder choices changed: press Estimate "
                                             "again to count what will be copied.")
            self.update_counts()

    def folder_rules(self) -> FolderRules:
        """The folder choices as the run takes them (checked when they were chosen)."""
        return self.choices.rules()

    def public_into(self) -> str | None:
        """The mailbox the source's public folders go into (None: left out and listed)."""
        return self.choices.public_into or None

    # -- the wizard ---------------------------------------------------------------------

    def problem(self) -> str | None:
        text = None
        if self.accounts is None:
            text = "Load the users file (CSV) first: press Load CSV…"
        elif not self.accounts.accounts and self.webstar_config is not None:
            text = "No user of the 4D configuration can be migrated: see why above"
        elif not self.accounts.accounts:
            text = "The file has no usable users: fix the lines listed above"
        elif not self.table.checked:
            text = "Select at least one user: click a row's box, or Select all"
        self.selection_error.show(text)
        options = self.run_options.problem()
        return text or options

    def post_migrate(self) -> dict:
        """The run's post-migrate script (keywords of `options.run_request`)."""
        return self.run_options.post_migrate()

    def workers_count(self) -> int:
        try:
            return max(1, min(16, int(self.workers.get())))
        except (tk.TclError, ValueError):
            return 4

    def expected_messages(self) -> dict[str, int]:
        """Messages per address from the last Estimate: what the run's progress counts to."""
        if not self.accounts:
            return {}
        return {self.accounts.accounts[i].email: e.messages
                for i, e in self.table.estimates.items() if e.ok}

    def on_next(self) -> bool:
        self.wizard.settings.workers = self.workers_count()
        self.run_options.remember()
        reason = self.wizard.start_run(self.selected(), self.workers_count())
        self.selection_error.show(reason)
        return reason is None
