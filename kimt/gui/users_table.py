"""The users page's table: a row a user, filters that choose who is shown, the selection.

A module of its own because it is the one part of the page that must stay
fast with thousands of users, and it knows nothing of where they came from
(a users file or 4D WebSTAR: the page hands it a list, `show`) or of the
run. Rows are keyed by their position in that list and made once per list;
the filters (text, login result) only choose which are shown, so thousands
of users filter at once, and Select all / Unselect act on the rows shown.
Passwords are shown as dots. A row also shows what the old server
answered about its user (`logins`, `estimates`): `surveys.Survey` asks and
writes the answers here through `asking` / `answered`, because the login
filter, "Unselect failed logins" and a row's details read them. Whatever
changes the selection or the rows shown is said through `on_change`; the
page updates what follows from it.
"""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

import ttkbootstrap as ttk

from ..core import survey
from ..core.accounts import Account
from ..core.report import number, size
from .common import PAD, autowrap, scrolled_table, tone
from .layout import Flow, fit_columns
from .tooltip import CellTips

CHECKED, UNCHECKED = "☑", "☐"
# The table shows everyone, or only the users whose login (Check logins) came out so.
LOGIN_FILTERS = ("All logins", "Failed logins", "Working logins", "Logins not checked")
COLUMNS = (("use", "", 30), ("address", "Address", 170), ("name", "Full name", 120),
           ("password", "Password", 84), ("login", "Login", 140), ("folders", "Folders", 72),
           ("messages", "Messages", 90), ("size", "Size", 76))


def short_reason(reason: str) -> str:
    """'login failed for a@x.cz on host: [AUTHENTICATIONFAILED] …' -> the part after ': '."""
    head, sep, tail = reason.partition(": ")
    return tail if sep and head.startswith("login failed for ") else reason


class UsersTable(ttk.Frame):
    """The filter bar, the table and a row's whole answer under it."""

    def __init__(self, master: tk.Misc, on_change: Callable[[], None]):
        super().__init__(master)
        self.on_change = on_change  # the selection or the rows shown changed
        self.accounts: list[Account] = []
        self.checked: set[int] = set()
        self.logins: dict[int, survey.LoginCheck | None] = {}  # None: being checked
        self.estimates: dict[int, survey.Estimate] = {}
        self.estimating: set[int] = set()
        self.columnconfigure(0, weight=1)
        self.rowconfigure(1, weight=1)

        bar = Flow(self, gap=6)  # on two lines in a narrow window
        bar.grid(row=0, column=0, sticky="we", pady=(PAD / 2, 4))
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
        table.grid(row=1, column=0, sticky="nsew")
        # Over the empty table when the filter lets nobody through: says so.
        self.empty_label = ttk.Label(table, text="", bootstyle="secondary")
        self.shown_rows: list[int] = []  # the rows the filters let through
        self.rows_made = 0  # rows 0 … this-1 are in the table, shown or not
        self.tree.bind("<Button-1>", self.clicked)
        self.tree.bind("<space>", lambda e: self.toggle(self.tree.focus()))
        self.login_tips = CellTips(self.tree, self.login_tip)  # a failed login's whole reason
        self.details = autowrap(ttk.Label(self, text="", justify="left"))
        self.details.grid(row=2, column=0, sticky="we")
        self.count_shown()

    # -- the rows -----------------------------------------------------------------------

    def show(self, accounts: list[Account], keep: set[str] | None = None) -> None:
        """These users, all selected (or those in `keep`); answers about others dropped.
        Another list starts unfiltered (`keep`: the same one re-read, whose filters the
        admin chose stay)."""
        self.accounts = accounts
        self.logins.clear()
        self.estimates.clear()
        self.estimating.clear()
        tone(self.details, "default", "")
        self.checked = {i for i, a in enumerate(accounts)
                        if keep is None or a.email.casefold() in keep}
        self.populate()
        if keep is None:
            self.filter.set("")
            self.login_filter.set(LOGIN_FILTERS[0])

    def shown(self) -> list[tuple[int, Account]]:
        """The rows the filters let through, in the list's order."""
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

        return [(i, a) for i, a in enumerate(self.accounts) if wanted(i, a)]

    def populate(self) -> None:
        """A row for every user, made once per list: filtering only shows some of them
        (thousands of rows are not made again at every key typed in the filter)."""
        self.tree.delete(*(str(i) for i in range(self.rows_made)))  # the hidden ones too
        self.shown_rows = []
        self.rows_made = len(self.accounts)
        for i, account in enumerate(self.accounts):
            self.tree.insert("", "end", iid=str(i), values=self.row(i, account),
                             tags=self.tags(i))
            self.shown_rows.append(i)
        fit_columns(self.tree, {"address": [a.email for a in self.accounts],
                                "name": [a.full_name for a in self.accounts]}, COLUMNS)

    def fill(self) -> None:
        """Show the rows the filters let through, from the top of the list."""
        rows = [i for i, _ in self.shown()]
        if rows != self.shown_rows:
            self.tree.set_children("", *(str(i) for i in rows))
            self.shown_rows = rows
        self.tree.yview_moveto(0)
        self.show_empty()
        self.count_shown()
        self.on_change()

    def show_empty(self) -> None:
        """Over an empty table: why it is empty, when the filters hide everyone."""
        if self.shown_rows or not self.accounts:
            self.empty_label.place_forget()
            return
        needle = self.filter.get().strip()
        text = (f"No user matches “{needle}”" if needle else "No user")
        if self.login_filter.get() != LOGIN_FILTERS[0]:
            text += f" among the {self.login_filter.get().lower()}"
        self.empty_label.configure(text=text + ".")
        self.empty_label.place(relx=0.5, rely=0.4, anchor="center")

    def count_shown(self) -> None:
        """Select all / Select none say how many rows they act on when a filter hides some."""
        shown = len(self.shown_rows)
        filtered = shown != len(self.accounts)
        self.all_button.configure(text=f"Select all {number(shown)} shown" if filtered
                                  else "Select all", state="normal" if shown else "disabled")
        self.none_button.configure(text=f"Unselect {number(shown)} shown" if filtered
                                   else "Select none", state="normal" if shown else "disabled")
        self.bar.arrange()  # the buttons' texts changed their widths

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
            self.tree.item(str(i), values=self.row(i, self.accounts[i]), tags=self.tags(i))

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

    # -- the selection ------------------------------------------------------------------

    def toggle(self, iid: str) -> None:
        if not iid:
            return
        i = int(iid)
        self.checked.symmetric_difference_update({i})
        self.refresh_row(i)
        self.on_change()

    def select_shown(self, on: bool) -> None:
        """Select (or unselect) the rows shown: with a filter, only those."""
        for i in self.shown_rows:
            if (i in self.checked) != on:
                (self.checked.add if on else self.checked.discard)(i)
                self.refresh_row(i)
        self.on_change()

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
        self.on_change()

    def selected(self) -> list[Account]:
        return [a for i, a in enumerate(self.accounts) if i in self.checked]

    # -- the old server's answers -------------------------------------------------------

    def asking(self, i: int, estimate: bool) -> None:
        """Row `i` waits for an answer ("checking…", and "…" for an estimate)."""
        self.logins[i] = None
        if estimate:
            self.estimating.add(i)
            self.estimates.pop(i, None)

    def answered(self, i: int, login: survey.LoginCheck, found: survey.Estimate | None
                 ) -> None:
        self.logins[i] = login
        self.estimating.discard(i)
        if found is not None and found.ok:
            self.estimates[i] = found
        self.refresh_row(i)

    def forget_unanswered(self) -> None:
        """Rows still waiting for a dropped survey's answer show nothing, not "checking…"."""
        waiting = {i for i, login in self.logins.items() if login is None} | self.estimating
        for i in waiting:
            self.logins.pop(i, None)
        self.estimating.clear()
        for i in waiting:
            self.refresh_row(i)

    def forget_estimates(self) -> None:
        """Estimates made under folder choices that changed since."""
        self.estimates.clear()
        for i in list(self.logins):
            self.refresh_row(i)

    def selected_estimates(self) -> list[survey.Estimate]:
        """The estimates of the users selected, where one was made."""
        return [e for i, e in self.estimates.items() if i in self.checked and e.ok]
