"""The server pages as a novice meets them (issue 15) and their server kinds (issue 12).

A trusted certificate sticks to its server, Next waits for a certificate the
test showed and nobody trusted, and no text in the window names a
command-line option (a run that fails on a certificate leads back to the
page where it is trusted); Test connection logs in as the admin and says
which part failed, choosing the admin login style the server takes; plain
advice for a refused connection; a failed login's whole reason on the users
table; the "Server kind" filling in a provider and going into the run as the
CLI's preset; public folders into a chosen mailbox. Real Dovecot servers.
"""

from __future__ import annotations

import re
from pathlib import Path

from dovecot import PUBLIC_FOLDER, free_port, make_message
from drive import all_text, press, pump, row, shot, text_of, type_into, until_result
from helpers import ADMIN_PASSWORD, write_csv

from kimt.cli import build_parser, build_request
from kimt.core.accounts import read_accounts
from kimt.core.events import DONE
from kimt.core.folders import PUBLIC_FOLDERS
from kimt.gui import settings as settings_store
from kimt.gui.app import make_window
from kimt.gui.common import TONES
from kimt.gui.server import IDLE_TEST_TEXT, UNTRUSTED

JDOE, JDOE_PW = "jdoe@example.com", "Src-Secret-7x!"
GHOST = "ghost@example.com"  # in the users file, not on the destination
# a command-line option as a wizard text would name it ("--target-fingerprint")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def disabled(button) -> bool:
    return str(button.cget("state")) == "disabled"


def to_destination(w, src) -> None:
    press(w, w.next_button)
    s = w.source_page
    s.security.set("none")
    type_into(w, s.host, f"{src.host}:{src.port}")
    press(w, w.next_button)
    assert w.page is w.destination_page


def admin(w, password: str = ADMIN_PASSWORD) -> None:
    d = w.destination_page
    type_into(w, d.logins.admin_user, "admin")
    type_into(w, d.logins.admin_password, password)


def answer_of(w, page) -> str:
    press(w, page.test_button)
    pump(w, lambda: not text_of(page.imap_line.result).startswith("Connecting"),
         what="the test's answer")
    return text_of(page.imap_line.result)


def test_a_trusted_certificate_sticks_and_next_waits_for_one(wizard, src, dst, screenshots):
    w = wizard
    to_destination(w, src)
    d = w.destination_page
    type_into(w, d.host, f"{dst.host}:{dst.ssl_port}")  # SSL/TLS, a self-signed certificate
    admin(w)
    assert not disabled(w.next_button)  # nothing known against it yet
    press(w, d.test_button)
    pump(w, lambda: d.imap_line.trust_frame.winfo_ismapped(), what="the certificate question")
    assert "".join(text_of(d.imap_line.fingerprint_label).split()) == dst.fingerprint
    # shown and not trusted: Next waits, and the line beside it says why
    assert disabled(w.next_button) and text_of(w.reason_label) == UNTRUSTED
    shot(w, screenshots, "3-destination-untrusted")

    w.root.focus_force()  # keys go to the focused window: this one
    d.imap_line.trust_button.focus_set()
    w.root.update()
    d.imap_line.trust_button.event_generate("<Return>")
    w.root.update()
    # not on the button that went away (the window's focus, had it lost the screen's)
    assert str(w.root.focus_get() or w.root.focus_lastfor()) == str(w.next_button)
    pump(w, lambda: "certificate trusted by its fingerprint" in text_of(d.imap_line.result),
         what="the test with the certificate trusted")
    assert d.fingerprint == dst.fingerprint
    assert not disabled(w.next_button) and text_of(w.reason_label) == ""
    d.imap_line.trust_button.invoke()  # a second Return where it was: nothing undone
    w.root.update()
    assert d.fingerprint == dst.fingerprint and not disabled(w.next_button)

    # the same server typed again: still trusted, and the page says so
    type_into(w, d.host, "")
    type_into(w, d.host, f"{dst.host}:{dst.ssl_port}")
    assert text_of(d.imap_line.result) == (f"The certificate with the fingerprint "
                                           f"{dst.fingerprint} is trusted for this server.")
    assert d.config().fingerprint == dst.fingerprint
    # another port: the answer about the other one is gone, and so is the trust
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    assert text_of(d.imap_line.result) == IDLE_TEST_TEXT and d.fingerprint == ""
    type_into(w, d.host, f"{dst.host}:{dst.ssl_port}")
    d.security.set("starttls")  # another security: the same
    w.root.update()
    assert text_of(d.imap_line.result) == IDLE_TEST_TEXT and d.fingerprint == ""
    d.security.set("ssl")
    w.root.update()
    assert d.fingerprint == dst.fingerprint


def test_a_run_stopped_by_a_certificate_leads_back_to_its_page(wizard, src, dst, tmp_path,
                                                              screenshots):
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "x")
    src.append_many(JDOE, "INBOX", [make_message(f"m {i}") for i in range(3)])
    to_destination(w, src)
    d = w.destination_page
    type_into(w, d.host, f"{dst.host}:{dst.ssl_port}")  # not tested: nothing known yet
    admin(w)
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "John")])))
    press(w, w.next_button)
    until_result(w)
    page = w.result_page
    head = text_of(page.headline)
    assert head.startswith("Nothing was copied: cannot reach the destination server: The TLS "
                           "certificate")
    assert "SHA256:" not in head  # the headline is the first sentence; the rest is below
    below = page.problems.get("1.0", "end")
    groups = dst.fingerprint.removeprefix("SHA256:").split(":")
    # the fingerprint breaks between groups of eight, never inside a group (Tk wraps at
    # spaces only): "SHA256:AA:…:HH: II:…"
    assert "SHA256:" + ": ".join(":".join(groups[i:i + 8]) for i in range(0, 32, 8)) in below
    assert "".join(below.split()).count(dst.fingerprint) == 1
    assert 'trust it on the Destination server page: press Test connection there, then ' \
           '"Trust exactly this certificate"' in below
    assert not OPTION.findall(all_text(w.root))  # no command-line option, anywhere
    assert page.fix_button.winfo_ismapped()
    assert text_of(page.fix_button) == "Change the destination server settings"
    shot(w, screenshots, "6-result-certificate")

    press(w, page.fix_button)
    assert w.page is d
    press(w, d.test_button)
    pump(w, lambda: d.imap_line.trust_frame.winfo_ismapped(), what="the certificate question")
    press(w, d.imap_line.trust_button)
    pump(w, lambda: text_of(d.imap_line.result).startswith("Connected"), what="connected")
    press(w, w.next_button)
    press(w, w.next_button)  # the users page kept the file and the selection
    until_result(w, what="the second result")
    assert text_of(page.headline) == "The mailbox is complete on the destination."
    assert not page.fix_button.winfo_ismapped()
    assert len(dst.messages(JDOE, "INBOX")) == 3


def test_a_run_refused_by_the_admin_says_so_once_and_leads_back(wizard, src, dst, tmp_path,
                                                                screenshots):
    """A wrong admin password not tested before Next: the run stops before copying, the
    result says so once (the admin named in quotes, as Test connection does) and leads
    back to the page where the password is corrected."""
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "x")
    src.append_many(JDOE, "INBOX", [make_message(f"m {i}") for i in range(3)])
    to_destination(w, src)
    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    admin(w, "not-the-admins-password")
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "John")])))
    press(w, w.next_button)
    until_result(w)
    page = w.result_page
    head = text_of(page.headline)
    assert head.startswith('Nothing was copied: the destination refused the admin login '
                           '"admin" for 1 mailbox'), head
    assert head.lower().count("nothing was copied") == 1, head
    assert "not-the-admins-password" not in all_text(w.root)
    assert text_of(page.fix_button) == "Change the destination server settings"
    shot(w, screenshots, "6-result-admin-refused")
    press(w, page.fix_button)
    assert w.page is d
    type_into(w, d.logins.admin_password, ADMIN_PASSWORD)
    press(w, w.next_button)
    press(w, w.next_button)
    until_result(w, what="the second result")
    assert text_of(page.headline) == "The mailbox is complete on the destination."
    assert len(dst.messages(JDOE, "INBOX")) == 3


def test_test_connection_logs_in_as_the_admin(wizard, src, dovecot_factory, tmp_path,
                                              screenshots):
    w = wizard
    # takes an admin only as SASL PLAIN with the user's name (no 'user*admin')
    dst = dovecot_factory(extra_config="auth_master_user_separator =\n")
    dst.add_user(JDOE, "x")
    to_destination(w, src)
    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    answer = answer_of(w, d)  # no admin yet: a connection proves nothing about one
    assert answer.startswith("Connected") and answer.endswith(
        "Enter the admin's name and password to test the admin login too.")
    admin(w, "not-the-admins-password")
    answer = answer_of(w, d)
    assert answer.startswith(f"Connected to {dst.host}:{dst.port}")  # the server is fine...
    assert ('The server refused the admin login "admin": the admin\'s name or password is '
            "wrong" in answer)  # ...the admin is not
    assert "[AUTHENTICATIONFAILED]" in answer and "not-the-admins-password" not in answer
    assert str(d.imap_line.result.cget("foreground")) == TONES["danger"]
    shot(w, screenshots, "3-destination-wrong-admin")

    type_into(w, d.logins.admin_password, ADMIN_PASSWORD)
    d.logins.master_style.set("separator")  # what an admin used to Dovecot might choose
    w.root.update()
    answer = answer_of(w, d)
    assert ('The admin login "admin" works (the server took the admin\'s name and password; '
            "the users are checked when a migration starts); the server takes SASL PLAIN "
            "with the user's name, not a user*admin login. It is chosen above now.") in answer
    assert d.logins.master_style.get() == "authzid"  # detected, preselected, still a choice
    assert str(d.imap_line.result.cget("foreground")) == TONES["ok"]
    shot(w, screenshots, "3-destination-admin-detected")

    # with users selected, the admin acts for them: an unknown one is named
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "u.csv", [(GHOST, "pw", "Nobody")])))
    press(w, w.back_button)
    answer = answer_of(w, d)
    assert f'The admin login "admin" works, but the server does not know {GHOST}' in answer
    press(w, w.next_button)
    w.users_page.load(str(write_csv(tmp_path / "u2.csv", [(JDOE, JDOE_PW, "John")])))
    press(w, w.back_button)
    assert f'The admin login "admin" works (acting for {JDOE}).' in answer_of(w, d)


def test_plain_advice_for_a_refused_connection_and_a_failed_login(wizard, src, tmp_path,
                                                                  screenshots):
    w = wizard
    src.add_user(JDOE, JDOE_PW)
    press(w, w.next_button)
    s = w.source_page
    s.security.set("none")
    type_into(w, s.host, f"127.0.0.1:{free_port()}")
    answer = answer_of(w, s)
    assert "Connection refused" in answer
    assert "check the port (SSL/TLS is usually 993, STARTTLS 143)" in answer
    assert "firewall" in answer
    type_into(w, s.host, f"{src.host}:{src.port}")
    answer = answer_of(w, s)
    assert answer.startswith("Connected") and "LITERAL+" not in answer
    assert "MULTIAPPEND" not in answer
    press(w, w.next_button)
    d = w.destination_page
    d.kind.set("user")
    type_into(w, d.host, "new.example.com")
    press(w, w.next_button)

    page = w.users_page
    page.load(str(write_csv(tmp_path / "u.csv", [(JDOE, "a wrong password", "John")])))
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins")
    reason = page.table.logins[0].reason
    assert reason.startswith(f"login failed for {JDOE} on {src.host}:{src.port} (the old "
                             "server): [AUTHENTICATIONFAILED]")
    assert row(page.table.tree, "0")["login"] != reason  # the column has only the end of it
    x, y, width, height = page.table.tree.bbox("0", "login")
    page.table.tree.event_generate("<Motion>", x=x + 10, y=y + height // 2)
    pump(w, lambda: page.table.login_tips.shown() == reason, what="the whole reason in a tip")
    shot(w, screenshots, "4-users-login-tip")
    page.table.tree.event_generate("<Leave>")
    w.root.update()
    assert page.table.login_tips.shown() == ""
    x, y, width, height = page.table.tree.bbox("0", "address")  # another column: no tip
    page.table.tree.event_generate("<Motion>", x=x + 10, y=y + height // 2)
    w.root.update()
    assert page.table.login_tips.cell == ("0", "address") and page.table.login_tips._job is None


def test_server_kind_fills_in_a_provider_and_goes_into_the_run(wizard, dovecot_factory,
                                                              tmp_path, screenshots):
    w = wizard
    press(w, w.next_button)
    s = w.source_page
    assert s.preset.get() == "generic"
    s.preset.set("gmail")
    w.root.update()
    assert (s.host.get(), s.security.get(), s.kind.get()) == ("imap.gmail.com", "ssl", "user")
    assert "All Mail, Important and Starred" in text_of(s.preset_hint)
    shot(w, screenshots, "2-source-server-kind")
    s.preset.set("m365")
    w.root.update()
    assert (s.host.get(), s.kind.get()) == ("outlook.office365.com", "xoauth2")
    s.preset.set("exchange")  # no provider's host: the one of another kind goes
    w.root.update()
    assert (s.host.get(), s.kind.get()) == ("", "master")
    assert "calendars, contacts and Outlook's records are left out" in text_of(s.preset_hint)

    # Exchange's folders, reproduced in a Dovecot that stands in for it
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(JDOE, JDOE_PW)
    dst.add_user(JDOE, "x")
    for folder, count in (("INBOX", 2), ("Calendar", 0), ("Conversation History", 1)):
        if folder != "INBOX":
            src.create_folder(JDOE, folder)
        src.append_many(JDOE, folder, [make_message(f"{folder} {i}") for i in range(count)])
    s.security.set("none")
    type_into(w, s.host, f"{src.host}:{src.port}")  # typed after: kept, the kind too
    type_into(w, s.logins.admin_user, "admin")
    type_into(w, s.logins.admin_password, ADMIN_PASSWORD)
    assert s.preset.get() == "exchange"
    press(w, w.next_button)
    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    admin(w)
    press(w, w.next_button)
    users = write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "John")])
    w.users_page.load(str(users))
    w.users_page.workers.set(1)

    # the same run as the command line's --source-preset exchange
    pass_file = tmp_path / "admin.pass"
    pass_file.write_text(ADMIN_PASSWORD + "\n")
    args = build_parser().parse_args([
        "migrate", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
        "--source-security", "none", "--source-auth", "master", "--source-user", "admin",
        "--source-pass-file", str(pass_file), "--source-preset", "exchange",
        "--target-host", f"{dst.host}:{dst.port}", "--target-security", "none",
        "--target-auth", "master", "--target-user", "admin", "--target-pass-file",
        str(pass_file), "--workers", "1"])
    accounts = read_accounts(str(users))
    from_cli = build_request(args, accounts, list(accounts.accounts), False)
    request = w.build_request(w.users_page.selected(), 1)
    assert request.settings.kinds == ("exchange", "generic")
    assert request.settings == from_cli.settings

    press(w, w.next_button)
    until_result(w)
    assert [r.state for r in w.result_page.finished.results] == [DONE]
    assert "Calendar" not in dst.folders(JDOE) and "Conversation History" not in dst.folders(JDOE)
    assert len(dst.messages(JDOE, "INBOX")) == 2
    report = Path(w.result_page.finished.report_path).read_text(encoding="utf-8")
    assert "'Calendar': not mail: use a groupware migration" in report

    w.close()
    saved = settings_store.load()
    assert (saved.source.preset, saved.destination.preset) == ("exchange", "generic")
    again = make_window()
    try:
        assert again.source_page.preset.get() == "exchange"
        assert "calendars" in text_of(again.source_page.preset_hint)
        assert again.source_page.host.get() == f"{src.host}:{src.port}"  # not overwritten
    finally:
        again.destroy()


def test_public_folders_into_a_chosen_mailbox(wizard, dovecot_factory, tmp_path,
                                              screenshots):
    w = wizard
    src = dovecot_factory(public_namespace=True)
    dst = dovecot_factory()
    other = ("bob@example.com", "Bob-Pass-3k#")
    for user, password in ((JDOE, JDOE_PW), other):
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append(user, "INBOX", make_message(f"{user} own"))
    public = f"Public/{PUBLIC_FOLDER}"
    src.append_many(JDOE, public, [make_message(f"news {i}") for i in range(3)])
    to_destination(w, src)
    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    admin(w)
    press(w, w.next_button)
    page = w.users_page
    page.load(str(write_csv(tmp_path / "u.csv", [(JDOE, JDOE_PW, "John"), (*other, "Bob")])))

    press(w, page.folders_button)
    dialog = page.folder_dialog
    assert dialog.public.get() == "skip"  # left out and listed, unless chosen
    dialog.public.set("into")
    press(w, dialog.ok_button)
    assert dialog.winfo_exists()
    assert text_of(dialog.error) == ("Public folders: enter the mailbox they go into, or "
                                     "leave them out")
    type_into(w, dialog.public_into, JDOE)
    shot(w, screenshots, "4-users-public-folders", window=dialog)
    press(w, dialog.ok_button)
    assert not dialog.winfo_exists()
    assert text_of(page.folders_label) == f"Folders: public folders into {JDOE}"
    assert w.build_request(page.selected(), 1).settings.public_into == JDOE

    press(w, w.next_button)
    until_result(w)
    assert [r.state for r in w.result_page.finished.results] == [DONE, DONE]
    into = f"{PUBLIC_FOLDERS}/{PUBLIC_FOLDER}"
    assert len(dst.messages(JDOE, into)) == 3
    assert not any(n.startswith(PUBLIC_FOLDERS) for n in dst.folders(other[0]))
    w.save_settings()
    assert settings_store.load().public_into == JDOE
