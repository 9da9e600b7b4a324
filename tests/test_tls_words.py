"""kimt/core/tls.py without a server: which store decides, and the words of a refusal.

The certificates are made in memory (tests/private_ca.py); the refusal is given
OpenSSL's verify codes as a handshake would. The store tests are Linux's (on
Windows and macOS truststore asks the system, which always has a store).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from helpers import ROOT
from private_ca import CA_NAME, PrivateCA

from kimt.core import tls

LINUX_ONLY = pytest.mark.skipif(tls.NATIVE, reason="Windows and macOS always have a store")
OPENSSL_WORDS = pytest.mark.skipif(tls.NATIVE, reason="the verdict of OpenSSL's codes")


def der_of(path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def refused(code: int, message: str = "certificate verify failed") -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, message)
    error.verify_code, error.verify_message = code, message
    return error


@pytest.fixture
def company(tmp_path) -> PrivateCA:
    return PrivateCA(tmp_path / "ca")


def test_facts_of_a_certificate(company):
    cert, _ = company.issue("mail", names=("mail.example.com", "*.mail.example.com",
                                           "192.0.2.7", "2001:db8::7"),
                            not_before=datetime(2024, 2, 29, 12, 30, tzinfo=UTC),
                            not_after=datetime(2051, 1, 1, tzinfo=UTC))  # a GeneralizedTime
    facts = tls.certificate_facts(der_of(cert))
    assert facts is not None
    assert (facts.subject, facts.issuer, facts.self_signed) == ("mail.example.com", CA_NAME,
                                                                False)
    assert facts.names == ["mail.example.com", "*.mail.example.com", "192.0.2.7", "2001:db8::7"]
    assert facts.not_before == datetime(2024, 2, 29, 12, 30, tzinfo=UTC)
    assert facts.not_after == datetime(2051, 1, 1, tzinfo=UTC)
    for host in ("mail.example.com", "MAIL.example.com.", "imap.mail.example.com",
                 "192.0.2.7", "2001:db8:0::7", "[2001:db8::7]"):
        assert facts.covers(host), host
    for host in ("example.com", "a.b.mail.example.com", "192.0.2.8", "mail.example.co"):
        assert not facts.covers(host), host
    ca = tls.certificate_facts(der_of(company.cert_path))
    assert ca is not None and ca.self_signed and ca.names == [CA_NAME]  # no SAN: its CN


def test_an_unreadable_certificate_gives_openssls_words():
    assert tls.certificate_facts(b"\x30\x82\x01") is None
    assert tls.refusal("mail.example.com", b"junk", refused(20, "unable to get local issuer "
                                                                  "certificate")) == (
        "unable to get local issuer certificate")


@pytest.mark.filterwarnings("ignore:Parsed a serial number")  # some changed bytes make one
def test_a_broken_certificate_is_unreadable_never_an_error(company):
    # The server chooses these bytes: garbage, or a certificate cut short anywhere, is a
    # certificate that can't be read (the refusal gives OpenSSL's words), never an error.
    cert, _ = company.issue("mail", names=("mail.example.com", "192.0.2.7"))
    der = der_of(cert)
    assert tls.certificate_facts(der) is not None
    for junk in (b"", b"\x00", b"junk", b"\x30\x82\xff\xff", b"\x30\x80" + der[2:],
                 bytes(range(256)) * 4):
        assert tls.certificate_facts(junk) is None, junk
    for end in range(len(der)):
        assert tls.certificate_facts(der[:end]) is None, end
    # Every byte changed in turn: read or not, never an error, and the refusal has words.
    for at in range(len(der)):
        changed = der[:at] + bytes([der[at] ^ 0xFF]) + der[at + 1:]
        tls.certificate_facts(changed)
        assert tls.refusal("mail.example.com", changed, refused(20)), at
    # A version that does not exist: the parser's error is no ValueError.
    assert der[8:13] == bytes.fromhex("a003020102")  # [0] { INTEGER 2 }: version 3
    assert tls.certificate_facts(der[:12] + b"\x05" + der[13:]) is None


def test_a_negative_serial_number_is_read_quietly(company):
    # OpenSSL accepts the negative serial numbers of some old certificates, so they are
    # read, without the warning cryptography prints on stderr. In a process of its own:
    # pytest shows every warning, whatever the module's filter says.
    der = der_of(company.issue("mail", names=("mail.example.com",))[0])
    assert der[13:15] == bytes.fromhex("0214")  # serialNumber INTEGER, 20 bytes
    negative = der[:15] + bytes([der[15] | 0x80]) + der[16:]
    read = ("import sys; from kimt.core import tls; "
            "print(tls.certificate_facts(bytes.fromhex(sys.argv[1])).names)")
    proc = subprocess.run([sys.executable, "-c", read, negative.hex()], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "['mail.example.com']\n", "")


def test_dates_say_which_end_and_the_clock(company):
    cert, _ = company.issue("m", not_before=datetime(2030, 5, 1, tzinfo=UTC),
                            not_after=datetime(2031, 5, 1, tzinfo=UTC))
    facts = tls.certificate_facts(der_of(cert))
    span = "valid from 2030-05-01 00:00 UTC to 2031-05-01 00:00 UTC"
    assert facts.dates_problem(datetime(2030, 6, 1, tzinfo=UTC)) is None
    assert facts.dates_problem(datetime(2029, 1, 2, 3, 4, tzinfo=UTC)) == (
        f"it is not valid yet ({span}; this computer's clock says 2029-01-02 03:04 UTC: is "
        "that right?)")
    assert facts.dates_problem(datetime(2032, 1, 1, tzinfo=UTC)) == (
        f"it expired on 2031-05-01 00:00 UTC ({span}; this computer's clock says "
        "2032-01-01 00:00 UTC)")


@OPENSSL_WORDS
def test_a_refusal_names_every_problem_from_the_certificate(company):
    cert, _ = company.issue("m", names=("mail.other.example", "10.9.8.7"),
                            not_before=datetime(2020, 1, 1, tzinfo=UTC),
                            not_after=datetime(2021, 1, 1, tzinfo=UTC))
    der = der_of(cert)
    # OpenSSL said only "unable to get local issuer certificate" (20), its first problem.
    assert tls.refusal("127.0.0.1", der, refused(20)).startswith(
        f"it is issued by “{CA_NAME}”, not an authority this computer trusts; it is for "
        "mail.other.example and 10.9.8.7, not 127.0.0.1: the server name typed must be one "
        "of the names it covers; it expired on 2021-01-01 00:00 UTC (valid from 2020-01-01 "
        "00:00 UTC to 2021-01-01 00:00 UTC; this computer's clock says ")
    # A trusted CA (OpenSSL's code: the name, 64): the other problems only.
    words = tls.refusal("127.0.0.1", der, refused(64))
    assert "authority" not in words and words.startswith("it is for mail.other.example")
    self_signed = tls.refusal("127.0.0.1", der_of(company.cert_path), refused(18))
    assert self_signed.startswith("it is a self-signed certificate, not signed by an "
                                  "authority this computer trusts; it is for " + CA_NAME)
    # A problem KIMT does not recognise: OpenSSL's words.
    fine, _ = company.issue("fine")
    assert tls.refusal("127.0.0.1", der_of(fine), refused(26, "unsupported certificate "
                                                              "purpose")) == (
        "unsupported certificate purpose")


def test_a_pinned_fingerprint_checks_no_authority():
    ctx = tls.client_context("SHA256:" + ":".join(["AB"] * 32))
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname


@LINUX_ONLY
def test_certifi_only_where_linux_has_no_store(tmp_path, monkeypatch):
    import certifi
    import truststore

    assert tls._TRUSTSTORE_BUNDLES, "truststore no longer names where Linux keeps its bundle"
    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = tmp_path / "nothing.pem"
    monkeypatch.setenv("SSL_CERT_FILE", str(nothing))
    monkeypatch.setenv("SSL_CERT_DIR", str(empty))
    monkeypatch.setattr(tls, "_TRUSTSTORE_BUNDLES", [str(nothing)])
    tls._openssl_store.cache_clear()
    try:
        assert tls.trust_store() == tls.BUNDLED
        ctx = tls.client_context()
        assert not isinstance(ctx, truststore.SSLContext)
        assert ctx.cert_store_stats()["x509_ca"] > 100  # certifi's bundle
        assert "this computer has no certificate store" in tls.verified_against()
        # An empty file is no store either; one certificate is.
        nothing.write_text("")
        tls._openssl_store.cache_clear()
        assert tls.trust_store() == tls.BUNDLED
        nothing.write_bytes(open(certifi.where(), "rb").read()[:3000].rsplit(
            b"-----END CERTIFICATE-----", 1)[0] + b"-----END CERTIFICATE-----\n")
        tls._openssl_store.cache_clear()
        assert tls.trust_store() == tls.SYSTEM_STORE
        assert isinstance(tls.client_context(), truststore.SSLContext)
    finally:
        tls._openssl_store.cache_clear()


@LINUX_ONLY
def test_the_bundled_list_is_named_when_it_decided(company, monkeypatch):
    monkeypatch.setattr(tls, "trust_store", lambda: tls.BUNDLED)
    words = tls.refusal("127.0.0.1", der_of(company.issue("m")[0]), refused(20))
    assert words == (f"it is issued by “{CA_NAME}”, not an authority in KIMT's bundled list "
                     "(this computer has no certificate store of its own)")
