"""Check logins and Estimate: the users page asks the old server about each selected user.

The one part of the users page that reaches the network, so the one that
deals in threads and late answers; a module of its own keeps that apart from
the table it fills (`users_table`) and from the page that lays out its
buttons and label. It runs `core.survey` through the wizard's tasks, one
task a user, on the source server the wizard hands over; each answer fills
its row as it comes back, an unexpected error included (the row says so).
With security Detect, the survey detects it once first and asks every user
with that, as a run does. "Latest answer wins" (`common.Latest`): a new
survey, users list or folder choice drops the answers still on their way
(`drop`), and the rows waiting for them show nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import ttkbootstrap as ttk

from ..core import survey
from ..core.accounts import Account
from ..core.detect import detect
from ..core.errors import KimtError
from ..core.folder_rules import FolderRules
from ..core.report import plural, size
from ..core.servers import AUTO, ServerConfig
from .common import Latest, PageHost, tone
from .users_table import UsersTable


class Survey:
    """Asks about the users selected in `table`; says how far it got on `label`.

    `buttons` (Check logins, Estimate) are disabled while it asks; `on_done` is
    called once every answer is in (the page enables what the selection allows).
    """

    def __init__(self, wizard: PageHost, table: UsersTable, label: ttk.Label,
                 buttons: tuple[ttk.Button, ...], folder_rules: Callable[[], FolderRules],
                 on_done: Callable[[], None]):
        self.wizard = wizard  # seen through PageHost, as by a page
        self.table = table
        self.label = label
        self.buttons = buttons
        self.folder_rules = folder_rules  # asked when the survey starts asking
        self.on_done = on_done
        self.answers = Latest()

    def check_logins(self) -> None:
        self._survey(estimate=False)

    def estimate(self) -> None:
        self._survey(estimate=True)

    def drop(self) -> None:
        """Drop the answers still on their way: rows waiting for them show nothing."""
        self.answers.forget()
        self.table.forget_unanswered()

    def _survey(self, estimate: bool) -> None:
        config = self.wizard.source_config()
        if config is None:
            tone(self.label, "danger", "Fix the source server page first.")
            return
        if not self.table.accounts:
            return
        wanted = self.answers.ask()  # an earlier survey's answers are dropped now
        self.table.forget_unanswered()
        if config.security == AUTO:  # decided once for the whole survey, as a run does
            tone(self.label, "default", "Detecting the old server's security…")
            self.wizard.tasks.run(
                detect, config, done=lambda found: self._ask_each(found.config, estimate, wanted),
                failed=lambda e: tone(self.label, "danger", str(e) if isinstance(
                    e, KimtError) else f"Unexpected error: {e}"), wanted=wanted)
            return
        self._ask_each(config, estimate, wanted)

    def _ask_each(self, config: ServerConfig, estimate: bool, wanted: Callable[[], bool]
                  ) -> None:
        """Check (and estimate) every selected user, each in its own task."""
        table = self.table
        if not table.accounts:
            return
        todo = [(i, a) for i, a in enumerate(table.accounts) if i in table.checked]
        left = {"n": len(todo), "failed": 0}
        verb = "Estimating" if estimate else "Checking logins"
        tone(self.label, "default", f"{verb}: 0 of {len(todo)} done…")
        for button in self.buttons:
            button.configure(state="disabled")

        def answered(i: int, login: survey.LoginCheck, found: survey.Estimate | None) -> None:
            left["n"] -= 1
            left["failed"] += not login.ok
            table.answered(i, login, found)
            done = len(todo) - left["n"]
            text = f"{verb}: {done} of {len(todo)} done"
            if left["failed"]:
                text += f", {plural(left['failed'], 'login')} failed"
            if not left["n"]:
                text = (f"{len(todo) - left['failed']} of {len(todo)} logins work"
                        + (f"; {left['failed']} failed (see the Login column)"
                           if left["failed"] else "."))
                if estimate:
                    est = [table.estimates[i] for i, _ in todo if i in table.estimates]
                    text += (f"  Estimate: {plural(sum(e.messages for e in est), 'message')}, "
                             f"{size(sum(e.bytes for e in est))}.")
                self.on_done()
            tone(self.label, "danger" if left["failed"] else "default", text)

        def crashed(i: int, account: Account, error: BaseException) -> None:
            # not the server's answer but KIMT's own failure: the row says so, in the row
            answered(i, survey.LoginCheck(account.email, False, f"unexpected error: {error}"),
                     None)

        rules = self.folder_rules()
        ask, both = ((lambda c, a: survey.check_and_estimate(c, a, rules), lambda r: r)
                     if estimate else (survey.check_login, lambda r: (r, None)))
        for i, account in todo:
            table.asking(i, estimate)
            self.wizard.tasks.run(ask, config, account,
                                  done=lambda r, i=i: answered(i, *both(r)),
                                  failed=lambda e, i=i, a=account: crashed(i, a, e),
                                  wanted=wanted)
            table.refresh_row(i)
