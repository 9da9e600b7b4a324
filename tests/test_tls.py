"""TLS refusals (issue 6, point 7): expired, self-signed, wrong-host certificates, no STARTTLS.

Each is refused by default, before any password is sent, with the reason and
the certificate's fingerprint; a missing STARTTLS is an error, never a silent
fall-back to plain text. (Self-signed refused, then trusted by fingerprint,
and a changed fingerprint refused: tests/test_migrate.py::test_tls_fingerprint_and_refusal.)
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from dovecot import make_message
from helpers import assert_same_mail, kimt, migrate_args, report_of, run_dir_of, write_csv

from kimt.core.errors import ConnectError
from kimt.core.kerio import KerioAdmin
from kimt.core.provision import check_admin

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"

CA_CONFIG = """[ca]
default_ca = d
[d]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = p
copy_extensions = copy
unique_subject = no
[p]
commonName = supplied
"""


def make_certificate(folder: Path, names: str, start: str, end: str) -> tuple[Path, Path]:
    """A self-signed certificate for `names` (subjectAltName), valid from `start` to `end`."""
    folder.mkdir(parents=True)
    (folder / "ca.cnf").write_text(CA_CONFIG)
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("01\n")
    run = lambda *cmd: subprocess.run(cmd, cwd=folder, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "key.pem", "-out", "req.csr", "-subj", "/CN=mail.test",
        "-addext", f"subjectAltName={names}")
    run("openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "key.pem",
        "-in", "req.csr", "-out", "cert.pem", "-startdate", start, "-enddate", end, "-notext")
    return folder / "cert.pem", folder / "key.pem"


def fingerprint(cert: Path) -> str:
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, 64, 2))


CERTS = {
    "expired": ("IP:127.0.0.1,DNS:localhost", "20200101000000Z", "20210101000000Z",
                "; it expired on 2021-01-01 00:00 UTC (valid from 2020-01-01 00:00 UTC to "
                "2021-01-01 00:00 UTC; this computer's clock says "),
    "wrong host": ("DNS:mail.other.example", "20200101000000Z", "20991231000000Z",
                   "; it is for mail.other.example, not 127.0.0.1: the server name typed "
                   "must be one of the names it covers. It shows the fingerprint"),
}
SELF_SIGNED = ("was refused: it is a self-signed certificate, not signed by an authority this "
               "computer trusts")


@pytest.mark.parametrize("security", ["ssl", "starttls"])
@pytest.mark.parametrize("kind", list(CERTS))
def test_bad_certificate_is_refused_with_reason_and_fingerprint(dovecot_factory, tmp_path,
                                                                kind, security):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("never copied"))
    names, start, end, reason = CERTS[kind]
    cert, key = make_certificate(tmp_path / "cert", names, start, end)
    src.cert_path.write_bytes(cert.read_bytes())
    src.key_path.write_bytes(key.read_bytes())
    src.restart()
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    port = src.ssl_port if security == "ssl" else src.port
    i = args.index("--source-host")
    args[i:i + 4] = ["--source-host", f"127.0.0.1:{port}", "--source-security", security]
    before = len(src.log_text())
    proc = kimt(*args, check_rc=3)
    assert f"The TLS certificate of 127.0.0.1:{port} was refused: " in proc.stderr
    assert SELF_SIGNED + reason in proc.stderr  # every problem, not only OpenSSL's first
    assert fingerprint(cert) in proc.stderr and "--source-fingerprint" in proc.stderr
    assert "Login: user=" not in src.log_text()[before:]  # no password went to that server
    assert dst.messages(USER, "INBOX") == []


def test_starttls_not_offered_is_an_error_not_plain_text(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(extra_config="ssl = no\nservice imap-login {\n"
                                       "  inet_listener imaps {\n    ssl = no\n  }\n}")
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("never copied"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    args[args.index("--target-security") + 1] = "starttls"
    before = len(dst.log_text())
    proc = kimt(*args, check_rc=3)
    assert "does not offer STARTTLS; refusing to continue without encryption" in proc.stderr
    assert "Login: user=" not in dst.log_text()[before:]
    assert "no auth attempts" in dst.log_text()[before:]
    assert dst.messages(USER, "INBOX") == []


def test_implicit_tls_on_a_plain_port_says_so(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    args[args.index("--source-security") + 1] = "ssl"  # at the plain-text port 143's twin
    proc = kimt(*args, check_rc=3)
    assert (f"127.0.0.1:{src.port} answered without TLS (WRONG_VERSION_NUMBER): that port "
            "speaks plain IMAP. Choose STARTTLS (or no encryption)") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_kerio_admin_api_at_a_port_without_tls_says_so(dovecot_factory):
    server = dovecot_factory()  # its plain IMAP port answers a TLS hello with a greeting
    with pytest.raises(ConnectError) as refused:
        check_admin(KerioAdmin(server.host, server.port, "Admin", "Kerio-Pw", timeout=10))
    assert str(refused.value) == (
        f"the Kerio admin API {server.host}:{server.port} answered without TLS "
        "(WRONG_VERSION_NUMBER): that port speaks no HTTPS. Kerio's administration is on "
        "port 4040 unless it was changed")


# ------------------------------------------------------------------ security 'auto' (Detect)

def _security(args: list[str], side: str, host: str, *extra: str) -> list[str]:
    """`args` with the `side` server at `host`, security auto and `extra` options."""
    args = list(args)
    i = args.index(f"--{side}-host")
    args[i + 1] = host
    if f"--{side}-port" in args:
        j = args.index(f"--{side}-port")
        del args[j:j + 2]
    args[args.index(f"--{side}-security") + 1] = "auto"
    return args + list(extra)


def _logins(server, since: int) -> list[str]:
    return [line for line in server.log_text()[since:].splitlines() if "Login: user=<" in line]


def test_detect_on_a_given_port_is_decided_once_and_used_by_every_connection(pair, tmp_path):
    src, dst = pair
    src.create_folder(USER, "Archiv")
    # mail enough for a second connection pair on loopback (mailbox.SHARED_MESSAGES):
    # the preflight's connection and both pairs' must all use what was detected
    src.append_many(USER, "INBOX", [make_message(f"inbox {i}") for i in range(30)])
    src.append_many(USER, "Archiv", [make_message(f"archived {i}") for i in range(30)])
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    # The source's SSL port speaks implicit TLS; the destination's plain port STARTTLS.
    args = _security(args, "source", f"127.0.0.1:{src.ssl_port}", "--source-fingerprint",
                     src.fingerprint)
    args = _security(args, "target", f"127.0.0.1:{dst.port}", "--target-fingerprint",
                     dst.fingerprint)
    before = (len(src.log_text()), len(dst.log_text()))
    proc = kimt(*args, check_rc=0)
    logins = [_logins(server, since) for server, since in zip((src, dst), before, strict=True)]
    for lines in logins:  # KIMT's own, before the rig's below
        assert lines and all(", TLS, " in line for line in lines), lines
    assert_same_mail(src, dst, USER)
    report = report_of(proc)
    assert f"Source security: detected SSL/TLS on port {src.ssl_port}\n" in report
    assert (f"Destination security: detected STARTTLS on port {dst.port} (tried first: "
            f"SSL/TLS on port {dst.port}: 127.0.0.1:{dst.port} answered without TLS") in report
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    # Decided once, in the preflight: one failed TLS attempt, then STARTTLS everywhere.
    assert debug.count(f"SSL/TLS on port {dst.port} does not work") == 1
    used = re.findall(rf"destination 127\.0\.0\.1:{dst.port}: connected \((\w+)\)", debug)
    assert len(used) >= 3 and set(used) == {"starttls"}, used
    used = re.findall(rf"source 127\.0\.0\.1:{src.ssl_port}: connected \((\w+)\)", debug)
    assert len(used) >= 3 and set(used) == {"ssl"}, used


def test_detect_keeps_certificate_checks_and_never_works_around_them(pair, tmp_path):
    src, dst = pair
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    base = migrate_args(src, dst, users, tmp_path / "logs")
    for extra in ([], ["--source-fingerprint", "SHA256:" + ":".join(["AB"] * 32)]):
        args = _security(base, "source", f"127.0.0.1:{src.ssl_port}", *extra)
        before = len(src.log_text())
        proc = kimt(*args, check_rc=3)
        assert src.fingerprint in proc.stderr  # what it showed, to compare and pin
        assert (SELF_SIGNED in proc.stderr if not extra
                else "not the trusted" in proc.stderr)
        assert "STARTTLS" not in proc.stderr  # a refused certificate ends the detection
        assert "Login: user=" not in src.log_text()[before:]


def test_detect_never_falls_back_to_plain_text(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(extra_config="ssl = no\nservice imap-login {\n"
                                       "  inet_listener imaps {\n    ssl = no\n  }\n}")
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("never copied"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = _security(migrate_args(src, dst, users, tmp_path / "logs"), "target",
                     f"127.0.0.1:{dst.port}")
    before = len(dst.log_text())
    proc = kimt(*args, check_rc=3)
    assert (f"cannot reach the destination server: 127.0.0.1 speaks neither SSL/TLS nor "
            f"STARTTLS (SSL/TLS on port {dst.port}: 127.0.0.1:{dst.port} answered without "
            f"TLS") in proc.stderr
    assert f"STARTTLS on port {dst.port}: 127.0.0.1:{dst.port} does not offer STARTTLS" \
        in proc.stderr
    assert "never falls back to plain text on its own: choose no encryption ('none')" \
        in proc.stderr
    assert "Login: user=" not in dst.log_text()[before:]
    assert "Traceback" not in proc.stderr
    assert dst.messages(USER, "INBOX") == []


def _loopback_with_standard_ports() -> str:
    """A loopback address of this test's own where ports 143 and 993 are free."""
    for _ in range(50):
        host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            for port in (143, 993):
                with socket.socket() as s:
                    s.bind((host, port))
        except PermissionError:
            pytest.skip("ports 143 and 993 need root here (or a lower "
                        "net.ipv4.ip_unprivileged_port_start)")
        except OSError:
            continue
        return host
    raise AssertionError("no loopback address with ports 143 and 993 free")


def test_detect_without_a_port_tries_993_then_143(dovecot_factory, tmp_path):
    # The source has STARTTLS on 143 and nothing on 993; the destination both.
    src = dovecot_factory(host=_loopback_with_standard_ports(), port=143)
    dst = dovecot_factory(host=_loopback_with_standard_ports(), port=143, ssl_port=993)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("over STARTTLS, then implicit TLS"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = _security(migrate_args(src, dst, users, tmp_path / "logs"), "source", src.host,
                     "--source-fingerprint", src.fingerprint)
    args = _security(args, "target", dst.host, "--target-fingerprint", dst.fingerprint)
    proc = kimt(*args, check_rc=0)
    assert len(dst.messages(USER, "INBOX")) == 1
    report = report_of(proc)
    assert (f"Source: {src.host}, security detected: SSL/TLS, else STARTTLS (ports 993, 143), "
            "never plain text") in report
    assert (f"Source security: detected STARTTLS on port 143 (tried first: SSL/TLS on port "
            f"993: Could not connect to {src.host}:993: Connection refused)") in report
    assert "Destination security: detected SSL/TLS on port 993\n" in report
    assert f"journal-{dst.host}_993-" in report  # named after the address detected


def test_check_detects_once_then_tries_every_login(pair, tmp_path):
    src, _ = pair
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD), ("nobody@example.com", "x")])
    proc = kimt("check", "--users", str(users), "--source-host", f"127.0.0.1:{src.port}",
                "--source-security", "auto", "--source-fingerprint", src.fingerprint,
                "--no-estimate", check_rc=1)
    assert proc.stdout.startswith(f"Connected to 127.0.0.1:{src.port} (STARTTLS, detected), "
                                  "certificate trusted by its fingerprint")
    assert f"ok {USER}" in proc.stdout  # the logins use what was detected
    assert "!! nobody@example.com: failed — login failed for nobody@example.com" in proc.stdout
