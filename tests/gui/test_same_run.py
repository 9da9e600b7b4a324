"""The wizard and the command line build the same run from the same choices.

Both go through `core.options.run_request`; this fills the wizard's pages as
a person would and compares its request with the CLI's for the equivalent
options, field by field (servers, logins, workers, retries, batch size, the
users file as the Report names it).
"""

from __future__ import annotations

from drive import type_into
from helpers import ADMIN_PASSWORD, write_csv

from kimt.cli import build_parser, build_request
from kimt.core.accounts import read_accounts

USERS = [("jdoe@example.com", "Src-Secret-7x!", "John Doe"), ("no address", "x", ""),
         ("anna@example.com", "Anna-Pass-9q?", "Anna")]


def test_wizard_and_cli_build_identical_runs(wizard, tmp_path):
    w = wizard
    users = write_csv(tmp_path / "users.csv", USERS)
    src = w.source_page
    type_into(w, src.host, "old.example.com:10993")
    src.security.set("ssl")
    dst = w.destination_page
    type_into(w, dst.host, "new.example.com")
    dst.security.set("starttls")
    assert dst.kind.get() == "master"
    type_into(w, dst.logins.admin_user, "admin")
    type_into(w, dst.logins.admin_password, ADMIN_PASSWORD)
    w.users_page.load(str(users))
    chosen = w.users_page.selected()
    from_wizard = w.build_request(chosen, 3)

    pass_file = tmp_path / "admin.pass"
    pass_file.write_text(ADMIN_PASSWORD + "\n")
    args = build_parser().parse_args([
        "migrate", "--users", str(users), "--source-host", "old.example.com:10993",
        "--source-security", "ssl", "--target-host", "new.example.com",
        "--target-security", "starttls", "--target-auth", "master", "--target-user", "admin",
        "--target-pass-file", str(pass_file), "--workers", "3"])
    accounts = read_accounts(str(users))
    from_cli = build_request(args, accounts, list(accounts.accounts), False)

    assert [a.email for a in from_wizard.accounts] == [a.email for a in from_cli.accounts]
    assert from_wizard.settings == from_cli.settings  # both servers, logins, copy, retries
    assert (from_wizard.workers, from_wizard.verify, from_wizard.users_file,
            from_wizard.provision) == (from_cli.workers, from_cli.verify, from_cli.users_file,
                                       from_cli.provision)
    assert "lines left out: line 2" in from_wizard.users_file
