"""The server pages' logins, driven through the widgets: Kerio Connect, master separator, checks.

Kerio Connect is `kerio_api.KerioApiServer` (HTTPS JSON-RPC with a self-signed
certificate, creating accounts in the destination Dovecot) with
`masterauth_proxy.MasterAuthProxy` (X-MASTERAUTH) in front of that Dovecot,
wired as in tests/test_kerio.py. The wizard runs the real engine.
"""

from __future__ import annotations

import json
import re

from dovecot import make_message
from drive import all_text, press, pump, shot, text_of, try_next, type_into
from helpers import ADMIN_PASSWORD, assert_same_mail, write_csv
from kerio_api import ADMIN, ADMIN_PW, MASTER_PW

from kimt.core.events import DONE, FAILED
from kimt.gui import settings as settings_store
from kimt.gui.app import make_window

JDOE, ANNA, OLD = "jdoe@example.com", "anna@other.org", "old@existing.net"
ROOT = "root@example.com"  # Kerio refuses to create this one
PASSWORDS = {JDOE: "Src-Jdoe-1!", ANNA: "Src-Anna-2?", OLD: "Src-Old-3#", ROOT: "Src-Root-4%"}


def disabled(button) -> bool:
    return str(button.cget("state")) == "disabled"


def seed(src, user: str, password: str, n: int = 3) -> None:
    src.add_user(user, password)
    src.create_folder(user, "Projekty/2024")
    src.append_many(user, "INBOX", [make_message(f"{user} #{i}") for i in range(n)])
    src.append(user, "Projekty/2024", make_message(f"{user} project"), ["\\Flagged"])


def to_destination(w, src) -> None:
    press(w, w.next_button)
    w.source_page.security.set("none")
    type_into(w, w.source_page.host, f"{src.host}:{src.port}")
    press(w, w.next_button)
    assert w.page is w.destination_page


def test_kerio_migration_through_the_wizard(wizard, kerio, tmp_path, screenshots):
    w = wizard
    src, dst, api, proxy = kerio
    api.add_user(OLD, "Old-Kerio-Pw-1")  # exists before: left alone
    api.refuse_users[ROOT] = "This user name is reserved."
    for user, pw in PASSWORDS.items():
        seed(src, user, pw)
    users = write_csv(tmp_path / "users.csv", [(JDOE, PASSWORDS[JDOE], "John Doe"),
                                               (ANNA, PASSWORDS[ANNA], "Anna Nováková"),
                                               (OLD, PASSWORDS[OLD], "Old One"),
                                               (ROOT, PASSWORDS[ROOT], "Root")])
    to_destination(w, src)

    page = w.destination_page
    k = page.kerio
    page.security.set("none")
    type_into(w, page.host, f"{proxy.host}:{proxy.port}")
    page.kind.set("kerio")
    w.root.update()
    assert k.winfo_ismapped() and not page.logins.admin_frame.winfo_ismapped()
    assert not page.logins.names.winfo_ismapped()  # Kerio knows users by their address
    assert text_of(k.api_hint) == f"empty: {proxy.host}:4040"
    assert k.write.get() == "master"
    type_into(w, k.api, f"{api.host}:{api.port}")
    type_into(w, k.user, ADMIN)
    type_into(w, k.password, ADMIN_PW)
    assert disabled(w.next_button)
    try_next(w)
    assert text_of(k.master_error).startswith("Enter the master")
    type_into(w, k.master_password, MASTER_PW)
    k.generate.set(True)
    w.root.update()
    assert "Report log only" in text_of(k.generate_note)
    assert not disabled(w.next_button)

    # Test connection: the IMAP server and the admin API, whose certificate is trusted apart
    press(w, page.test_button)
    pump(w, lambda: page.api_line.trust_frame.winfo_ismapped(), what="the API certificate")
    assert "".join(text_of(page.api_line.fingerprint_label).split()) == api.fingerprint
    assert (f"The Kerio admin API at {api.host}:{api.port} answered, but its certificate was "
            "refused: it is a self-signed certificate, not signed by an authority this computer "
            "trusts") in text_of(page.api_line.result)
    assert text_of(page.imap_line.result).startswith("Connected")
    assert api.calls == []  # nothing, not even the admin's name, went to an unknown server
    press(w, page.api_line.trust_button)
    pump(w, lambda: text_of(page.api_line.result).startswith("Logged in"), what="API login")
    assert text_of(page.api_line.result) == (
        f"Logged in to the Kerio admin API at {api.host}:{api.port} as {ADMIN}; 1 domain: "
        "existing.net.")
    assert k.fingerprint == api.fingerprint and page.fingerprint == ""
    shot(w, screenshots, "3-destination-kerio")
    press(w, w.next_button)

    w.users_page.load(str(users))
    press(w, w.next_button)
    pump(w, lambda: w.page is w.result_page, timeout=90, what="the result page")
    assert [r.state for r in w.result_page.finished.results] == [DONE, DONE, DONE, FAILED]

    # What Kerio did, in the Report's words; mail written through X-MASTERAUTH
    accounts = text_of(w.result_page.accounts_label)
    assert accounts.startswith("Kerio: 2 domains created; users: 2 created, 1 already "
                               "there, 1 refused. Their generated passwords are in the Report")
    assert accounts.endswith("Not created: listed below with Kerio's reason.")
    assert (f"{ROOT}: FAILED: Kerio refused to create the account: This user name is "
            "reserved. Fix this in Kerio Connect or in the users file, then run again.") \
        in w.result_page.problem_lines()
    assert ROOT not in dst.users and "Src-Root" not in all_text(w.root)
    assert "Domains created: example.com, other.org" in accounts
    assert f"Created: {JDOE}, {ANNA}" in accounts
    assert f"Already there, left as it was: {OLD}" in accounts
    for user in (JDOE, ANNA, OLD):
        assert_same_mail(src, dst, user)
        assert f"setuser {user}" in proxy.events
    report = w.result_page.report_path.read_text(encoding="utf-8")
    generated = dict(re.findall(r"^  (\S+@\S+): created \(generated password: (\S+)\)$",
                                report, re.MULTILINE))
    assert set(generated) == {JDOE, ANNA}
    assert all(dst.users[u] == pw and len(pw) >= 16 for u, pw in generated.items())
    assert dst.users[OLD] == "Old-Kerio-Pw-1"
    shot(w, screenshots, "6-result-kerio")

    # The generated passwords are nowhere in the window (so in no screenshot), nor settings
    seen = all_text(w.root)
    assert JDOE in seen and "Kerio: 2 domains created" in seen  # the walk sees the pages
    for secret in [*generated.values(), ADMIN_PW, MASTER_PW]:
        assert secret not in seen
    w.close()
    saved = settings_store.settings_path().read_text(encoding="utf-8")
    for secret in [*generated.values(), ADMIN_PW, MASTER_PW, *PASSWORDS.values()]:
        assert secret not in saved
    target = json.loads(saved)["destination"]
    assert (target["kind"], target["kerio_api"], target["kerio_user"], target["kerio_write"],
            target["generate_passwords"], target["kerio_fingerprint"]) == (
        "kerio", f"{api.host}:{api.port}", ADMIN, "master", True, api.fingerprint)

    again = make_window()
    try:
        k = again.destination_page.kerio
        assert again.destination_page.kind.get() == "kerio"
        assert (k.api.get(), k.user.get(), k.generate.get()) == (
            f"{api.host}:{api.port}", ADMIN, True)
        assert k.password.get() == k.master_password.get() == ""
        assert k.fingerprint == api.fingerprint
    finally:
        again.destroy()


def test_master_separator_on_the_destination_and_local_part_on_the_source(
        wizard, src, dst, tmp_path, screenshots):
    w = wizard
    src.add_user("jdoe", PASSWORDS[JDOE])  # the old server knows him as 'jdoe'
    src.append_many("jdoe", "INBOX", [make_message(f"old {i}") for i in range(4)])
    dst.add_user(JDOE, "set-by-the-admin")
    users = write_csv(tmp_path / "users.csv", [(JDOE, PASSWORDS[JDOE], "John Doe")])
    press(w, w.next_button)
    s = w.source_page
    s.security.set("none")
    type_into(w, s.host, f"{src.host}:{src.port}")
    s.logins.login_name.set("local")
    press(w, w.next_button)

    d = w.destination_page
    d.security.set("none")
    type_into(w, d.host, f"{dst.host}:{dst.port}")
    d.kind.set("master")
    type_into(w, d.logins.admin_user, "admin")
    type_into(w, d.logins.admin_password, ADMIN_PASSWORD)
    d.logins.master_style.set("separator")
    w.root.update()
    assert d.logins.separator_entry.winfo_ismapped()
    type_into(w, d.logins.separator, "")
    assert disabled(w.next_button)
    try_next(w)
    assert text_of(d.logins.separator_error).startswith("The master separator is empty")
    type_into(w, d.logins.separator, "a b")
    assert "can't contain spaces" in text_of(d.logins.separator_error)
    type_into(w, d.logins.separator, "*")
    assert not disabled(w.next_button) and text_of(d.logins.separator_error) == ""
    assert text_of(d.logins.separator_radio) == "user*admin login (Dovecot master user)"
    shot(w, screenshots, "3-destination-separator")
    press(w, w.next_button)

    w.users_page.load(str(users))
    press(w, w.next_button)
    pump(w, lambda: w.page is w.result_page, timeout=60, what="the result page")
    assert [r.state for r in w.result_page.finished.results] == [DONE]
    assert_same_mail(src, dst, "jdoe", dst_user=JDOE)
    debug = w.result_page.debug_path.read_text(encoding="utf-8")
    assert f"source {src.host}:{src.port}: login jdoe as user" in debug
    assert f"login {JDOE} as master (separator)" in debug
    assert f"Master user logging in as {JDOE}" in dst.log_text()  # really the '*admin' login


def test_login_fields_are_checked_beside_them(wizard, screenshots):
    w = wizard
    press(w, w.next_button)
    s = w.source_page
    type_into(w, s.host, "old.example.com")
    s.kind.set("xoauth2")
    w.root.update()
    assert s.logins.token_frame.winfo_ismapped() and not disabled(w.next_button)
    type_into(w, s.logins.token_command, 'get-token "unclosed')
    assert disabled(w.next_button)
    try_next(w)
    assert text_of(s.logins.token_error) == "The token command: No closing quotation"
    type_into(w, s.logins.token_command, "get-token --for-imap")
    assert not disabled(w.next_button)
    assert s.config().oauth_token_command == "get-token --for-imap"
    assert s.config().auth == "xoauth2"
    press(w, w.next_button)

    d = w.destination_page
    type_into(w, d.host, "kerio.example.com")
    d.kind.set("kerio")
    w.root.update()
    k = d.kerio
    assert disabled(w.next_button)
    assert text_of(k.user_error) == ""  # not before the field was reached
    assert text_of(w.reason_label) == "Fill in the fields above to go on."
    try_next(w)
    assert text_of(w.reason_label) == "Complete the marked fields to go on."
    assert text_of(k.user_error) == "Enter the admin's name"
    assert k.user_error.winfo_ismapped()  # beside the field, not in a pop-up
    assert text_of(k.password_error) == "Enter the password"
    type_into(w, k.user, ADMIN)
    type_into(w, k.password, ADMIN_PW)
    type_into(w, k.api, "kerio.example.com:99999")
    assert "bad port '99999'" in text_of(k.api_error)
    type_into(w, k.api, "")
    assert text_of(k.api_hint) == "empty: kerio.example.com:4040"
    assert text_of(k.master_error).startswith("Enter the master password")
    shot(w, screenshots, "3-destination-kerio-invalid")
    k.write.set("user")  # as each user: no master password needed, and none asked for
    k.generate.set(True)
    w.root.update()
    assert not k.master_entry.winfo_ismapped() and not disabled(w.next_button)
    assert "A later run can't log in as these users" in text_of(k.generate_note)
    config, provision = d.config(), d.provisioning()
    assert (config.auth, config.login_name, config.master_password) == ("user", "email", None)
    assert (provision.admin.host, provision.admin.port, provision.admin.user) == (
        "kerio.example.com", 4040, ADMIN)
    assert provision.generate_passwords
    d.kind.set("master")  # the Kerio fields don't count for another kind
    w.root.update()
    assert d.provisioning() is None and disabled(w.next_button)
    assert text_of(d.logins.admin_user_error) == "Enter the admin's user name"
