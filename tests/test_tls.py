"""TLS refusals (issue 6, point 7): expired, self-signed, wrong-host certificates, no STARTTLS.

Each is refused by default, before any password is sent, with the reason and
the certificate's fingerprint; a missing STARTTLS is an error, never a silent
fall-back to plain text. (Self-signed refused, then trusted by fingerprint,
and a changed fingerprint refused: tests/test_migrate.py::test_tls_fingerprint_and_refusal.)
"""

from __future__ import annotations

import hashlib
import ssl
import subprocess
from pathlib import Path

import pytest
from dovecot import make_message
from helpers import kimt, migrate_args, write_csv

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
                "certificate has expired"),
    "wrong host": ("DNS:mail.other.example", "20200101000000Z", "20991231000000Z",
                   "mismatch, certificate is not valid for '127.0.0.1'"),
}


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
    assert "self-signed certificate" in proc.stderr and reason in proc.stderr
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
