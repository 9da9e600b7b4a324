"""Pages reach the wizard only through `PageHost`; background tasks never lose an answer.

The contract is checked in the source (no page imports another page or the
app; every `wizard.X` a page uses is in `PageHost`) and on the live window.
Tasks are driven with stand-ins for the survey functions that raise or wait
for the test, so what a page shows for a crash, and for an answer that
comes after a newer question, is checked without a server.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from drive import press, pump, row, text_of, type_into
from helpers import write_csv

from kimt.core import survey
from kimt.gui import common
from kimt.gui.common import Latest, PageHost, Tasks

GUI = Path(common.__file__).parent
PAGE_MODULES = {"welcome", "server", "users", "status", "result"}
HOST_MEMBERS = set(PageHost.__annotations__) | {
    name for name, value in vars(PageHost).items() if callable(value) and name[0] != "_"}


def test_pages_know_only_the_page_host_not_each_other():
    for path in sorted(GUI.glob("*.py")):
        if path.stem == "app":  # the wizard: the one that knows every page
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = {node.module} if node.module else {a.name for a in node.names}
                assert not names & (PAGE_MODULES | {"app"}), (
                    f"{path.name}:{node.lineno} imports {names & (PAGE_MODULES | {'app'})}")
            if isinstance(node, ast.Attribute):
                owner = node.value
                if (isinstance(owner, ast.Attribute) and owner.attr == "wizard"
                        or isinstance(owner, ast.Name) and owner.id == "wizard"):
                    assert node.attr in HOST_MEMBERS, (
                        f"{path.name}:{node.lineno} uses wizard.{node.attr}, which is not "
                        f"in PageHost ({', '.join(sorted(HOST_MEMBERS))})")


def test_the_wizard_is_every_pages_host(wizard):
    assert isinstance(wizard, PageHost)
    assert all(page.wizard is wizard for page in wizard.pages)


def test_a_failing_tk_callback_is_caught(wizard, tk_callback_errors):
    wizard.root.after(0, lambda: 1 / 0)
    pump(wizard, lambda: tk_callback_errors, what="the error reported")
    assert isinstance(tk_callback_errors.pop(), ZeroDivisionError)


def test_an_answer_that_raises_does_not_stop_the_ones_after_it(wizard, tk_callback_errors):
    tasks: Tasks = wizard.tasks
    got: list[str] = []

    def broken(_: object) -> None:
        raise RuntimeError("a page's bug")

    tasks.run(lambda: "first", done=broken, failed=got.append)
    pump(wizard, lambda: tk_callback_errors, what="the first answer's error")
    tasks.run(lambda: "second", done=got.append, failed=got.append)
    tasks.run(lambda: 1 / 0, done=got.append, failed=lambda e: got.append(type(e).__name__))
    pump(wizard, lambda: len(got) == 2, what="the answers after it")
    assert sorted(got) == ["ZeroDivisionError", "second"]
    assert str(tk_callback_errors.pop()) == "a page's bug"


def test_latest_answer_wins():
    latest = Latest()
    first = latest.ask()
    assert first()
    second = latest.ask()
    assert second() and not first()
    latest.forget()
    assert not second()


def answers_counted(w) -> list:
    """Count the answers the tasks hand to the Tk thread (wanted or not)."""
    handed: list = []
    hand = w.tasks.call_soon

    def counting(fn, *args):
        hand(fn, *args)
        handed.append(fn)  # after the put: counted means queued

    w.tasks.call_soon = counting
    return handed


def delivered(w, handed: list, n: int) -> None:
    """Until `n` answers were queued and the Tk thread has run (or dropped) every one."""
    pump(w, lambda: len(handed) >= n and w.tasks.queue.empty(), what=f"{n} answers")


def test_a_task_that_raises_shows_its_error_in_the_users_table(wizard, tmp_path, monkeypatch):
    w = wizard
    type_into(w, w.source_page.host, "old.example.com")

    def broken(*_: object) -> None:
        raise RuntimeError("the checker broke")

    monkeypatch.setattr(survey, "check_login", broken)
    monkeypatch.setattr(survey, "check_and_estimate", broken)
    page = w.users_page
    w.show(w.pages.index(page))  # on screen: the click below lands on its row
    page.load(str(write_csv(tmp_path / "u.csv", [("jdoe@example.com", "pw", "J")])))
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins to end")
    assert row(page.table.tree, "0")["login"] == "failed: unexpected error: the checker broke"
    assert text_of(page.survey_label) == "0 of 1 logins work; 1 failed (see the Login column)"
    press(w, page.estimate_button)
    pump(w, lambda: "Estimate:" in text_of(page.survey_label), what="Estimate to end")
    values = row(page.table.tree, "0")
    assert values["login"].startswith("failed: unexpected error")
    assert (values["folders"], values["messages"]) == ("", "")  # not "…" forever
    page.table.tree.event_generate("<Button-1>", x=60, y=page.table.tree.bbox("0")[1] + 4)
    assert text_of(page.table.details) == "unexpected error: the checker broke"


def test_a_newer_test_connection_wins(wizard, monkeypatch):
    w = wizard
    page = w.source_page
    type_into(w, page.host, "old.example.com")
    go = {1: threading.Event(), 2: threading.Event()}
    calls: list[int] = []

    def slow(config) -> survey.ConnectionTest:
        calls.append(len(calls) + 1)
        n = calls[-1]
        go[n].wait(30)
        return survey.ConnectionTest(True, f"answer {n}")

    monkeypatch.setattr(survey, "try_connection", slow)
    handed = answers_counted(w)
    page.test()
    page.test()  # as "Trust exactly this certificate" does, while the first is on its way
    go[2].set()
    delivered(w, handed, 1)
    assert text_of(page.imap_line.result) == "answer 2"
    go[1].set()
    delivered(w, handed, 2)
    assert text_of(page.imap_line.result) == "answer 2"  # the older answer was dropped


def test_another_users_file_drops_the_answers_for_the_last_one(wizard, tmp_path, monkeypatch):
    w = wizard
    type_into(w, w.source_page.host, "old.example.com")
    go = threading.Event()

    def slow(config, account) -> survey.LoginCheck:
        go.wait(30)
        return survey.LoginCheck(account.email, True)

    monkeypatch.setattr(survey, "check_login", slow)
    handed = answers_counted(w)
    page = w.users_page
    page.load(str(write_csv(tmp_path / "a.csv", [("a@example.com", "pw", "A"),
                                                 ("b@example.com", "pw", "B")])))
    press(w, page.check_button)
    assert row(page.table.tree, "0")["login"] == "checking…"
    page.load(str(write_csv(tmp_path / "b.csv", [("c@example.com", "pw", "C")])))
    assert row(page.table.tree, "0")["login"] == "" and text_of(page.survey_label) == ""
    go.set()
    delivered(w, handed, 2)
    assert row(page.table.tree, "0") == {**row(page.table.tree, "0"), "address": "c@example.com",
                                   "login": ""}
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="the new check")
    assert row(page.table.tree, "0")["login"] == "ok"
    assert text_of(page.survey_label) == "1 of 1 logins work."


def test_start_run_answers_why_not(wizard, tmp_path):
    """The users page shows the wizard's reason under its table; no run starts."""
    w = wizard
    users = w.users_page
    users.load(str(write_csv(tmp_path / "u.csv", [("jdoe@example.com", "pw", "J")])))
    w.show(w.pages.index(users))
    press(w, w.next_button)  # the source page is empty: the wizard shows it
    assert w.page is w.source_page and w.run is None
    assert text_of(users.selection_error) == "Complete the source server page first."
    type_into(w, w.source_page.host, "old.example.com")
    type_into(w, w.destination_page.host, "new.example.com")
    w.destination_page.kind.set("user")
    reason = w.start_run(users.selected(), 0)  # the page never offers 0: run_request's word
    assert reason is not None and "workers" in reason and w.run is None
