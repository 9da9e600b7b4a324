"""`4d2kms`: a 4D WebSTAR configuration to Kerio Connect, run as a real process.

Dovecot stands in for 4D's IMAP service (the source: users log in with their
4D login name) and for Kerio's IMAP (the destination); the admin API is
`kerio_api.KerioApiServer`, which creates the accounts in that Dovecot. The
configuration comes from `webstar_samples.write_sample`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT, assert_same_mail, kimt, report_of, run_dir_of
from kerio_api import ADMIN, ADMIN_PW, MASTER_PW
from webstar_samples import Sample, seed, write_sample

USAGE = ("4d2kms [--target-host HOST] --target-user USER --target-pass PASSWORD "
         "[--source-host HOST]\n              [--source-path PATH] [--source-port PORT] "
         "[--quiet] [--help]")


def args_for(src, dst, api, sample: Sample, logs: Path, *extra: str) -> list[str]:
    logs.mkdir(parents=True, exist_ok=True)
    return ["4d2kms", "--source-path", str(sample.folder),
            "--source-host", src.host, "--source-port", str(src.port),
            "--target-host", dst.host, "--target-port", str(dst.port),
            "--target-security", "none", "--target-user", ADMIN,
            "--kerio-host", f"{api.host}:{api.port}", "--kerio-fingerprint", api.fingerprint,
            "--log-dir", str(logs), "--workers", "3", *extra]


def test_a_whole_4d_server_moves_and_a_rerun_creates_and_copies_nothing(kerio, tmp_path):
    src, dst, api, _ = kerio
    sample = write_sample(tmp_path / "MailboxServer")
    seed(src, sample)
    args = args_for(src, dst, api, sample, tmp_path / "logs")

    # The admin password from the environment (taken out before any worker starts).
    first = kimt(*args, env={"KIMT_TARGET_PASS": ADMIN_PW}, check_rc=1)
    assert "Traceback" not in first.stderr
    assert "3 post offices, 8 domains, 12 users (6 to migrate, 6 left out)" in first.stdout
    for who in sample.left_out:
        assert f"  {who} (post office " in first.stderr
    assert ("md5user@example.com (post office Head Office): the password is stored hashed"
            in first.stderr)
    assert "Kerio: 3 domains created, 0 already there, 0 refused; users: 6 created" \
        in first.stdout
    assert {d["name"]: d["aliasList"] for d in api.domains} == {
        po.domains[0]: list(po.domains[1:]) for po in sample.post_offices}
    names = {d["id"]: d["name"] for d in api.domains}
    kerio_users = {f"{u['loginName']}@{names[u['domainId']]}": u for u in api.users}
    assert set(kerio_users) == set(sample.accounts)
    for email, user in sample.accounts.items():
        assert kerio_users[email]["password"] == user.password  # the 4D password
        assert kerio_users[email]["fullName"] == user.full_name
        assert dst.users[email] == user.password
        assert_same_mail(src, dst, user.login, dst_user=email)
    assert "Every message is on the destination." in first.stdout
    assert "6 users of the 4D configuration were not migrated" in first.stdout
    calls = list(api.calls)
    assert calls.count("Domains.create") == 1 and calls.count("Domains.set") == 3

    report = report_of(first)
    assert f"4D WebSTAR configuration {sample.main}: 3 post offices" in report
    assert "gone@example.com (post office Head Office): login is disabled in 4D" in report
    assert ("Domain example.com (post office Head Office): created with the aliases "
            "example.net, example.org") in report
    assert "anna@sales.example.com: created (password from 4D)" in report
    debug = (run_dir_of(first) / "debug.log").read_text(encoding="utf-8")
    for secret in [u.password for u in sample.accounts.values()] + [ADMIN_PW]:
        assert secret not in debug and secret not in first.stdout + first.stderr
    assert ADMIN_PW not in report

    # Again, the password on the command line as Kerio's manual has it: it warns.
    calls_before = len(api.calls)
    second = kimt(*args, "--target-pass", ADMIN_PW, check_rc=1)
    assert "--target-pass is visible to other users" in second.stderr
    new = api.calls[calls_before:]
    assert not {"Domains.create", "Domains.set", "Domains.remove", "Users.create"} & set(new)
    assert second.stdout.count("0 copied") == 6
    assert "Kerio: 0 domains created, 3 already there, 0 refused; users: 0 created, " \
           "6 already there" in second.stdout
    assert "  firma.cz (post office Praha): already in Kerio, left as it was" in second.stdout
    for email, user in sample.accounts.items():
        assert_same_mail(src, dst, user.login, dst_user=email)


def test_an_existing_domain_is_skipped_and_a_collision_fails_only_its_post_office(
        kerio, tmp_path):
    src, dst, api, proxy = kerio
    sample = write_sample(tmp_path / "MailboxServer")
    seed(src, sample)
    api.add_domain("firma.cz", ["firma.eu"])  # Praha's: left as it is, its users go in
    api.add_user("jiri@firma.cz", "Jiri-Kerio-Pw-7")  # already there, another password
    api.add_domain("partner.com", ["shop.example.com"])  # Sales' alias: that domain fails
    (tmp_path / "admin.pass").write_text(ADMIN_PW + "\n")
    (tmp_path / "master.pass").write_text(MASTER_PW + "\n")
    # Mail written with Kerio's master authentication: Jiří's Kerio password is not his 4D one.
    copy = tmp_path / "kept" / "4d-report.log"
    copy.parent.mkdir()
    copy.write_text("an older copy\n")
    args = args_for(src, dst, api, sample, tmp_path / "logs", "--target-pass-file",
                    str(tmp_path / "admin.pass"), "--master-pass-file",
                    str(tmp_path / "master.pass"), "--log-file", str(copy))
    at = args.index("--target-host")
    args[at + 1:at + 4] = [proxy.host, "--target-port", str(proxy.port)]

    run = kimt(*args, check_rc=1)
    assert "Kerio: 1 domain created, 1 already there, 1 refused; users: 3 created, " \
           "1 already there, 2 refused." in run.stdout
    assert ("  firma.cz (post office Praha): already in Kerio, left as it was (its aliases "
            "firma.sk were not added)") in run.stdout
    refusal = ("Kerio refused the aliases shop.example.com of the domain sales.example.com: "
               "The alias shop.example.com is already used by the domain partner.com; the "
               "domain was removed again")
    assert f"  sales.example.com (post office Sales): NOT created — {refusal}" in run.stdout
    assert {d["name"]: d["aliasList"] for d in api.domains} == {
        "firma.cz": ["firma.eu"], "partner.com": ["shop.example.com"],
        "example.com": ["example.net", "example.org"]}
    for email in ("anna@sales.example.com", "bob@sales.example.com"):
        assert f"!! {email}: failed" in run.stdout and email not in dst.users
    assert dst.users["jiri@firma.cz"] == "Jiri-Kerio-Pw-7"  # left as it was
    for email in ("jdoe@example.com", "zoe@example.com", "jiri@firma.cz", "marie@firma.cz"):
        login = email.split("@")[0]
        assert_same_mail(src, dst, login, dst_user=email)
        assert f"setuser {email}" in proxy.events
    report = report_of(run)
    assert f"Domain sales.example.com (post office Sales): NOT created — {refusal}" in report
    assert f"Report copy: {copy}" in run.stdout  # --log-file: the Report, owner-only
    assert copy.read_text(encoding="utf-8") == report and copy.stat().st_mode & 0o777 == 0o600
    assert MASTER_PW not in report and MASTER_PW not in run.stdout + run.stderr


@pytest.mark.parametrize("damage,missing,name", [
    ("Sales", "", "PostOffices/Sales.xml"), ("", "Sales", "PostOffices/Sales.xml"),
    ("Praha", "", "PostOffices/praha.XML")])
def test_a_missing_or_damaged_configuration_stops_before_anything(kerio, tmp_path, damage,
                                                                   missing, name):
    src, dst, api, _ = kerio
    sample = write_sample(tmp_path / "MailboxServer", damage=damage, missing=missing)
    (tmp_path / "admin.pass").write_text(ADMIN_PW + "\n")
    run = kimt(*args_for(src, dst, api, sample, tmp_path / "logs", "--target-pass-file",
                         str(tmp_path / "admin.pass")), check_rc=2)
    assert run.stderr.startswith(f"kimt: {sample.folder / name}: ")
    assert "Traceback" not in run.stderr and not api.calls


def test_bad_input_is_said_plainly(tmp_path):
    nowhere = kimt("4d2kms", "--target-user", "Admin", "--source-path",
                   str(tmp_path / "none"), check_rc=2)
    assert nowhere.stderr == f"kimt: {tmp_path / 'none'}: no such file or folder\n"
    sample = write_sample(tmp_path / "4d")
    listed = kimt("4d2kms", "--target-user", "Admin", "--source-path", str(sample.folder),
                  "--list", check_rc=0)
    assert "  Sales: sales.example.com (aliases shop.example.com) — 3 users" in listed.stdout
    assert "  ssha@firma.cz (post office Praha): the password is stored hashed" in listed.stderr
    nowhere_to_copy = kimt("4d2kms", "--target-user", "Admin", "--source-path",
                           str(sample.folder), "--log-file", str(tmp_path / "no" / "r.log"),
                           check_rc=2)
    assert nowhere_to_copy.stderr == (f"kimt: --log-file: the folder {tmp_path / 'no'} does "
                                      "not exist\n")
    no_password = kimt("4d2kms", "--target-user", "Admin", "--source-path",
                       str(sample.folder), check_rc=2)
    assert "no password for the Kerio administrator: use --target-pass-file" \
        in no_password.stderr
    assert "Traceback" not in nowhere.stderr + listed.stderr + no_password.stderr


def script(*args: str) -> subprocess.CompletedProcess:
    """The `4d2kms` console script's entry point, as pyproject.toml names it."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["4d2kms"].partition(":")
    code = f"import sys; from {module} import {function} as m; sys.exit(m(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL)


def test_the_usage_is_kerios():
    bare = script()
    assert bare.returncode == 2
    assert bare.stderr.startswith(f"usage: {USAGE}\n4d2kms: error: the following arguments "
                                  "are required: --target-user")
    helped = script("--help")
    assert helped.returncode == 0 and helped.stdout.startswith(f"usage: {USAGE}\n")
    for option in ("--target-host HOST", "--target-user USER", "--target-pass PASSWORD",
                   "--source-host HOST", "--source-path PATH", "--source-port PORT",
                   "--quiet", "default localhost", "default 143",
                   "default /Applications/4DWebSTAR/MailboxServer"):
        assert option in helped.stdout
    under_kimt = kimt("4d2kms", check_rc=2)
    assert under_kimt.stderr.startswith("usage: kimt 4d2kms [--target-host HOST] --target-user")
    assert re.search(r"\n +\[--source-path PATH\] \[--source-port PORT\] \[--quiet\] "
                     r"\[--help\]\n", under_kimt.stderr)


def test_the_frozen_entry_is_4d2kms_under_that_name(tmp_path):
    """build.spec gives the macOS bundle a second executable, 4d2kms: the same entry script,
    which looks at the name it was started by."""
    spec = (ROOT / "build.spec").read_text(encoding="utf-8")
    assert 'EXE(pyz, a.scripts, [], name="4d2kms", **mac)' in spec
    entry = (ROOT / "installers" / "entry.py").read_text(encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    for name, args, rc, start in (("4d2kms", [], 2, f"usage: {USAGE}\n"),
                                  ("entry.py", ["4d2kms"], 2, "usage: kimt 4d2kms "),
                                  ("entry.py", ["--version"], 0, "")):
        (tmp_path / name).write_text(entry, encoding="utf-8")
        proc = subprocess.run([sys.executable, str(tmp_path / name), *args], env=env,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == rc, proc.stderr
        assert proc.stderr.startswith(start) and "Traceback" not in proc.stderr
