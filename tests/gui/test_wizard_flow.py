"""The whole wizard against two real Dovecot servers, driven through its widgets.

Source over SSL with a self-signed certificate (trusted by its fingerprint
in the page), destination plain with its master user. A CSV with one bad
line and one wrong password; Check logins, Estimate, migrate, compare the
result page with what is really on the destination; Finish migration after
a message arrived and one was read on the old server: 1 copied, 1 flag change.
Saves a screenshot of every page.
"""

from __future__ import annotations

import json

from dovecot import make_message
from drive import press, pump, row, shot, text_of, try_next, type_into
from helpers import ADMIN_PASSWORD, store_flags, write_csv

from kimt.core.events import DONE, FAILED
from kimt.gui import settings as settings_store

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
BOB, BOB_PW = "bob@example.com", "Bob-Pass-3k#"
ANNA, ANNA_PW = "anna@example.com", "Anna-Real-9q?"
WRONG = "not-annas-password"


def seed(src, dst) -> None:
    for user, pw in ((JDOE, JDOE_PW), (BOB, BOB_PW), (ANNA, ANNA_PW)):
        src.add_user(user, pw)
        dst.add_user(user, "whatever-the-admin-set")
    src.create_folder(JDOE, "Projects/2024")
    src.append_many(JDOE, "INBOX", [make_message(f"in {i}", body=f"inbox {i}\r\n")
                                    for i in range(6)])
    src.append_many(JDOE, "Projects/2024", [make_message(f"p {i}") for i in range(3)])
    src.append_many(BOB, "INBOX", [make_message(f"bob {i}") for i in range(4)])


def on_destination(dst, user: str) -> int:
    return sum(len(dst.messages(user, name)) for name, info in dst.folders(user).items()
               if "\\Noselect" not in info["flags"])


def figure(w, name: str) -> str:
    return text_of(w.result_page.figures[name])


def test_the_whole_wizard(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    seed(src, dst)
    users = write_csv(tmp_path / "users.csv", [
        (JDOE, JDOE_PW, "John Doe"), ("this line has no address", "x", "Nobody"),
        (BOB, BOB_PW, "Bob Builder"), (ANNA, WRONG, "Anna Nováková")])

    # 1. Welcome
    assert w.page is w.welcome_page and str(w.back_button.cget("state")) == "disabled"
    shot(w, screenshots, "1-welcome")
    press(w, w.next_button)

    # 2. Source: SSL preselected; the self-signed certificate is shown and trusted once
    page = w.source_page
    assert w.page is page and page.security.get() == "ssl"
    assert str(w.next_button.cget("state")) == "disabled"
    type_into(w, page.host, f"{src.host}:{src.ssl_port}")
    press(w, page.test_button)
    pump(w, lambda: page.imap_line.trust_frame.winfo_ismapped(), what="the certificate question")
    assert "".join(text_of(page.imap_line.fingerprint_label).split()) == src.fingerprint
    assert ("answered, but its certificate was refused: it is a self-signed certificate, not "
            "signed by an authority this computer trusts") in text_of(page.imap_line.result)
    shot(w, screenshots, "2-source-certificate")
    press(w, page.imap_line.trust_button)
    pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"), what="connected")
    assert "certificate trusted by its fingerprint" in text_of(page.imap_line.result)
    # capabilities are jargon to most admins: the Debug log names them, not the page
    assert "LITERAL+" not in text_of(page.imap_line.result)
    assert page.fingerprint == src.fingerprint
    shot(w, screenshots, "2-source-connected")
    page.host_entry.focus_set()
    page.host_entry.event_generate("<Return>")  # Enter moves on like Next
    pump(w, lambda: w.page is w.destination_page, what="the destination page")

    # 3. Destination: plain text, master user
    page = w.destination_page
    type_into(w, page.host, f"{dst.host}:{dst.port}")
    page.security.set("none")
    assert page.kind.get() == "master"
    assert str(w.next_button.cget("state")) == "disabled"
    assert text_of(page.logins.admin_password_error) == ""  # not before it was reached
    try_next(w)
    assert text_of(page.logins.admin_password_error) == "Enter the admin's password"
    type_into(w, page.logins.admin_user, "admin")
    type_into(w, page.logins.admin_password, ADMIN_PASSWORD)
    assert page.logins.admin_password_entry.cget("show") == "•"
    press(w, page.test_button)
    pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"), what="connected")
    assert "without encryption" in text_of(page.imap_line.result)
    shot(w, screenshots, "3-destination")
    press(w, w.next_button)

    # 4. Users: the file, its bad line, check logins, estimate
    page = w.users_page
    assert w.page is page and str(w.next_button.cget("state")) == "disabled"
    assert "Load the users file" in text_of(page.selection_error)
    page.load(str(users))
    assert "line 2" in text_of(page.problems_label)
    assert "3 of 3 selected" == text_of(w.note_label)
    assert page.encoding.get() == "Unicode (UTF-8)"
    tree = page.table.tree
    for iid in tree.get_children():
        values = row(tree, iid)
        assert set(values["password"]) == {"•"}
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins")
    logins = {row(tree, i)["address"]: row(tree, i)["login"] for i in tree.get_children()}
    assert logins[JDOE] == "ok" and logins[BOB] == "ok"
    assert logins[ANNA] == "failed: [AUTHENTICATIONFAILED] Authentication failed."
    tree.event_generate("<Button-1>", x=60, y=tree.bbox("2")[1] + 4)  # Anna's row
    assert text_of(page.table.details).startswith(f"login failed for {ANNA} on 127.0.0.1")
    assert 2 not in page.table.checked  # the click unticked her
    page.table.toggle("2")
    assert "2 of 3 logins work" in text_of(page.survey_label)
    press(w, page.estimate_button)
    pump(w, lambda: "Estimate:" in text_of(page.survey_label), what="Estimate")
    rows = {row(tree, i)["address"]: row(tree, i) for i in tree.get_children()}
    assert (rows[JDOE]["folders"], rows[JDOE]["messages"]) == ("3", "9")
    assert rows[BOB]["messages"] == "4" and rows[ANNA]["messages"] == ""
    assert "13 messages" in text_of(page.survey_label)
    page.workers.set(2)
    shot(w, screenshots, "4-users")
    assert text_of(w.next_button) == "Start migration"
    press(w, w.next_button)

    # 5. Status, then 6. Result
    assert w.page is w.status_page
    assert str(w.next_button.cget("state")) == "disabled"
    assert str(w.back_button.cget("state")) == "disabled"
    shot(w, screenshots, "5-status-start")
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    states = {p.email: p.state for p in w.status_page.rows.values()}
    assert states == {JDOE: DONE, BOB: DONE, ANNA: FAILED}
    there = on_destination(dst, JDOE) + on_destination(dst, BOB)
    assert there == 13
    assert figure(w, "Copied") == str(there)
    assert figure(w, "Messages on the source") == str(there)
    assert figure(w, "Already on the destination") == "0"
    assert figure(w, "Users").startswith("3, 2 done, 1 failed")
    problems = w.result_page.problem_lines()
    assert f"{ANNA}: FAILED: login failed for {ANNA}" in problems
    assert JDOE not in problems
    report = w.result_page.report_path
    assert report.exists() and "Totals" in report.read_text(encoding="utf-8")
    assert str(report).startswith(str(w.root.tk.eval("set env(HOME)")))
    shot(w, screenshots, "6-result")

    # Mailboxes are complete: the button finishes the migration after the cut-over.
    assert text_of(w.result_page.again_button) == "Finish migration"
    assert "mail that arrived on the old server since" in text_of(w.result_page.again_hint)
    # Meanwhile on the old server: a new message, and one read on the old server.
    src.append(JDOE, "INBOX", make_message("arrived after the cut-over"))
    store_flags(src, JDOE, "INBOX", [1], "\\Seen")
    press(w, w.result_page.again_button)
    assert w.page is w.status_page
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the second result")
    assert figure(w, "Copied") == "1"
    assert figure(w, "Already on the destination") == str(there)
    assert on_destination(dst, JDOE) + on_destination(dst, BOB) == there + 1  # no duplicate
    problems = w.result_page.problem_lines()
    assert f"{JDOE}: 1 new message copied, flags changed on 1" in problems
    assert f"{BOB}: 0 new messages copied" in problems
    assert text_of(w.result_page.box_label).startswith("Since the last run")
    assert "\\Seen" in dst.messages(JDOE, "INBOX")[0]["flags"]
    shot(w, screenshots, "6-result-run-again")

    # Close: settings remembered, no password in them
    press(w, w.next_button)  # "Close"
    saved = settings_store.settings_path().read_text(encoding="utf-8")
    for secret in (ADMIN_PASSWORD, JDOE_PW, BOB_PW, WRONG):
        assert secret not in saved
    data = json.loads(saved)
    assert data["source"]["host"] == f"{src.host}:{src.ssl_port}"
    assert data["source"]["fingerprint"] == src.fingerprint
    assert data["destination"]["admin_user"] == "admin"
