"""`scripts/demo --gui`: the wizard opens on the demo's two servers with its users file ready.

The demo's own prefill (`wizard_environment`: the settings file and the
environment it starts `kimt` with) is applied here, and the window is
opened the way `kimt` opens it (`app.open_wizard`): the pages must show the
demo's servers, trusted, with the admin's password typed in but nowhere
saved, Load CSV must offer the demo's users file, and a migration must go
through without a key pressed elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from dovecot import make_message
from drive import all_text, close_window, press, pump, shot, text_of
from helpers import ROOT

from kimt.core.events import DONE
from kimt.gui.app import TARGET_PASSWORD_VARIABLE, open_wizard


def load_demo():
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    return demo


def disabled(button) -> bool:
    return str(button.cget("state")) == "disabled"


def test_the_demo_opens_the_wizard_on_its_servers(home, dovecot_factory, tmp_path,
                                                   monkeypatch, screenshots):
    demo = load_demo()
    old = dovecot_factory(**demo.OLD_SERVER)
    new = dovecot_factory(**demo.NEW_SERVER)
    for email, password, _ in demo.USERS:
        old.add_user(email, password)
        new.add_user(email, "not-needed-master-login")
        old.append(email, "INBOX", make_message(f"Hello {email}"))
    work = tmp_path / "demo"
    work.mkdir()
    users = demo.write_users(work)
    env = demo.wizard_environment(work, old, new, users)
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", TARGET_PASSWORD_VARIABLE):
        monkeypatch.setenv(name, env[name])

    w = open_wizard()
    try:
        assert TARGET_PASSWORD_VARIABLE not in os.environ  # no worker inherits it
        press(w, w.next_button)
        page = w.source_page
        assert (page.host.get(), page.security.get(), page.fingerprint) == (
            f"127.0.0.1:{old.ssl_port}", "ssl", old.fingerprint)
        press(w, page.test_button)
        pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"),
             what="the old server")
        assert "certificate trusted by its fingerprint" in text_of(page.imap_line.result)
        shot(w, screenshots, "demo-2-source")
        press(w, w.next_button)

        page = w.destination_page
        assert (page.host.get(), page.security.get(), page.kind.get(), page.fingerprint) == (
            f"127.0.0.1:{new.port}", "starttls", "master", new.fingerprint)
        assert page.logins.admin_user.get() == new.master_user
        assert page.logins.admin_password.get() == new.master_password
        assert not disabled(w.next_button)
        press(w, page.test_button)
        pump(w, lambda: text_of(page.imap_line.result).startswith("Connected"),
             what="the new server")
        shot(w, screenshots, "demo-3-destination")
        press(w, w.next_button)

        offered: dict = {}

        def choose(**options) -> str:  # the user presses Open on what is offered
            offered.update(options)
            return str(Path(options["initialdir"]) / options["initialfile"])

        monkeypatch.setattr("tkinter.filedialog.askopenfilename", choose)
        page = w.users_page
        press(w, page.load_button)
        assert (offered["initialdir"], offered["initialfile"]) == (str(work), "users.csv")
        assert text_of(w.note_label) == f"{len(demo.USERS)} of {len(demo.USERS)} selected"
        shot(w, screenshots, "demo-4-users")
        assert new.master_password not in all_text(w.root)  # dots only

        press(w, w.next_button)  # Start migration
        pump(w, lambda: w.page is w.result_page, timeout=90, what="the result page")
        assert [r.state for r in w.result_page.finished.results] == [DONE] * len(demo.USERS)
        assert list((work / "state").rglob("journal-*")), "the journal is not the demo's"
        w.close()
    finally:
        close_window(w)
    saved = (work / "config" / "KIMT" / "settings.json").read_text(encoding="utf-8")
    assert new.master_password not in saved
    assert all(password not in saved for _, password, _ in demo.USERS)
