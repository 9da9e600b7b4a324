"""Validation next to the fields, the users table's tools, settings remembered, Stop, close."""

from __future__ import annotations

import time
import tkinter as tk

from dovecot import make_message
from drive import press, pump, row, shot, text_of, to_users_page, try_next, type_into, until_result
from helpers import ADMIN_PASSWORD, write_csv

from kimt.core.events import DONE, STOPPED
from kimt.core.report import verdict
from kimt.gui import settings as settings_store
from kimt.gui.app import make_window

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
BOB, BOB_PW = "bob@example.com", "Bob-Pass-3k#"


def disabled(button) -> bool:
    return str(button.cget("state")) == "disabled"


def test_next_waits_for_valid_pages_and_settings_are_remembered(wizard, tmp_path, screenshots):
    w = wizard
    press(w, w.next_button)
    page = w.source_page
    assert disabled(w.next_button)
    assert text_of(page.host_error) == ""  # nothing typed yet: not a mistake yet
    try_next(w)
    assert text_of(page.host_error).startswith("Enter the server's name")
    assert w.root.focus_get() is page.host_entry
    type_into(w, page.host, "mail.example.com:99999")
    assert disabled(w.next_button) and "bad port '99999'" in text_of(page.host_error)
    type_into(w, page.host, "old.example.com")
    assert not disabled(w.next_button) and text_of(page.host_error) == ""
    page.kind.set("master")
    w.root.update()
    assert disabled(w.next_button)
    assert text_of(page.logins.admin_user_error) == "Enter the admin's user name"
    shot(w, screenshots, "2-source-invalid")
    page.kind.set("user")
    page.security.set("starttls")
    page.logins.login_name.set("local")
    press(w, w.next_button)

    page = w.destination_page
    type_into(w, page.host, "new.example.com:993")
    type_into(w, page.logins.admin_user, "admin")
    try_next(w)
    assert disabled(w.next_button) and text_of(page.logins.admin_password_error)
    type_into(w, page.logins.admin_password, ADMIN_PASSWORD)
    assert not disabled(w.next_button)
    press(w, w.next_button)

    page = w.users_page
    assert disabled(w.next_button)
    name = "Jiří Novák"
    users = write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, name), (BOB, BOB_PW, "Bob")])
    page.load(str(users))
    assert not disabled(w.next_button)
    press(w, page.table.none_button)
    assert disabled(w.next_button)
    assert text_of(page.selection_error).startswith("Select at least one user")
    type_into(w, page.table.filter, "bob")
    assert [row(page.table.tree, i)["address"] for i in page.table.tree.get_children()] == [BOB]
    press(w, page.table.all_button)
    assert text_of(w.note_label) == "1 of 2 selected" and page.selected()[0].email == BOB
    type_into(w, page.table.filter, "")
    assert len(page.table.tree.get_children()) == 2
    # another encoding re-reads the file (UTF-8 bytes read as Windows-1250 change the name)
    page.encoding.set("Central European (Windows-1250)")
    page.encoding_box.event_generate("<<ComboboxSelected>>")
    w.root.update()
    assert page.accounts.encoding == "cp1250"
    names = [row(page.table.tree, i)["name"] for i in page.table.tree.get_children()]
    assert names[0] != name and names[0].startswith("Ji")
    assert page.selected()[0].email == BOB  # the selection survives the re-read
    w.close()  # nothing running: closes at once

    saved = settings_store.settings_path().read_text(encoding="utf-8")
    assert ADMIN_PASSWORD not in saved and JDOE_PW not in saved
    again = make_window()
    try:
        src, dst = again.source_page, again.destination_page
        assert (src.host.get(), src.security.get(), src.logins.login_name.get()) == (
            "old.example.com", "starttls", "local")
        assert (dst.host.get(), dst.logins.admin_user.get(), dst.kind.get()) == (
            "new.example.com:993", "admin", "master")
        assert dst.logins.admin_password.get() == ""  # passwords are never remembered
        assert again.users_page.workers_count() == 4
    finally:
        again.destroy()


def seeded(src, dst, count=40, size=None):
    for user, pw in ((JDOE, JDOE_PW), (BOB, BOB_PW)):
        src.add_user(user, pw)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {i}", size=size)
                                        for i in range(count)])


def test_stop_then_run_again_finishes(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    seeded(src, dst)
    to_users_page(w, src, dst, write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J"),
                                                               (BOB, BOB_PW, "B")]),
                  workers=1)
    press(w, w.next_button)
    press(w, w.status_page.stop_button)  # at once: before any mailbox is finished
    assert text_of(w.status_page.stop_button) == "Stopping…"
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result after Stop")
    results = w.result_page.finished.results
    assert w.result_page.finished.stopped
    assert any(r.state == STOPPED for r in results)
    assert text_of(w.result_page.headline).startswith("Stopped. Run again to finish")
    shot(w, screenshots, "6-result-stopped")
    press(w, w.result_page.again_button)
    until_result(w, what="the second result")
    assert text_of(w.result_page.headline) == "All 2 mailboxes are complete on the destination."
    assert len(dst.messages(JDOE, "INBOX")) == len(dst.messages(BOB, "INBOX")) == 40


def test_closing_while_migrating_asks_first(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    seeded(src, dst, count=5000, size=30_000)  # long enough to close in the middle, even
    # on a busy machine (the run stops at the answer, so its length costs nothing)
    to_users_page(w, src, dst, write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J"),
                                                               (BOB, BOB_PW, "B")]),
                  workers=1)
    press(w, w.next_button)
    assert w.run is not None
    asked = []

    def answer(yes: bool):
        dialog = w.confirm_dialog
        asked.append(True)
        if not yes:
            shot(w, screenshots, "5-close-while-migrating")
        (dialog.yes_button if yes else dialog.no_button).invoke()

    run = w.run
    w.root.after(150, lambda: answer(False))
    w.close()  # returns when the question is answered
    assert asked and w.root.winfo_exists() and not run.stopping  # kept migrating
    pump(w, lambda: any(p.done for p in w.status_page.rows.values()), what="some progress")
    shot(w, screenshots, "5-status")
    assert w.run is run, "the migration ended before the second question: make it longer"
    w.root.after(150, lambda: answer(True))
    w.close()
    assert len(asked) == 2 and w.closing
    end = time.monotonic() + 60
    while _alive(w) and time.monotonic() < end:  # the window closes once the run stopped
        try:
            w.root.update()
        except tk.TclError:
            break
        time.sleep(0.02)
    assert not _alive(w)
    run.join(20)
    assert run.finished is not None
    assert run.finished.stopped or all(r.state == DONE for r in run.finished.results)
    # John's mailbox was being copied when its worker was ended: never "not started".
    john = next(r for r in run.finished.results if r.email == JDOE)
    assert john.started and "not started" not in verdict(john)


def _alive(w) -> bool:
    try:
        return bool(w.root.winfo_exists())
    except tk.TclError:
        return False


def test_settings_written_before_the_rename_still_load(tmp_path):
    """Settings files of older versions call the destination "target"."""
    old = tmp_path / "settings.json"
    old.write_text('{"target": {"host": "new.example.com", "admin_user": "admin"}}',
                   encoding="utf-8")
    s = settings_store.load(old)
    assert (s.destination.host, s.destination.admin_user) == ("new.example.com", "admin")
    settings_store.save(s, old)
    assert '"destination"' in old.read_text(encoding="utf-8")


def test_a_daily_limit_says_when_to_run_again(wizard, src, dst, tmp_path, screenshots):
    """Gmail's day is over after the first body fetch (tests/throttle_proxy.py): both
    mailboxes stop for the day, none failed, the result page says from when Run again
    goes on; the next day it does, with nothing copied twice."""
    from throttle_proxy import GMAIL_DAY, ThrottleProxy

    from kimt.core.events import DAY_OVER

    w = wizard
    seeded(src, dst)
    with ThrottleProxy(src.port, GMAIL_DAY, rb"UID FETCH .*BODY\.PEEK\[\]") as proxy:
        proxy_src = type("Proxied", (), {"host": "127.0.0.1", "port": proxy.port})
        to_users_page(w, proxy_src, dst, write_csv(tmp_path / "u.csv", [
            (JDOE, JDOE_PW, "J"), (BOB, BOB_PW, "B")]), workers=1)
        press(w, w.next_button)
        until_result(w, timeout=120, what="the result of the first day")
        results = w.result_page.finished.results
        assert [r.state for r in results] == [DAY_OVER, DAY_OVER]
        head = text_of(w.result_page.headline)
        assert head.startswith("No mailbox is complete; each is listed below"), head
        assert "A daily limit stopped 2 mailboxes at a clean point (nothing failed). Run " \
               "the same migration again after " in head and "(local time)" in head, head
        assert "stopped for today" in w.result_page.problem_lines()
        shot(w, screenshots, "6-result-daily-limit")
        proxy.new_day()
        press(w, w.result_page.again_button)
        until_result(w, timeout=120, what="the result of the next day")
    assert text_of(w.result_page.headline) == "All 2 mailboxes are complete on the destination."
    assert len(dst.messages(JDOE, "INBOX")) == len(dst.messages(BOB, "INBOX")) == 40
