"""The wizard's IceWarp options (issue 11): security Detect, the post-migrate script,
passwords only — against real Dovecot servers, driven through the widgets."""

from __future__ import annotations

import re
import sys

from dovecot import make_message
from drive import (
    fill_destination,
    press,
    pump,
    row,
    shot,
    text_of,
    to_users_page,
    try_next,
    type_into,
    until_result,
)
from helpers import ADMIN_PASSWORD, write_csv
from kerio_api import ADMIN, ADMIN_PW

from kimt.core.events import DONE, RUNNING_SCRIPT, SCRIPT_FAILED

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
BOB, BOB_PW = "bob@example.com", "Bob-Pass-3k#"


def seeded(src, dst) -> None:
    for user, pw in ((JDOE, JDOE_PW), (BOB, BOB_PW)):
        src.add_user(user, pw)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {i}") for i in range(3)])


def test_detect_in_the_wizard(wizard, src, dst, tmp_path, screenshots):
    """Detect on the source's plain port: implicit TLS fails, STARTTLS is found (its
    self-signed certificate trusted by fingerprint); Check logins and the run use it."""
    w = wizard
    seeded(src, dst)
    press(w, w.next_button)
    page = w.source_page
    page.security.set("auto")
    type_into(w, page.host, f"{src.host}:{src.port}")
    press(w, page.test_button)
    pump(w, lambda: page.imap_line.trust_frame.winfo_ismapped(), what="the certificate question")
    shown = text_of(page.imap_line.fingerprint_label)
    assert "".join(shown.split()) == src.fingerprint  # whole, in its own fixed-width lines
    assert all(re.fullmatch(r"(SHA256:)?([0-9A-F]{2}:){15}[0-9A-F]{2}:?", line.strip())
               for line in shown.splitlines())  # broken between groups, never in a pair
    press(w, page.imap_line.trust_button)
    pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"), what="connected")
    answer = text_of(page.imap_line.result)
    assert answer.startswith(f"Connected to 127.0.0.1:{src.port} (STARTTLS, detected), "
                             "certificate trusted by its fingerprint")
    assert (f"Tried first: SSL/TLS on port {src.port}: 127.0.0.1:{src.port} answered without "
            "TLS") in answer
    shot(w, screenshots, "2-source-detect")
    press(w, w.next_button)
    fill_destination(w, dst)
    users = w.users_page
    users.load(str(write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J"), (BOB, BOB_PW, "B")])))
    press(w, users.check_button)
    pump(w, lambda: "logins work" in text_of(users.survey_label), what="Check logins")
    assert text_of(users.survey_label) == "2 of 2 logins work."
    assert {row(users.table.tree, i)["login"] for i in users.table.tree.get_children()} == {"ok"}
    press(w, w.next_button)
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    assert [r.state for r in w.result_page.finished.results] == [DONE, DONE]
    report = w.result_page.report_path.read_text(encoding="utf-8")
    assert (f"Source security: detected STARTTLS on port {src.port} (tried first: SSL/TLS on "
            f"port {src.port}:") in report
    assert len(dst.messages(JDOE, "INBOX")) == 3


SCRIPT = """\
#!{python}
import sys, time
email = sys.argv[1]
password = sys.stdin.readline().strip()
time.sleep(1.5)  # long enough to be seen running
print("welcome mail for", email)
sys.exit(5 if email.startswith("bob") else 0)
"""


def test_post_migrate_script_in_the_wizard(wizard, src, dst, tmp_path, screenshots):
    w = wizard
    seeded(src, dst)
    to_users_page(w, src, dst, write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "J"),
                                                               (BOB, BOB_PW, "B")]))
    options = w.users_page.run_options
    assert str(w.next_button.cget("state")) == "normal"  # the script is optional
    type_into(w, options.script, str(tmp_path / "missing.py"))
    assert str(w.next_button.cget("state")) == "disabled"
    try_next(w)
    assert text_of(options.script_error) == (f"The post-migrate script {tmp_path / 'missing.py'} "
                                             "does not exist")
    script = tmp_path / "after.py"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    type_into(w, options.script, str(script))
    type_into(w, options.script_minutes, "0")
    assert text_of(options.script_error) == ("The post-migrate script's time limit must be more "
                                             "than 0 and at most 1440 minutes, not 0")
    assert str(w.next_button.cget("state")) == "disabled"
    type_into(w, options.script_minutes, "5")
    assert text_of(options.script_error) == "" and str(w.next_button.cget("state")) == "normal"
    shot(w, screenshots, "4-users-script")
    press(w, w.next_button)

    status = w.status_page
    pump(w, lambda: any(p.state == RUNNING_SCRIPT for p in status.rows.values()),
         timeout=60, what="a script running")
    shot(w, screenshots, "5-status-script")
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    assert {p.email: p.state for p in status.rows.values()} == {JDOE: DONE,
                                                                 BOB: SCRIPT_FAILED}
    result = w.result_page
    assert text_of(result.headline) == ("All 2 mailboxes are complete on the destination. The "
                                        "post-migrate script failed for 1 mailbox, listed "
                                        "below.")
    assert text_of(result.figures["Users"]) == "2, 1 done, 1 done but their script failed"
    assert text_of(result.box_label) == "Needs attention (each with the reason):"
    assert (f"{BOB}: all 3 messages are on the destination. Post-migrate script FAILED (exit "
            "code 5)") in result.problem_lines()
    assert JDOE not in result.problem_lines()
    report = result.report_path.read_text(encoding="utf-8")
    assert f"Post-migrate script: {script}, after each mailbox that completes (time limit " \
        "5 min)" in report
    assert f"      | welcome mail for {JDOE}" in report
    shot(w, screenshots, "6-result-script")
    assert w.settings.post_migrate_script == str(script)  # remembered for the next start
    assert w.settings.post_migrate_minutes == 5


SAME, OTHER, WRONG = "same@example.com", "other@example.com", "wrong@example.com"
OLD_PASSWORDS = {SAME: "Same-Pw-1", OTHER: "Old-Server-Pw-2", WRONG: "Wrong-Pw-3"}


def test_passwords_only_in_the_wizard(wizard, kerio, tmp_path, screenshots):
    """Kerio Connect as the destination (the admin API test server over the destination
    Dovecot): each password checked on the old server, set in Kerio where it differs."""
    w = wizard
    src, dst, api, _ = kerio
    for email, password in OLD_PASSWORDS.items():
        src.add_user(email, password if email != WRONG else "Wrong-Real-Pw-3")
        src.append(email, "INBOX", make_message(f"mail of {email}"))
    api.add_user(SAME, OLD_PASSWORDS[SAME])
    api.add_user(OTHER, "Kerio-Other-Pw-9")
    api.add_user(WRONG, "Kerio-Wrong-Pw-9")

    press(w, w.next_button)
    w.source_page.security.set("none")
    type_into(w, w.source_page.host, f"{src.host}:{src.port}")
    press(w, w.next_button)
    page = w.destination_page
    k = page.kerio
    page.security.set("none")
    type_into(w, page.host, f"{dst.host}:{dst.port}")  # each user's login, no master front
    page.kind.set("kerio")
    type_into(w, k.api, f"{api.host}:{api.port}")
    type_into(w, k.user, ADMIN)
    type_into(w, k.password, ADMIN_PW)
    k.write.set("user")
    press(w, page.test_button)
    pump(w, lambda: page.api_line.trust_frame.winfo_ismapped(), what="the API certificate")
    press(w, page.api_line.trust_button)
    pump(w, lambda: text_of(page.api_line.result).startswith("Logged in"), what="API login")
    press(w, w.next_button)

    users = w.users_page
    users.load(str(write_csv(tmp_path / "u.csv", list(OLD_PASSWORDS.items()))))
    assert text_of(w.next_button) == "Start migration"
    users.run_options.only_passwords.set(True)
    w.root.update()
    assert text_of(w.next_button) == "Set passwords"
    assert str(users.run_options.script_entry.cget("state")) == "disabled"
    assert str(users.folders_button.cget("state")) == "disabled"
    assert "Kerio Connect" in text_of(users.run_options.passwords_note)
    # Only the users' own passwords can be checked on the old server.
    w.source_page.kind.set("master")
    type_into(w, w.source_page.logins.admin_user, "admin")
    type_into(w, w.source_page.logins.admin_password, ADMIN_PASSWORD)
    w.refresh()
    assert str(w.next_button.cget("state")) == "disabled"
    assert text_of(users.run_options.passwords_error).startswith(
        "Passwords only checks each user's own password on the old server")
    w.source_page.kind.set("user")
    w.refresh()
    assert str(w.next_button.cget("state")) == "normal"
    shot(w, screenshots, "4-users-passwords")
    press(w, w.next_button)

    status = w.status_page
    assert w.page is status and "No mail is copied" in text_of(w.subtitle_label)
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    assert {e: p.state for e, p in status.rows.items()} == {
        SAME: "already the same", OTHER: "set", WRONG: "login refused on the old server"}
    result = w.result_page
    assert text_of(result.headline) == ("Passwords: 1 set, 1 already the same, 1 refused by "
                                        "the old server, 0 not on the destination, 0 failed.")
    assert not result.figures_frame.winfo_ismapped()  # no mail figures: none was copied
    assert result.problem_lines().startswith(f"{WRONG}: login refused on the old server: "
                                             f"login failed for {WRONG}")
    assert SAME not in result.problem_lines() and OTHER not in result.problem_lines()
    assert dst.users[OTHER] == OLD_PASSWORDS[OTHER] and dst.users[WRONG] == "Kerio-Wrong-Pw-9"
    assert api.calls.count("Users.set") == 1
    assert not dst.messages(OTHER, "INBOX") and not dst.messages(SAME, "INBOX")
    report = result.report_path.read_text(encoding="utf-8")
    assert "=== Passwords only (no mail copied)" in report and f"  {OTHER}: set" in report
    for secret in OLD_PASSWORDS.values():
        assert secret not in report
    shot(w, screenshots, "6-result-passwords")

    press(w, result.again_button)  # once more: the one set is the same now
    until_result(w, what="the second result")
    assert text_of(result.headline).startswith("Passwords: 0 set, 2 already the same, 1 refused")
    assert api.calls.count("Users.set") == 1
    users.run_options.only_passwords.set(False)  # and a migration is a migration again
    w.root.update()
    assert text_of(w.next_button) == "Close"  # (on the result page)
    w.back()
    assert w.page is users and text_of(w.next_button) == "Start migration"
