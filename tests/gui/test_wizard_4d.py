"""The wizard's 4D WebSTAR path, end to end: its configuration instead of a users file.

Dovecot stands in for 4D's IMAP service and for Kerio's IMAP, the admin API
is `kerio_api.KerioApiServer` (tests/test_4d2kms.py runs the same with the
command line). The source page finds no configuration in the default folder,
says what is wrong with a damaged one, and shows the post offices of a good
one; the destination becomes Kerio Connect; the users page lists the 4D users
and who is left out; the run creates the domains with their aliases and the
accounts with their 4D passwords, and copies the mail.
"""

from __future__ import annotations

import json

from drive import all_text, press, pump, row, shot, text_of, type_into
from helpers import assert_same_mail
from kerio_api import ADMIN, ADMIN_PW
from webstar_samples import seed, write_sample

from kimt.core.events import DONE
from kimt.core.webstar import DEFAULT_FOLDER, MAIN_FILE
from kimt.gui import result
from kimt.gui import settings as settings_store


def test_4d_webstar_through_the_wizard(wizard, kerio, tmp_path, screenshots, monkeypatch):
    w = wizard
    src, dst, api, _ = kerio
    sample = write_sample(tmp_path / "MailboxServer")
    damaged = write_sample(tmp_path / "Damaged", damage="Sales")
    seed(src, sample)
    api.add_domain("firma.cz", ["firma.eu"])  # Praha's domain: left as it is

    press(w, w.next_button)
    page = w.source_page
    section = page.webstar_section
    assert page.source_kind.get() == "imap" and not section.winfo_ismapped()
    page.source_kind.set("webstar")
    w.root.update()
    assert section.winfo_ismapped() and not page.logins.winfo_ismapped()
    assert (page.host.get(), page.security.get()) == ("localhost:143", "none")
    assert text_of(section.folder_error) == (
        f"{MAIN_FILE} is not in {DEFAULT_FOLDER}: choose the folder of 4D WebSTAR's Mailbox "
        "Server")
    assert str(w.next_button.cget("state")) == "disabled"
    type_into(w, section.folder, str(damaged.folder))
    assert text_of(section.folder_error).startswith(
        f"{damaged.folder / 'PostOffices' / 'Sales.xml'}: the file is damaged")
    assert str(w.next_button.cget("state")) == "disabled"
    type_into(w, section.folder, str(sample.folder))
    assert text_of(section.folder_error) == ""
    assert text_of(section.found_label) == (
        f"Found {MAIN_FILE}: 3 post offices, 8 domains, 12 users (6 to migrate, 6 left "
        "out). The users page lists who is left out, and why. These users move to Kerio "
        "Connect: no users file is needed.")
    assert [row(section.tree, i) for i in section.tree.get_children()] == [
        {"office": "Head Office", "domain": "example.com", "aliases": "example.net, example.org",
         "users": "5", "migrate": "2"},
        {"office": "Sales", "domain": "sales.example.com", "aliases": "shop.example.com",
         "users": "3", "migrate": "2"},
        {"office": "Praha", "domain": "firma.cz", "aliases": "firma.eu, firma.sk",
         "users": "4", "migrate": "2"}]
    type_into(w, page.host, f"{src.host}:{src.port}")
    press(w, page.test_button)
    pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"), what="connected")
    shot(w, screenshots, "2-source-4d")
    press(w, w.next_button)

    # The destination is Kerio Connect; each user writes with their 4D password.
    page = w.destination_page
    assert w.page is page and page.kind.get() == "kerio"
    k = page.kerio
    page.security.set("none")
    type_into(w, page.host, f"{dst.host}:{dst.port}")
    type_into(w, k.api, f"{api.host}:{api.port}")
    type_into(w, k.user, ADMIN)
    type_into(w, k.password, ADMIN_PW)
    k.write.set("user")
    press(w, page.test_button)
    pump(w, lambda: page.api_line.trust_frame.winfo_ismapped(), what="the API certificate")
    press(w, page.api_line.trust_button)
    pump(w, lambda: text_of(page.api_line.result).startswith("Logged in"), what="API login")
    page.kind.set("master")  # any other kind: Next waits, and says why
    w.root.update()
    assert str(w.next_button.cget("state")) == "disabled"
    assert text_of(page.kind_error).startswith("4D WebSTAR's post offices and users move to "
                                               "Kerio Connect")
    page.kind.set("kerio")
    w.root.update()
    press(w, w.next_button)

    # Users: the configuration's, not a file's; those left out, with why
    page = w.users_page
    assert w.page is page and not page.load_button.winfo_ismapped()
    assert text_of(w.subtitle_label).startswith("The users of 4D WebSTAR's post offices")
    assert text_of(page.file_label) == ("4D WebSTAR: 3 post offices, 8 domains, 12 users "
                                        "(6 to migrate, 6 left out)")
    problems = text_of(page.problems_label)
    assert problems.startswith("6 users of the 4D configuration are not migrated:\n"
                               "   nopass@example.com (post office Head Office): no password")
    assert "… and 1 more (a run's Report log lists them all)" in problems
    tree = page.table.tree
    rows = {row(tree, i)["address"]: row(tree, i) for i in tree.get_children()}
    assert list(rows) == list(sample.accounts)
    assert rows["jiri@firma.cz"]["name"] == "Jiří Dvořák"
    assert set(rows["anna@sales.example.com"]["password"]) == {"•"}
    press(w, page.check_button)
    pump(w, lambda: "logins work" in text_of(page.survey_label), what="Check logins")
    assert text_of(page.survey_label) == "6 of 6 logins work."  # 4D logins by name
    shot(w, screenshots, "4-users-4d")
    press(w, w.next_button)

    pump(w, lambda: w.page is w.result_page, timeout=90, what="the result page")
    assert [r.state for r in w.result_page.finished.results] == [DONE] * 6
    accounts = text_of(w.result_page.accounts_label)
    assert accounts.startswith("Kerio: 2 domains created, 1 already there, 0 refused; "
                               "users: 6 created, 0 already there, 0 refused.")
    assert "Domains created: example.com, sales.example.com" in accounts
    assert ("firma.cz: already in Kerio, left as it was (its aliases firma.sk were not added)"
            in accounts)
    assert {d["name"]: d["aliasList"] for d in api.domains} == {
        "firma.cz": ["firma.eu"], "example.com": ["example.net", "example.org"],
        "sales.example.com": ["shop.example.com"]}
    for email, user in sample.accounts.items():
        assert dst.users[email] == user.password
        assert_same_mail(src, dst, user.login, dst_user=email)
    problems = w.result_page.problem_lines().splitlines()
    assert len(problems) == 6 and problems[1] == (
        "not migrated from 4D WebSTAR: gone@example.com (post office Head Office): login is "
        "disabled in 4D")
    report = w.result_page.report_path.read_text(encoding="utf-8")
    assert f"4D WebSTAR configuration {sample.main}" in report
    assert "jdoe@example.com: created (password from 4D)" in report
    shot(w, screenshots, "6-result-4d")

    # Save a copy of the Report (the wizard's --log-file), where the admin chooses
    copy = tmp_path / "copies" / "report-4d.log"
    copy.parent.mkdir()
    monkeypatch.setattr(result.filedialog, "asksaveasfilename", lambda **kw: str(copy))
    press(w, w.result_page.save_button)
    assert copy.read_text(encoding="utf-8") == report and copy.stat().st_mode & 0o777 == 0o600
    assert text_of(w.result_page.error_label) == ("A copy of the Report log is saved "
                                                  "(readable by you alone); its path is below.")
    assert w.result_page.path_entry.get() == str(copy)  # a path that can be selected
    monkeypatch.setattr(result.filedialog, "asksaveasfilename",
                        lambda **kw: str(tmp_path / "gone" / "r.log"))
    press(w, w.result_page.save_button)
    assert text_of(w.result_page.error_label) == (
        f"cannot copy the Report log: the folder {tmp_path / 'gone'} does not exist")

    seen = all_text(w.root)
    for secret in [u.password for u in sample.accounts.values()] + [ADMIN_PW]:
        assert secret not in seen
    w.close()
    saved = json.loads(settings_store.settings_path().read_text(encoding="utf-8"))
    assert (saved["source_kind"], saved["webstar_folder"]) == ("webstar", str(sample.folder))
    assert ADMIN_PW not in json.dumps(saved)


def test_the_default_folder_is_found_without_asking(home, tmp_path, monkeypatch):
    """As Kerio's wizard: the configuration in its default folder is read when 4D WebSTAR
    is chosen (here: remembered from the last start), and the folder is not asked for."""
    from drive import close_window

    from kimt.gui import webstar
    from kimt.gui.app import make_window

    sample = write_sample(tmp_path / "Applications" / "4DWebSTAR" / "MailboxServer")
    monkeypatch.setattr(webstar, "DEFAULT_FOLDER", str(sample.folder))
    settings_store.save(settings_store.Settings(source_kind="webstar"))
    w = make_window()
    try:
        w.root.update()
        press(w, w.next_button)
        section = w.source_page.webstar_section
        assert section.folder.get() == str(sample.folder) and section.config is not None
        assert text_of(section.folder_error) == "" and len(section.tree.get_children()) == 3
        assert w.webstar() is section.config
    finally:
        close_window(w)


def test_back_to_an_imap_source_the_users_file_returns(wizard, tmp_path):
    w = wizard
    sample = write_sample(tmp_path / "MailboxServer")
    page = w.source_page
    page.source_kind.set("webstar")
    type_into(w, page.webstar_section.folder, str(sample.folder))
    users = w.users_page
    w.show(w.pages.index(users))
    w.root.update()
    assert len(users.table.tree.get_children()) == 6 and not users.load_button.winfo_ismapped()
    w.show(w.pages.index(page))
    page.source_kind.set("imap")
    w.root.update()
    assert page.logins.winfo_ismapped() and not page.webstar_section.winfo_ismapped()
    assert w.webstar() is None
    w.show(w.pages.index(users))
    w.root.update()
    assert users.accounts is None and users.load_button.winfo_ismapped()
    assert not users.table.tree.get_children() and text_of(users.problems_label) == ""
    assert text_of(users.selection_error).startswith("Load the users file (CSV) first")
    assert text_of(w.subtitle_label).startswith("Load the users file")
