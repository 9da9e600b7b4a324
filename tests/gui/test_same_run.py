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


def test_wizard_and_4d2kms_build_identical_runs(wizard, tmp_path):
    """From 4D WebSTAR: the source page's configuration and 4D's IMAP service, Kerio written
    with each user's 4D password; the same run as `4d2kms` with the equivalent options."""
    from dataclasses import replace

    from kerio_api import ADMIN, ADMIN_PW
    from webstar_samples import write_sample

    from kimt.cli_4d import build_parser as build_4d2kms_parser
    from kimt.cli_4d import build_request as build_4d2kms_request
    from kimt.core.webstar import load

    sample = write_sample(tmp_path / "MailboxServer")
    w = wizard
    src = w.source_page
    src.source_kind.set("webstar")
    type_into(w, src.webstar_section.folder, str(sample.folder))
    type_into(w, src.host, "127.0.0.1:10143")
    w.show(w.pages.index(w.destination_page))
    dst = w.destination_page
    assert dst.kind.get() == "kerio"  # chosen for 4D WebSTAR
    type_into(w, dst.host, "kerio.example.com")
    k = dst.kerio
    type_into(w, k.user, ADMIN)
    type_into(w, k.password, ADMIN_PW)
    k.write.set("user")
    k.fingerprint = "SHA256:" + ":".join(["AB"] * 32)
    w.show(w.pages.index(w.users_page))
    from_wizard = w.build_request(w.users_page.selected(), 4)

    pass_file = tmp_path / "admin.pass"
    pass_file.write_text(ADMIN_PW + "\n")
    args = build_4d2kms_parser().parse_args([
        "--source-path", str(sample.folder), "--source-port", "10143",
        "--source-host", "127.0.0.1", "--target-host", "kerio.example.com",
        "--target-user", ADMIN, "--target-pass-file", str(pass_file),
        "--kerio-fingerprint", k.fingerprint])
    from_cli = build_4d2kms_request(args, load(sample.folder))

    assert [a.email for a in from_wizard.accounts] == list(sample.accounts)
    assert [a.email for a in from_cli.accounts] == list(sample.accounts)
    assert from_wizard.settings == from_cli.settings
    assert from_wizard.users_file == from_cli.users_file
    assert from_wizard.users_file.startswith(f"4D WebSTAR configuration {sample.main}")
    # (the wizard asks Kerio's API with a shorter timeout than the command line, as for
    # `kimt migrate --target-kind kerio`)
    assert from_wizard.provision == replace(
        from_cli.provision, admin=replace(from_cli.provision.admin, timeout=30))
    assert [(p.name, p.aliases) for p in from_cli.provision.domains] == [
        (po.domains[0], po.domains[1:]) for po in sample.post_offices]
