"""Trusting what the computer trusts (issue 16): a company's own CA in the system store.

A Dovecot shows a certificate for 127.0.0.1/localhost signed by a private CA
(tests/private_ca.py). Without the CA in the store KIMT refuses it and says so
truly (issued by that CA, which this computer does not trust, with the
fingerprint); with the CA in the store `kimt check` and `kimt migrate` connect
with no fingerprint, on both sides, over SSL/TLS and STARTTLS. A trusted CA does
not excuse another name or an expired certificate: each is refused with its own
words (the names it covers, its dates). The Kerio admin API double with a
certificate of the same CA is trusted too. Each KIMT process gets a store of its
own through SSL_CERT_FILE/SSL_CERT_DIR; one test installs the CA as an admin
does (update-ca-certificates), in a mount namespace of its own.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dovecot import make_message
from helpers import ROOT, assert_same_mail, kimt, migrate_args, report_of, write_csv
from kerio_api import KerioApiServer
from private_ca import CA_NAME, PrivateCA, fingerprint, serve

from kimt.core.errors import CertificateError
from kimt.core.kerio import KerioAdmin
from kimt.core.provision import check_admin

# Every test gives KIMT a store of its own through OpenSSL's variables, or runs
# update-ca-certificates: Linux, this machine's rig (not the unit tests of the release).
pytestmark = pytest.mark.rig

USER, PASSWORD = "ann@example.com", "Ann-Secret-7x!"
NOT_TRUSTED = f"it is issued by “{CA_NAME}”, not an authority this computer trusts"


@pytest.fixture
def company(tmp_path) -> PrivateCA:
    return PrivateCA(tmp_path / "company-ca")


@pytest.fixture
def servers(dovecot_factory, company):
    """(source, destination), each showing a certificate of the company's CA."""
    src, dst = dovecot_factory(), dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "Dst-Unused-9")
    serve(src, *company.issue("source"))
    serve(dst, *company.issue("destination"))
    return src, dst


def check(src, port: int, security: str, tmp_path: Path, env: dict | None = None,
          rc: int = 0):
    users = write_csv(tmp_path / "check-users.csv", [(USER, PASSWORD)])
    return kimt("check", "--users", str(users), "--source-host", f"127.0.0.1:{port}",
                "--source-security", security, "--no-estimate", env=env, check_rc=rc)


def tls_migrate_args(src, dst, tmp_path: Path) -> list[str]:
    """Source over SSL/TLS, destination over STARTTLS; no fingerprint anywhere."""
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    i = args.index("--source-host")
    args[i:i + 4] = ["--source-host", f"127.0.0.1:{src.ssl_port}", "--source-security", "ssl"]
    args[args.index("--target-security") + 1] = "starttls"
    return args


def logins(server, since: int) -> list[str]:
    return [line for line in server.log_text()[since:].splitlines() if "Login: user=<" in line]


def test_a_private_ca_not_in_the_store_is_refused_naming_it_with_the_fingerprint(
        servers, tmp_path):
    src, dst = servers
    fp = fingerprint(src.cert_path)
    src.append(USER, "INBOX", make_message("never copied"))
    before = len(src.log_text())
    proc = check(src, src.ssl_port, "ssl", tmp_path, rc=3)
    assert proc.stderr.startswith(
        f"kimt: 127.0.0.1:{src.ssl_port} answered, but its certificate was refused: "
        f"{NOT_TRUSTED}. Its fingerprint is {fp}.\n"), proc.stderr
    assert f"--source-fingerprint {fp}" in proc.stderr

    args = tls_migrate_args(src, dst, tmp_path)
    args[args.index("--source-host") + 1] = f"127.0.0.1:{src.port}"
    args[args.index("--source-security") + 1] = "starttls"
    proc = kimt(*args, check_rc=3)
    assert (f"The TLS certificate of 127.0.0.1:{src.port} was refused: {NOT_TRUSTED}. It "
            f"shows the fingerprint {fp}.") in proc.stderr
    assert "self-signed" not in proc.stderr  # it is not: it names its issuer
    assert logins(src, before) == []  # no password went to that server
    assert dst.messages(USER, "INBOX") == []


def test_with_the_ca_in_the_store_check_and_migrate_need_no_fingerprint(
        servers, company, tmp_path):
    src, dst = servers
    store = company.store(tmp_path / "store")
    for port, security, words in ((src.ssl_port, "ssl", "SSL/TLS"),
                                  (src.port, "starttls", "STARTTLS")):
        proc = check(src, port, security, tmp_path, env=store)
        assert proc.stdout.startswith(
            f"Connected to 127.0.0.1:{port} ({words}), certificate valid"), proc.stdout
        assert f"ok {USER}" in proc.stdout

    src.create_folder(USER, "Projekty")
    for i in range(3):
        src.append(USER, "INBOX", make_message(f"inbox {i}"))
    src.append(USER, "Projekty", make_message("projekt"), ["\\Flagged"])
    before = (len(src.log_text()), len(dst.log_text()))
    proc = kimt(*tls_migrate_args(src, dst, tmp_path), env=store, check_rc=0)
    for server, since in zip((src, dst), before, strict=True):  # KIMT's, before the rig's
        lines = logins(server, since)
        assert lines and all(", TLS, " in line for line in lines), lines
    assert_same_mail(src, dst, USER)
    report = report_of(proc)
    trusted = "certificate verified against the authorities this computer trusts"
    assert f"Source: 127.0.0.1:{src.ssl_port}, SSL/TLS, {trusted};" in report, report
    assert f"Destination: 127.0.0.1:{dst.port}, STARTTLS, {trusted};" in report, report


def test_another_name_is_refused_naming_the_names_it_covers(dovecot_factory, company,
                                                           tmp_path):
    src = dovecot_factory()
    src.add_user(USER, PASSWORD)
    cert, key = company.issue("other", names=("mail.other.example", "10.9.8.7"))
    serve(src, cert, key)
    store = company.store(tmp_path / "store")
    for port, security in ((src.ssl_port, "ssl"), (src.port, "starttls")):
        proc = check(src, port, security, tmp_path, env=store, rc=3)
        assert proc.stderr.startswith(
            f"kimt: 127.0.0.1:{port} answered, but its certificate was refused: it is for "
            "mail.other.example and 10.9.8.7, not 127.0.0.1: the server name typed must be "
            f"one of the names it covers. Its fingerprint is {fingerprint(cert)}."
        ), proc.stderr
        assert "authority" not in proc.stderr  # the CA is trusted: that is not the problem


def test_an_expired_certificate_is_refused_with_its_dates(dovecot_factory, company, tmp_path):
    src = dovecot_factory()
    src.add_user(USER, PASSWORD)
    cert, key = company.issue("expired", not_before=datetime(2020, 1, 1, tzinfo=UTC),
                              not_after=datetime(2021, 1, 1, tzinfo=UTC))
    serve(src, cert, key)
    proc = check(src, src.ssl_port, "ssl", tmp_path, env=company.store(tmp_path / "store"),
                 rc=3)
    assert proc.stderr.startswith(
        f"kimt: 127.0.0.1:{src.ssl_port} answered, but its certificate was refused: it "
        "expired on 2021-01-01 00:00 UTC (valid from 2020-01-01 00:00 UTC to 2021-01-01 "
        "00:00 UTC; this computer's clock says "), proc.stderr
    assert "authority" not in proc.stderr and "it is for" not in proc.stderr

    # Not trusted and expired: both are said, where OpenSSL names only the first.
    proc = check(src, src.ssl_port, "ssl", tmp_path, rc=3)
    assert f"{NOT_TRUSTED}; it expired on 2021-01-01 00:00 UTC" in proc.stderr


def test_kerio_admin_api_with_a_certificate_of_the_same_ca_is_trusted(company, tmp_path,
                                                                      monkeypatch):
    api = KerioApiServer(admin=("Admin", "Kerio-Admin-Pw"))
    api.cert_path, api.key_path = company.issue("kerio")
    with api:
        admin = KerioAdmin(api.host, api.port, "Admin", "Kerio-Admin-Pw", timeout=10)
        with pytest.raises(CertificateError) as refused:
            check_admin(admin)
        assert refused.value.problem == NOT_TRUSTED
        assert refused.value.fingerprint == fingerprint(api.cert_path)
        assert api.calls == []  # refused before the password was sent

        for name, value in company.store(tmp_path / "store").items():
            monkeypatch.setenv(name, value)
        assert check_admin(admin).endswith("; 0 domains.")
        assert api.calls[0] == "Session.login"


# ------------------------------------------------------------------ the admin's way

ADMIN_WAY = r"""
set -eu
# A copy of the store for this namespace: what happens here never reaches the machine.
for d in /etc/ssl/certs /usr/local/share/ca-certificates; do
    copy=$(mktemp -d); cp -a "$d/." "$copy/"; mount --bind "$copy" "$d"
done
# No hooks (Java's keystore is no store KIMT reads, and its hook runs dpkg).
hooks=/etc/ca-certificates/update.d
if [ -d "$hooks" ]; then mount --bind "$(mktemp -d)" "$hooks"; fi
cp /etc/ssl/certs/ca-certificates.crt "$OUT/before.crt"
ls /etc/ssl/certs > "$OUT/before.ls"
installed=/usr/local/share/ca-certificates/kimt-test-company-ca.crt
remove() {
    rm -f "$installed"
    update-ca-certificates --fresh > "$OUT/remove.txt" 2>&1
}
trap remove EXIT
cp "$CA" "$installed"
update-ca-certificates > "$OUT/install.txt" 2>&1
ls /etc/ssl/certs > "$OUT/installed.ls"
"$@" > "$OUT/installed.out" 2>&1 && echo 0 > "$OUT/installed.rc" || echo $? > "$OUT/installed.rc"
remove
trap - EXIT
cp /etc/ssl/certs/ca-certificates.crt "$OUT/after.crt"
ls /etc/ssl/certs > "$OUT/after.ls"
"$@" > "$OUT/removed.out" 2>&1 && echo 0 > "$OUT/removed.rc" || echo $? > "$OUT/removed.rc"
"""


@pytest.mark.slow
def test_the_admin_way_update_ca_certificates_then_removed_again(servers, company, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("installs a CA as an admin does (update-ca-certificates), which needs root")
    for program in ("update-ca-certificates", "unshare", "mount"):
        if not shutil.which(program):
            pytest.skip(f"needs {program} (Debian's ca-certificates, util-linux)")
    src, _ = servers
    machine_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    machine_before = hashlib.sha256(machine_bundle.read_bytes()).hexdigest()
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    out = tmp_path / "out"
    out.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env.update(PYTHONPATH=str(ROOT), OUT=str(out), CA=str(company.cert_path))
    command = [sys.executable, "-m", "kimt", "check", "--users", str(users),
               "--source-host", f"127.0.0.1:{src.ssl_port}", "--source-security", "ssl",
               "--no-estimate"]
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                           ADMIN_WAY, "admin-way", *command], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{shlex.join(proc.args[:5])}…\n{proc.stdout}\n{proc.stderr}"
    assert "kimt-test-company-ca.pem" in (out / "installed.ls").read_text().split()
    installed = (out / "installed.out").read_text()
    assert (out / "installed.rc").read_text().strip() == "0", installed
    assert installed.startswith(f"Connected to 127.0.0.1:{src.ssl_port} (SSL/TLS), "
                                "certificate valid"), installed
    # Removed again: the store is as it was, and the certificate is refused again.
    assert (out / "after.crt").read_bytes() == (out / "before.crt").read_bytes()
    assert (out / "after.ls").read_text() == (out / "before.ls").read_text()
    removed = (out / "removed.out").read_text()
    assert (out / "removed.rc").read_text().strip() == "3", removed
    assert NOT_TRUSTED in removed
    assert hashlib.sha256(machine_bundle.read_bytes()).hexdigest() == machine_before
    assert not Path("/usr/local/share/ca-certificates/kimt-test-company-ca.crt").exists()
