"""Kerio Connect as the destination: accounts created through the admin API, then migrated.

The admin API is `kerio_api.KerioApiServer` (HTTPS JSON-RPC, self-signed),
which creates accounts in the destination Dovecot; X-MASTERAUTH is
`masterauth_proxy.MasterAuthProxy` in front of that Dovecot. `kimt` runs as
a real process.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dovecot import make_message
from helpers import ROOT, assert_same_mail, kimt, report_of, run_dir_of, write_csv
from kerio_api import ADMIN, ADMIN_PW, MASTER_PW, KerioApiServer
from masterauth_proxy import MasterAuthProxy

from kimt.core.accounts import Account
from kimt.core.errors import CertificateError, LoginError
from kimt.core.kerio import KerioAdmin, KerioApiError, KerioClient
from kimt.core.provision import (
    CREATED,
    EXISTING,
    REFUSED,
    DomainPlan,
    KerioProvisioning,
    check_admin,
    generate_password,
    provision,
)

JDOE, ANNA, OLD = "jdoe@example.com", "anna@other.org", "old@existing.net"


def admin_of(api: KerioApiServer, **changes) -> KerioAdmin:
    values = dict(host=api.host, port=api.port, user=ADMIN, password=ADMIN_PW,
                  fingerprint=api.fingerprint, timeout=10)
    values.update(changes)
    return KerioAdmin(**values)


def kerio_args(src, dst, api, users: Path, log_dir: Path, *extra: str,
               proxy: MasterAuthProxy | None = None) -> list[str]:
    """Plain IMAP source; the destination through X-MASTERAUTH (proxy) or user logins."""
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "kerio.pass").write_text(ADMIN_PW + "\n")
    (log_dir / "master.pass").write_text(MASTER_PW + "\n")
    target = (["--target-host", f"{proxy.host}:{proxy.port}", "--target-auth", "kerio-master",
               "--target-pass-file", str(log_dir / "master.pass")] if proxy else
              ["--target-host", f"{dst.host}:{dst.port}", "--target-auth", "user"])
    return ["migrate", "--users", str(users),
            "--source-host", f"{src.host}:{src.port}", "--source-security", "none",
            *target, "--target-security", "none",
            "--target-kind", "kerio", "--kerio-host", f"{api.host}:{api.port}",
            "--kerio-user", ADMIN, "--kerio-pass-file", str(log_dir / "kerio.pass"),
            "--kerio-fingerprint", api.fingerprint, "--log-dir", str(log_dir), *extra]


def seed(src, user: str, password: str, n: int = 3) -> None:
    src.add_user(user, password)
    src.create_folder(user, "Projekty/2024")
    for i in range(n):
        src.append(user, "INBOX", make_message(f"{user} #{i}", body=f"body {i}\r\n"), ["\\Seen"])
    src.append(user, "Projekty/2024", make_message(f"{user} project"), ["\\Flagged"])


class ProcessWatcher:
    """Collects the command lines and environments of every process while a run goes on."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if entry.name.isdigit():
                    for name in ("cmdline", "environ"):
                        try:
                            self.seen.add((entry / name).read_bytes())
                        except OSError:
                            pass
            time.sleep(0.02)

    def __enter__(self) -> ProcessWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_watched(args: list[str]) -> tuple[subprocess.CompletedProcess, ProcessWatcher]:
    with ProcessWatcher() as watcher:
        proc = subprocess.run([sys.executable, "-m", "kimt", *args], capture_output=True,
                              text=True, timeout=300, stdin=subprocess.DEVNULL,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return proc, watcher


def generated_in(report: str) -> dict[str, str]:
    return dict(re.findall(r"^  (\S+@\S+): created \(generated password: (\S+)\)$", report,
                           re.MULTILINE))


def test_kerio_migration_creates_accounts_and_a_rerun_creates_and_copies_nothing(
        kerio, tmp_path):
    src, dst, api, proxy = kerio
    api.add_user(OLD, "Old-Kerio-Pw-1")  # exists before KIMT runs: left alone
    api.expire_at_call = 4  # the session expires in the middle of the provisioning
    for user in (JDOE, ANNA, OLD):
        seed(src, user, "Src-" + user)
    users = write_csv(tmp_path / "users.csv", [(JDOE, "Src-" + JDOE, "John Doe"),
                                               (ANNA, "Src-" + ANNA, "Anna Nováková"),
                                               (OLD, "Src-" + OLD, "Old One")])
    args = kerio_args(src, dst, api, users, tmp_path / "logs", "--generate-passwords",
                      "--workers", "2", proxy=proxy)

    proc, watcher = run_watched(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = report_of(proc)
    assert "Domains created: example.com, other.org" in report
    generated = generated_in(report)
    assert set(generated) == {JDOE, ANNA}
    assert f"{OLD}: already there, left as it was" in report
    for user, pw in generated.items():
        assert len(pw) >= 16 and dst.users[user] == pw  # Kerio got exactly that password
    assert dst.users[OLD] == "Old-Kerio-Pw-1"
    assert {"example.com", "other.org", "existing.net"} == {d["name"] for d in api.domains}
    full_names = {u["loginName"]: u["fullName"] for u in api.users}
    assert full_names["anna"] == "Anna Nováková"
    assert api.calls.count("Session.login") == 2  # the expiry was answered by a new login
    assert api.calls[-1] == "Session.logout"
    for user in (JDOE, ANNA, OLD):
        assert_same_mail(src, dst, user)
        assert f"setuser {user}" in proxy.events  # written through X-MASTERAUTH
    assert "Kerio: 2 domains created; users: 2 created, 1 already there" in proc.stdout

    # The generated passwords are in the Report and nowhere else.
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    assert "Users.create" in debug
    for pw in list(generated.values()) + [ADMIN_PW, MASTER_PW]:
        assert pw not in debug
        assert pw not in proc.stdout + proc.stderr
        assert not any(pw.encode() in seen for seen in watcher.seen)
    for pw in (ADMIN_PW, MASTER_PW):
        assert pw not in report

    calls_before = len(api.calls)
    second = kimt(*args, check_rc=0)
    new_calls = api.calls[calls_before:]
    assert "Domains.create" not in new_calls and "Users.create" not in new_calls
    assert second.stdout.count("0 copied") == 3
    report2 = report_of(second)
    assert not generated_in(report2)
    assert all(f"{u}: already there, left as it was" in report2 for u in (JDOE, ANNA, OLD))
    assert {u: dst.users[u] for u in generated} == generated  # passwords untouched
    for user in (JDOE, ANNA, OLD):
        assert_same_mail(src, dst, user)


def test_refusals_are_reported_per_user_and_the_others_go_on(kerio, tmp_path):
    src, dst, api, _ = kerio
    api.min_password_length = 8
    api.refuse_users["root@example.com"] = "The user name %1 is reserved."
    seed(src, JDOE, "Long-Enough-1")
    seed(src, "short@example.com", "abc")
    seed(src, "root@example.com", "Root-Long-Pw-2")
    users = write_csv(tmp_path / "users.csv", [(JDOE, "Long-Enough-1"),
                                               ("short@example.com", "abc"),
                                               ("root@example.com", "Root-Long-Pw-2")])
    # --target-auth user: each user logs in with the password KIMT just set (the CSV one).
    first = kimt(*kerio_args(src, dst, api, users, tmp_path / "logs"), check_rc=1)
    report = report_of(first)
    assert (f"{JDOE}: created (password from the users file)") in report
    assert ("short@example.com: NOT created — Kerio refused to create the account: The "
            "password must be at least 8 characters long.; this user is skipped") in report
    assert "root@example.com: NOT created — Kerio refused to create the account: The user " \
           "name %1 is reserved." in report
    assert re.search(r"=== short@example.com — failed.*\n.*FAILED: Kerio refused to create "
                     r"the account: The password must be at least 8", report)
    assert "!! root@example.com: failed" in first.stdout
    assert api.created_users() == [JDOE]
    assert_same_mail(src, dst, JDOE)
    assert "short@example.com" not in dst.users

    calls_before = len(api.calls)
    second = kimt(*kerio_args(src, dst, api, users, tmp_path / "logs", "--only", JDOE),
                  check_rc=0)
    assert "Users.create" not in api.calls[calls_before:]
    assert "0 copied, 4 already there" in second.stdout


def test_user_logins_with_generated_passwords(kerio, tmp_path):
    src, dst, api, _ = kerio
    seed(src, JDOE, "Src-Pw-1")
    seed(src, ANNA, "Src-Pw-2")
    users = write_csv(tmp_path / "users.csv", [(JDOE, "Src-Pw-1", "", "Csv-Dst-Pw-9"),
                                               (ANNA, "Src-Pw-2")])
    proc = kimt(*kerio_args(src, dst, api, users, tmp_path / "logs", "--generate-passwords"),
                check_rc=0)
    report = report_of(proc)
    generated = generated_in(report)
    assert set(generated) == {ANNA}  # the 4th column wins over a generated one
    assert dst.users[JDOE] == "Csv-Dst-Pw-9" and dst.users[ANNA] == generated[ANNA]
    assert_same_mail(src, dst, JDOE)
    assert_same_mail(src, dst, ANNA)  # the worker logged in with the generated password
    assert generated[ANNA] not in (run_dir_of(proc) / "debug.log").read_text()


def test_kerio_admin_problems_stop_before_anything_is_created(kerio, tmp_path):
    src, dst, api, proxy = kerio
    seed(src, JDOE, "Src-Pw-1")
    users = write_csv(tmp_path / "users.csv", [(JDOE, "Src-Pw-1")])
    args = kerio_args(src, dst, api, users, tmp_path / "logs", proxy=proxy)
    (tmp_path / "logs" / "kerio.pass").write_text("wrong\n")
    wrong = kimt(*args, check_rc=3)
    assert "refused the login of Admin" in wrong.stderr
    assert not api.users and not api.domains
    at = args.index("--kerio-fingerprint")
    unpinned = kimt(*(args[:at] + args[at + 2:]), check_rc=3)
    assert f"--kerio-fingerprint {api.fingerprint}" in unpinned.stderr
    assert "wrong" not in unpinned.stderr
    assert not api.users


# ----------------------------------------------------------------------------- client level

def test_client_follows_the_session_rules(kerio):
    _, _, api, _ = kerio
    with KerioClient(admin_of(api)) as client:
        assert client.domains() == []
        api.expire_sessions()
        assert client.domains() == []  # -32001: logged in again, call repeated
        assert api.calls.count("Session.login") == 2
        cookie = dict(client.cookies)
        client.cookies.clear()  # a token without its cookie is refused
        with pytest.raises(KerioApiError) as e:
            client.call("Domains.get", {"query": {}}, _again=False)
        assert e.value.code == -32001
        client.cookies.update(cookie)
        with pytest.raises(KerioApiError) as e:
            client.call("Domains.get", {"query": "all"})
        assert e.value.code == -32602
        created, errors = client.create("Domains.create", "domains", [{"name": "a.cz"}] * 2)
        assert list(created) == [0] and errors[1]["code"] == 1001
    assert api.calls[-1] == "Session.logout"


def test_a_calls_own_error_is_filled_from_its_data(kerio):
    """Kerio puts a call's message parameters in error.data.messageParameters."""
    _, _, api, _ = kerio
    api.refuse_calls["Domains.get"] = (1004, "Access to %1 denied for %2.", ["domains", ADMIN])
    with KerioClient(admin_of(api)) as client, pytest.raises(KerioApiError) as e:
        client.domains()
    assert e.value.code == 1004
    assert str(e.value) == f"Kerio refused Domains.get: Access to domains denied for {ADMIN}. " \
                           "(code 1004)"


def test_planned_domains_follow_the_4d_rules(kerio):
    """Kerio's 4D migration: an existing domain is left as it is; a new one gets its aliases
    with Domains.set; a collision fails that domain alone, with Kerio's words."""
    _, dst, api, _ = kerio
    api.add_domain("old.cz", ["old.eu"])
    api.add_domain("partner.com", ["taken.com"])
    plans = (DomainPlan("old.cz", ("old.eu", "old.sk"), "post office Old"),
             DomainPlan("fresh.org", ("fresh.net", "fresh.info"), "post office Fresh"),
             DomainPlan("new.com", ("new.net", "taken.com"), "post office New"),
             DomainPlan("taken.com", (), "post office Taken"))
    accounts = [Account(f"u@{p.name}", f"Pw-{p.name}-1", "U") for p in plans]
    out = provision(KerioProvisioning(admin_of(api), domains=plans, password_source="4D"),
                    accounts)
    assert [(d.name, d.state, d.aliases, d.reason, d.origin) for d in out.domains] == [
        ("old.cz", EXISTING, [], "its aliases old.sk were not added", "post office Old"),
        ("fresh.org", CREATED, ["fresh.net", "fresh.info"], "", "post office Fresh"),
        ("new.com", REFUSED, [], "Kerio refused the aliases new.net, taken.com of the domain "
         "new.com: The alias taken.com is already used by the domain partner.com; the domain "
         "was removed again", "post office New"),
        ("taken.com", REFUSED, [], "Kerio refused to create the domain taken.com: The name "
         "taken.com is already used as an alias of the domain partner.com.", "post office Taken"),
    ]
    assert out.domains_created == ["fresh.org"]
    assert {d["name"]: d["aliasList"] for d in api.domains} == {
        "old.cz": ["old.eu"], "partner.com": ["taken.com"],
        "fresh.org": ["fresh.net", "fresh.info"]}
    assert [(o.email, o.state) for o in out.accounts] == [
        ("u@old.cz", CREATED), ("u@fresh.org", CREATED), ("u@new.com", REFUSED),
        ("u@taken.com", REFUSED)]
    assert out.accounts[2].reason == out.domains[2].reason
    assert dst.users["u@old.cz"] == "Pw-old.cz-1"
    assert api.calls.count("Domains.create") == 1  # every new domain in one call

    # A domain that can't be removed again says what to do.
    api.refuse_calls["Domains.remove"] = (1004, "Removing %1 is not allowed.", ["domains"])
    out = provision(KerioProvisioning(admin_of(api), domains=(
        DomainPlan("third.com", ("taken.com",)),)), [Account("v@third.com", "Pw-v-1")])
    assert out.domains[0].reason == (
        "Kerio refused the aliases taken.com of the domain third.com: The alias taken.com is "
        "already used by the domain partner.com; the domain was created without them and "
        "could not be removed again (Removing domains is not allowed): remove it in Kerio's "
        "administration before running again")


def test_check_admin_and_certificate_flow(kerio):
    _, _, api, _ = kerio
    api.add_domain("example.com", ["example.cz"])
    assert "1 domain: example.com" in check_admin(admin_of(api))
    with pytest.raises(LoginError, match="refused the login of Admin"):
        check_admin(admin_of(api, password="nope"))
    with pytest.raises(CertificateError) as e:
        check_admin(admin_of(api, fingerprint=None))
    assert e.value.fingerprint == api.fingerprint and api.fingerprint in str(e.value)
    other = "SHA256:" + ":".join(["AB"] * 32)
    with pytest.raises(CertificateError, match="not the trusted"):
        check_admin(admin_of(api, fingerprint=other))
    assert api.calls.count("Session.login") == 2  # no password was sent to an unknown server


def test_provision_uses_domain_aliases_and_reports_outcomes(kerio):
    _, dst, api, _ = kerio
    api.add_domain("example.com", ["example.cz"])
    api.add_user("old@example.com", "Old-Pw-123")
    accounts = [Account("new@example.cz", "Src-Pw-1", "New"),
                Account("old@example.com", "Src-Pw-2"),
                Account("x@fresh.org", "Src-Pw-3", destination_password="Dst-Pw-3")]
    out = provision(KerioProvisioning(admin_of(api), generate_passwords=True), accounts)
    assert out.domains_created == ["fresh.org"]
    states = {o.email: o.state for o in out.accounts}
    assert states == {"new@example.cz": CREATED, "old@example.com": EXISTING,
                      "x@fresh.org": CREATED}
    assert list(out.generated) == ["new@example.cz"]
    assert dst.users["new@example.com"] == out.generated["new@example.cz"]
    assert dst.users["x@fresh.org"] == "Dst-Pw-3"
    assert REFUSED not in states.values()
    # Users.set: not used by a migration (existing users are left alone), but the client has it.
    with KerioClient(admin_of(api)) as client:
        uid = next(u["id"] for u in api.users if u["loginName"] == "x")
        client.set_password(uid, "Reset-Pw-77")
        with pytest.raises(KerioApiError, match="User not found"):
            client.set_password("u-missing", "Reset-Pw-77")
    assert dst.users["x@fresh.org"] == "Reset-Pw-77"


def test_generated_passwords_are_strong_and_plain():
    seen = {generate_password() for _ in range(200)}
    assert len(seen) == 200
    for pw in seen:
        assert len(pw) == 16
        assert not set(pw) & set(" ;,\"'$`\\")
        assert any(c.isupper() for c in pw) and any(c.islower() for c in pw)
        assert any(c.isdigit() for c in pw) and any(not c.isalnum() for c in pw)


@pytest.mark.parametrize("extra,message", [
    (["--target-auth", "kerio-master"], "no admin password for destination"),
    (["--generate-passwords"], "--generate-passwords needs --target-kind kerio"),
    (["--target-kind", "kerio"], "needs the Kerio administrator: --kerio-user NAME"),
    (["--target-kind", "kerio", "--kerio-user", "Admin"],
     "no password for the Kerio administrator"),
    (["--source-auth", "xoauth2", "--oauth-token-command", 'get-token "unclosed'],
     "--oauth-token-command: No closing quotation"),
])
def test_option_mistakes_are_clear(tmp_path, extra, message):
    users = write_csv(tmp_path / "users.csv", [(JDOE, "pw")])
    proc = kimt("migrate", "--users", str(users), "--source-host", "127.0.0.1:1",
                "--target-host", "127.0.0.1:1", *extra, check_rc=2)
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_generated_passwords_are_masked_everywhere_but_their_report_section(tmp_path):
    from kimt.core.logs import Redactor, RunLogs

    logs = RunLogs(tmp_path, Redactor(["Src-Pw-1"]), "header")
    try:
        logs.redact.add(["Gen-Pw-4711-x"])
        logs.debug("INFO", "kimt.test", "Users.create sent Gen-Pw-4711-x and Src-Pw-1")
        logs.write_report("created: Gen-Pw-4711-x (source Src-Pw-1)\n", keep=["Gen-Pw-4711-x"])
        logs.write_report("elsewhere: Gen-Pw-4711-x\n")
    finally:
        logs.close()
    debug = logs.debug_path.read_text()
    report = logs.report_path.read_text()
    assert "Gen-Pw-4711-x" not in debug and "Src-Pw-1" not in debug
    assert "created: Gen-Pw-4711-x (source •••)" in report
    assert "elsewhere: •••" in report
