"""Step 4: the users file — preview, encoding, bad lines, selection, Check logins, Estimate.

The file is read by `core.accounts` exactly as `kimt migrate` reads it;
changing the encoding reads it again. When the source is 4D WebSTAR, the
users of its configuration (`core.webstar`, as the wizard hands it over)
take the file's place, and those left out are listed with the reason. Rows
are keyed by their position in the file and made once per file; the filters
(text, login result) only choose which are shown, so thousands of users
filter at once, and Select all / Unselect act on the rows shown. Check logins and Estimate run
`core.survey` in background threads (on the source server the wizard hands
over) and fill each row as its answer comes back, an unexpected error
included; a new survey or file drops the answers still on their way. With
security Detect, a survey detects it once first and asks every user with that.
Passwords are shown as dots. "Advanced: folders…" opens the folder choices
(`folders.FolderDialog`); Estimate counts only what they let through, and
new choices drop an estimate made under the old ones. The run options (a
post-migrate script, or "Passwords only") are a section of their own,
`run_options.RunOptions`, whose values the page passes on. The page gives
the wizard its values (`accounts`, `selected()`, `expected_messages()`,
`folder_rules()`, `post_migrate()`, `passwords_only()`) and asks it to start
the run.
"""

from __future__ import annotations

import os
import tkinter as tk
from collections.abc import Callable
from pathlib import Path
from tkinter import filedialog

import ttkbootstrap as ttk

from ..core import survey
from ..core.accounts import ENCODING_CHOICES, ENCODING_LABELS, Account, AccountList, read_accounts
from ..core.detect import detect
from ..core.errors import KimtError
from ..core.folder_rules import FolderRules
from ..core.report import number, plural, size
from ..core.servers import AUTO, ServerConfig
from ..core.webstar import WebstarConfig
from .common import PAD, FieldError, Latest, Page, PageHost, autowrap, scrolled_table, tone
from .folders import FolderChoices, FolderDialog
from .layout import Flow, documents_folder, fit_columns
from .run_options import RunOptions
from .tooltip import CellTips

CHECKED, UNCHECKED = "☑", "☐"
# The table shows everyone, or only the users whose login (Check logins) came out so.
LOGIN_FILTERS = ("All logins", "Failed logins", "Working logins", "Logins not checked")
COLUMNS = (("use", "", 30), ("address", "Address", 170), ("name", "Full name", 120),
           ("password", "Password", 84), ("login", "Login", 140), ("folders", "Folders", 72),
           ("messages", "Messages", 90), ("size", "Size", 76))
LARGE_USERS, LARGE_BYTES = 50, 20 * 2**30
SHOWN_PROBLEMS = 5


def short_reason(reason: str) -> str:
    """'login failed for a@x.cz on host: [AUTHENTICATIONFAILED] …' -> the part after ': '."""
    head, sep, tail = reason.partition(": ")
    return tail if sep and head.startswith("login failed for ") else reason


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
        self.checked: set[int] = set()
        self.logins: dict[int, survey.LoginCheck | None] = {}  # None: being checked
        self.estimates: dict[int, survey.Estimate] = {}
        self.estimating: set[int] = set()
        self.survey_answers = Latest()
        self.columnconfigure(0, weight=1)
        self.rowconfigure(3, weight=1)

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

        bar = Flow(self, gap=6)  # on two lines in a narrow window
        bar.grid(row=1, column=0, sticky="we", pady=(PAD / 2, 4))
        bar.add(ttk.Label(bar, text="Filter:"))
        self.filter = tk.StringVar()
        self.filter.trace_add("write", lambda *a: self.fill())
        self.filter_entry = bar.add(ttk.Entry(bar, textvariable=self.filter, width=14))
        self.login_filter = tk.StringVar(value=LOGIN_FILTERS[0])
        self.login_filter_box = bar.add(ttk.Combobox(
            bar, textvariable=self.login_filter, values=LOGIN_FILTERS, state="readonly",
            width=max(len(f) for f in LOGIN_FILTERS)))
        self.login_filter_box.bind("<<ComboboxSelected>>", lambda e: self.fill())
        self.all_button = bar.add(ttk.Button(bar, text="Select all",
                                             bootstyle="secondary-outline",
                                             command=lambda: self.select_shown(True)), gap=PAD)
        self.none_button = bar.add(ttk.Button(bar, text="Select none",
                                              bootstyle="secondary-outline",
                                              command=lambda: self.select_shown(False)))
        self.bar = bar

        table, self.tree = scrolled_table(
            self, COLUMNS, numeric=("folders", "messages", "size"),
            stretch=("address", "login"), selectmode="browse", minwidth=40,
            tags={"failed": "#b02a37", "ok": "#146c43"}, centered=("use",), across=True)
        table.grid(row=3, column=0, sticky="nsew")
        # Over the empty table when the filter lets nobody through: says so.
        self.empty_label = ttk.Label(table, text="", bootstyle="secondary")
        self.shown_rows: list[int] = []  # the rows the filters let through
        self.rows_made = 0  # rows 0 … this-1 are in the table, shown or not
        self.tree.bind("<Button-1>", self.clicked)
        self.tree.bind("<space>", lambda e: self.toggle(self.tree.focus()))
        self.login_tips = CellTips(self.tree, self.login_tip)  # a failed login's whole reason
        self.details = autowrap(ttk.Label(self, text="", justify="left"))
        self.details.grid(row=4, column=0, sticky="we")
        self.selection_error = FieldError(self)
        self.selection_error.grid(row=5, column=0, sticky="w")

        actions = ttk.Frame(self)
        actions.grid(row=6, column=0, sticky="we", pady=(4, 0))
        self.check_button = ttk.Button(actions, text="Check logins", command=self.check_logins,
                                       bootstyle="primary-outline")
        self.check_button.pack(side="left")
        self.estimate_button = ttk.Button(actions, text="Estimate", command=self.estimate,
                                          bootstyle="primary-outline")
        self.estimate_button.pack(side="left", padx=(6, 0))
        self.unselect_failed_button = ttk.Button(  # beside the check that finds them
            actions, text="Unselect failed logins", bootstyle="secondary-outline",
            command=self.unselect_failed)
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
        self.survey_label.grid(row=7, column=0, sticky="we", pady=(4, 0))
        self.workers = tk.IntVar(value=wizard.settings.workers)
        self.workers_box = ttk.Spinbox(actions, from_=1, to=16, width=3,
                                       textvariable=self.workers)
        self.workers_box.pack(side="right")
        ttk.Label(actions, text="Mailboxes at the same time:").pack(side="right", padx=(0, 6))
        folders = ttk.Frame(self)
        folders.grid(row=8, column=0, sticky="we", pady=(PAD / 2, 0))
        self.folders_button = ttk.Button(folders, text="Advanced: folders…",
                                         command=self.open_folders,
                                         bootstyle="secondary-outline")
        self.folders_button.pack(side="left")
        self.folders_label = ttk.Label(folders, text=self.choices.summary())
        self.folders_label.pack(side="left", padx=(6, 0))
        self.run_options = RunOptions(self, wizard, beside=folders, on_change=self.changed,
                                      copy_widgets=(self.folders_button,))
        self.run_options.grid(row=9, column=0, sticky="we", pady=(PAD / 2, 0))
        self.hint = autowrap(ttk.Label(self, text="", bootstyle="secondary", justify="left"))
        self.hint.grid(row=10, column=0, sticky="we", pady=(PAD / 2, 0))
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
        self.fill()

    def use(self, accounts: AccountList, keep: set[str] | None = None) -> None:
        """These users, all selected (or those in `keep`); answers about others dropped."""
        self.accounts = accounts
        self.survey_answers.forget()
        self.logins.clear()
        self.estimates.clear()
        self.estimating.clear()
        tone(self.survey_label, "default", "")  # it was about the last users
        tone(self.details, "default", "")
        self.checked = {i for i, a in enumerate(accounts.accounts)
                        if keep is None or a.email.casefold() in keep}
        self.populate()
        if keep is None:  # another file: its list starts unfiltered (the same one re-read
            self.filter.set("")  # in another encoding keeps what the admin chose)
            self.login_filter.set(LOGIN_FILTERS[0])

    def first_field(self) -> tk.Widget | None:
        """Load CSV… until a file is loaded, then the filter."""
        if self.accounts is None and self.webstar_config is None:
            return self.load_button
        return self.filter_entry

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
            self.fill()

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
        self.fill()

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

    # -- the table ----------------------------------------------------------------------

    def shown(self) -> list[tuple[int, Account]]:
        """The rows the filters let through, in the file's order."""
        if not self.accounts:
            return []
        needle = self.filter.get().strip().casefold()
        which = self.login_filter.get()
        login_ok = {LOGIN_FILTERS[1]: False, LOGIN_FILTERS[2]: True}.get(which)

        def wanted(i: int, a: Account) -> bool:
            if needle and needle not in a.email.casefold() \
                    and needle not in a.full_name.casefold():
                return False
            if which == LOGIN_FILTERS[0]:
                return True
            login = self.logins.get(i)
            if which == LOGIN_FILTERS[3]:
                return not isinstance(login, survey.LoginCheck)
            return isinstance(login, survey.LoginCheck) and login.ok == login_ok

        return [(i, a) for i, a in enumerate(self.accounts.accounts) if wanted(i, a)]

    def populate(self) -> None:
        """A row for every user, made once per file: filtering only shows some of them
        (thousands of rows are not made again at every key typed in the filter)."""
        self.tree.delete(*(str(i) for i in range(self.rows_made)))  # the hidden ones too
        self.shown_rows = []
        self.rows_made = len(self.accounts.accounts) if self.accounts else 0
        for i, account in enumerate(self.accounts.accounts if self.accounts else []):
            self.tree.insert("", "end", iid=str(i), values=self.row(i, account),
                             tags=self.tags(i))
            self.shown_rows.append(i)
        accounts = self.accounts.accounts if self.accounts else []
        fit_columns(self.tree, {"address": [a.email for a in accounts],
                                "name": [a.full_name for a in accounts]}, COLUMNS)

    def fill(self) -> None:
        """Show the rows the filters let through, from the top of the list."""
        rows = [i for i, _ in self.shown()]
        if rows != self.shown_rows:
            self.tree.set_children("", *(str(i) for i in rows))
            self.shown_rows = rows
        self.tree.yview_moveto(0)
        self.show_empty()
        self.update_counts()
        self.changed()

    def show_empty(self) -> None:
        """Over an empty table: why it is empty, when the filters hide everyone."""
        if self.shown_rows or not self.accounts or not self.accounts.accounts:
            self.empty_label.place_forget()
            return
        needle = self.filter.get().strip()
        text = (f"No user matches “{needle}”" if needle else "No user")
        if self.login_filter.get() != LOGIN_FILTERS[0]:
            text += f" among the {self.login_filter.get().lower()}"
        self.empty_label.configure(text=text + ".")
        self.empty_label.place(relx=0.5, rely=0.4, anchor="center")

    def row(self, i: int, account: Account) -> tuple:
        login = self.logins.get(i, "")
        if login is None:
            login_text = "checking…"
        elif isinstance(login, survey.LoginCheck):
            login_text = "ok" if login.ok else f"failed: {short_reason(login.reason)}"
        else:
            login_text = ""
        est = self.estimates.get(i)
        figures = ("", "", "")
        if est is not None and est.ok:
            figures = (number(est.folders), number(est.messages), size(est.bytes))
        elif est is None and i in self.estimating:
            figures = ("…", "…", "…")
        return (CHECKED if i in self.checked else UNCHECKED, account.email, account.full_name,
                "•" * 8 if account.password else "(none)", login_text, *figures)

    def tags(self, i: int) -> tuple[str, ...]:
        login = self.logins.get(i)
        if isinstance(login, survey.LoginCheck):
            return ("ok",) if login.ok else ("failed",)
        return ()

    def refresh_row(self, i: int) -> None:
        if self.accounts and self.tree.exists(str(i)):
            self.tree.item(str(i), values=self.row(i, self.accounts.accounts[i]),
                           tags=self.tags(i))

    def clicked(self, event: tk.Event) -> str | None:
        if self.tree.identify_region(event.x, event.y) != "cell":
            return None
        iid = self.tree.identify_row(event.y)
        if iid:
            self.tree.focus(iid)
            self.tree.selection_set(iid)
            self.toggle(iid)
            self.show_details(int(iid))
        return "break"

    def login_tip(self, iid: str, column: str) -> str | None:
        """The tip of a Login cell: the whole reason a login failed, as the server said it."""
        login = self.logins.get(int(iid)) if column == "login" else None
        return login.reason if isinstance(login, survey.LoginCheck) and not login.ok else None

    def show_details(self, i: int) -> None:
        """The whole answer for one row (the table has room for only the start of it)."""
        login, est = self.logins.get(i), self.estimates.get(i)
        if isinstance(login, survey.LoginCheck) and not login.ok:
            tone(self.details, "danger", login.reason)
        elif est is not None and est.ok:
            tone(self.details, "muted", f"{est.email}: {est.describe()}")
        else:
            tone(self.details, "default", "")

    def toggle(self, iid: str) -> None:
        if not iid:
            return
        i = int(iid)
        self.checked.symmetric_difference_update({i})
        self.refresh_row(i)
        self.update_counts()
        self.changed()

    def select_shown(self, on: bool) -> None:
        """Select (or unselect) the rows shown: with a filter, only those."""
        for i in self.shown_rows:
            if (i in self.checked) != on:
                (self.checked.add if on else self.checked.discard)(i)
                self.refresh_row(i)
        self.update_counts()
        self.changed()

    def failed_logins(self) -> list[int]:
        return [i for i, login in self.logins.items()
                if isinstance(login, survey.LoginCheck) and not login.ok]

    def unselect_failed(self) -> None:
        """Leave out every user whose login failed (shown or not): their migration would
        fail the same way."""
        for i in self.failed_logins():
            if i in self.checked:
                self.checked.discard(i)
                self.refresh_row(i)
        self.update_counts()
        self.changed()

    def selected(self) -> list[Account]:
        if not self.accounts:
            return []
        return [a for i, a in enumerate(self.accounts.accounts) if i in self.checked]

    def next_note(self) -> str:
        total = len(self.accounts.accounts) if self.accounts else 0
        return f"{number(len(self.checked))} of {number(total)} selected" if total else ""

    def update_counts(self) -> None:
        total = len(self.accounts.accounts) if self.accounts else 0
        chosen = len(self.checked)
        state = "normal" if chosen else "disabled"
        self.check_button.configure(state=state)
        self.estimate_button.configure(state=state)
        shown = len(self.shown_rows)
        filtered = shown != total
        self.all_button.configure(text=f"Select all {number(shown)} shown" if filtered
                                  else "Select all", state="normal" if shown else "disabled")
        self.none_button.configure(text=f"Unselect {number(shown)} shown" if filtered
                                   else "Select none", state="normal" if shown else "disabled")
        failed = sum(1 for i in self.failed_logins() if i in self.checked)
        self.unselect_failed_button.configure(
            text=f"Unselect {plural(failed, 'failed login')}" if failed
            else "Unselect failed logins", state="normal" if failed else "disabled")
        self.bar.arrange()  # the buttons' texts changed their widths
        known = [e for i, e in self.estimates.items() if i in self.checked and e.ok]
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
        if self.estimates or self.estimating:
            self.survey_answers.forget()
            self._forget_unanswered()
            self.estimates.clear()
            for i in list(self.logins):
                self.refresh_row(i)
            tone(self.survey_label, "muted", "The folder choices changed: press Estimate "
                                             "again to count what will be copied.")
            self.update_counts()

    def folder_rules(self) -> FolderRules:
        """The folder choices as the run takes them (checked when they were chosen)."""
        return self.choices.rules()

    def public_into(self) -> str | None:
        """The mailbox the source's public folders go into (None: left out and listed)."""
        return self.choices.public_into or None

    # -- checks -------------------------------------------------------------------------

    def check_logins(self) -> None:
        self._survey(estimate=False)

    def estimate(self) -> None:
        self._survey(estimate=True)

    def _survey(self, estimate: bool) -> None:
        config = self.wizard.source_config()
        if config is None:
            tone(self.survey_label, "danger", "Fix the source server page first.")
            return
        if not self.accounts:
            return
        wanted = self.survey_answers.ask()  # an earlier survey's answers are dropped now
        self._forget_unanswered()
        if config.security == AUTO:  # decided once for the whole survey, as a run does
            tone(self.survey_label, "default", "Detecting the old server's security…")
            self.wizard.tasks.run(
                detect, config, done=lambda found: self._ask_each(found.config, estimate, wanted),
                failed=lambda e: tone(self.survey_label, "danger", str(e) if isinstance(
                    e, KimtError) else f"Unexpected error: {e}"), wanted=wanted)
            return
        self._ask_each(config, estimate, wanted)

    def _ask_each(self, config: ServerConfig, estimate: bool, wanted: Callable[[], bool]
                  ) -> None:
        """Check (and estimate) every selected user, each in its own task."""
        if not self.accounts:
            return
        todo = [(i, a) for i, a in enumerate(self.accounts.accounts) if i in self.checked]
        left = {"n": len(todo), "failed": 0}
        verb = "Estimating" if estimate else "Checking logins"
        tone(self.survey_label, "default", f"{verb}: 0 of {len(todo)} done…")
        for button in (self.check_button, self.estimate_button):
            button.configure(state="disabled")

        def answered(i: int, login: survey.LoginCheck, found: survey.Estimate | None) -> None:
            self.logins[i] = login
            self.estimating.discard(i)
            if found is not None and found.ok:
                self.estimates[i] = found
            left["n"] -= 1
            left["failed"] += not login.ok
            self.refresh_row(i)
            done = len(todo) - left["n"]
            text = f"{verb}: {done} of {len(todo)} done"
            if left["failed"]:
                text += f", {plural(left['failed'], 'login')} failed"
            if not left["n"]:
                text = (f"{len(todo) - left['failed']} of {len(todo)} logins work"
                        + (f"; {left['failed']} failed (see the Login column)"
                           if left["failed"] else "."))
                if estimate:
                    est = [self.estimates[i] for i, _ in todo if i in self.estimates]
                    text += (f"  Estimate: {plural(sum(e.messages for e in est), 'message')}, "
                             f"{size(sum(e.bytes for e in est))}.")
                self.update_counts()
            tone(self.survey_label, "danger" if left["failed"] else "default", text)

        def crashed(i: int, account: Account, error: BaseException) -> None:
            # not the server's answer but KIMT's own failure: the row says so, in the row
            answered(i, survey.LoginCheck(account.email, False, f"unexpected error: {error}"),
                     None)

        rules = self.folder_rules()
        ask, both = ((lambda c, a: survey.check_and_estimate(c, a, rules), lambda r: r)
                     if estimate else (survey.check_login, lambda r: (r, None)))
        for i, account in todo:
            self.logins[i] = None
            if estimate:
                self.estimating.add(i)
                self.estimates.pop(i, None)
            self.wizard.tasks.run(ask, config, account,
                                  done=lambda r, i=i: answered(i, *both(r)),
                                  failed=lambda e, i=i, a=account: crashed(i, a, e),
                                  wanted=wanted)
            self.refresh_row(i)

    def _forget_unanswered(self) -> None:
        """Rows still waiting for a dropped survey's answer show nothing, not "checking…"."""
        waiting = {i for i, login in self.logins.items() if login is None} | self.estimating
        for i in waiting:
            self.logins.pop(i, None)
        self.estimating.clear()
        for i in waiting:
            self.refresh_row(i)

    # -- the wizard ---------------------------------------------------------------------

    def problem(self) -> str | None:
        text = None
        if self.accounts is None:
            text = "Load the users file (CSV) first: press Load CSV…"
        elif not self.accounts.accounts and self.webstar_config is not None:
            text = "No user of the 4D configuration can be migrated: see why above"
        elif not self.accounts.accounts:
            text = "The file has no usable users: fix the lines listed above"
        elif not self.checked:
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
        return {self.accounts.accounts[i].email: e.messages for i, e in self.estimates.items()
                if e.ok}

    def on_next(self) -> bool:
        self.wizard.settings.workers = self.workers_count()
        self.run_options.remember()
        reason = self.wizard.start_run(self.selected(), self.workers_count())
        self.selection_error.show(reason)
        return reason is None
