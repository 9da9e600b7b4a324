"""Every TLS client context KIMT makes, and the words for a certificate it refuses.

Trust is what the computer trusts, as pip does it: `truststore` verifies with
the operating system's own store — Windows' certificate store and macOS'
keychain natively, on Linux (and other Unixes) OpenSSL's default verify paths
(`SSL_CERT_FILE`/`SSL_CERT_DIR`, else the distribution's bundle, which
`update-ca-certificates` and its kin fill). A company's own CA, installed on
every computer by policy, is trusted here as in the browser. One function,
`client_context`, builds the context of every connection (IMAP on both sides,
STARTTLS, the Kerio admin API; the OAuth tokens come from the admin's own
command, which makes no connection of KIMT's), so all of them agree. (A
KIMT cluster's own connections trust its own CA only, `certs`: on purpose.)

certifi's bundle is the fallback, never an addition: it is used only where
Linux has no store at all (a bare container, a frozen app on a minimal
system). Added to a store that exists, it would trust what the admin's store
does not (a CA the company removed or distrusts, a test that gives KIMT a
store of its own) and hide exactly the problem the admin must see; so each
refusal names the one list that was asked. On Windows and macOS a store
always exists.

A pinned fingerprint (a self-signed server the admin confirmed) turns the CA
check off: the caller compares the certificate's SHA-256 with the pin before
any credential is sent, as before; dates and names are not checked then.

When a certificate is refused, `refusal` says what is wrong with it from the
certificate itself (its issuer, the names it covers, its dates), so that the
words are the same on every system and list every problem, where OpenSSL names
only the first. The certificate is read with PyCA's `cryptography` (which also
makes a KIMT cluster's certificates), not by hand: its bytes come from a server
that may be hostile, and a certificate that can't be read gives OpenSSL's words.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import platform
import re
import ssl
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

import certifi
import truststore

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger("kimt.tls")

# OpenSSL accepts the negative serial numbers of some old certificates; cryptography reads
# them with a warning on stderr (an admin can do nothing about it): read them quietly.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive",
                       module=__name__)

# Windows and macOS: truststore asks the system itself; elsewhere it loads OpenSSL's
# default verify paths, or else the first of these bundles that exists (its own list).
NATIVE = platform.system() in ("Windows", "Darwin")
if NATIVE:
    _TRUSTSTORE_BUNDLES: list[str] = []
else:
    from truststore import _openssl

    _TRUSTSTORE_BUNDLES = getattr(_openssl, "_CA_FILE_CANDIDATES", [])

# What OpenSSL's `c_rehash` names a certificate in a store folder (as truststore checks).
HASHED_NAME = re.compile(r"^[0-9a-fA-F]{8}\.[0-9]$")

SYSTEM_STORE = "this computer"
BUNDLED = "KIMT's bundled list (this computer has no certificate store of its own)"

# OpenSSL's verify codes that mean "no trusted authority signed it" (X509_V_ERR_*).
UNTRUSTED_CODES = {2, 18, 19, 20, 21, 27}
# OpenSSL's words when the other end answers a TLS hello in plain text.
PLAIN_ANSWER = ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST")


def client_context(fingerprint: str | None = None) -> ssl.SSLContext:
    """The context of a connection to a server: verified against the trusted store, or
    (with a pinned `fingerprint`) unverified, for the caller to compare the pin."""
    if fingerprint:
        return unverified_context()
    if trust_store() == SYSTEM_STORE:
        return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return ssl.create_default_context(cafile=certifi.where())


def unverified_context() -> ssl.SSLContext:
    """A handshake that accepts any certificate: for a pin, or to look at what is shown."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def trust_store() -> str:
    """Which list of authorities decides: `SYSTEM_STORE` or `BUNDLED`."""
    if NATIVE:
        return SYSTEM_STORE
    return _openssl_store(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


def verified_against() -> str:
    """The authorities a verified certificate was checked against, for the Report."""
    if trust_store() == SYSTEM_STORE:
        return "the authorities this computer trusts"
    return f"the authorities of {BUNDLED}"


@lru_cache(maxsize=4)  # per environment: a test gives a process a store of its own
def _openssl_store(cert_file: str | None, cert_dir: str | None) -> str:
    # Where truststore looks (truststore/_openssl.py), and whether anything is there.
    found = _store_found()
    log.debug("TLS: certificates are checked against %s (SSL_CERT_FILE=%s, SSL_CERT_DIR=%s)",
              SYSTEM_STORE + "'s store" if found else "certifi's bundle", cert_file, cert_dir)
    return SYSTEM_STORE if found else BUNDLED


def _store_found() -> bool:
    defaults = ssl.get_default_verify_paths()
    in_dir = bool(defaults.capath) and _holds_hashed_certificates(defaults.capath)
    if defaults.cafile or in_dir:  # truststore takes OpenSSL's defaults, and only them
        return in_dir or _holds_certificates(defaults.cafile)
    bundle = next((f for f in _TRUSTSTORE_BUNDLES if os.path.isfile(f)), None)
    return bundle is not None and _holds_certificates(bundle)


def _holds_hashed_certificates(folder: str) -> bool:
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return any(HASHED_NAME.match(name) for name in names)


def _holds_certificates(cafile: str | None) -> bool:
    if not cafile:
        return False
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=cafile)
    except (OSError, ssl.SSLError) as e:
        log.debug("TLS: the certificate store %s can't be read: %s", cafile, e)
        return False
    return probe.cert_store_stats()["x509"] > 0


def speaks_no_tls(error: ssl.SSLError) -> bool:
    """The other end answered the TLS hello in plain text (a port without TLS)."""
    return error.reason in PLAIN_ANSWER


# ----------------------------------------------------------------------------- words

def refusal(host: str, der: bytes | None, error: ssl.SSLCertVerificationError) -> str:
    """Why the certificate `der` that `host` showed was refused, in words for an admin:
    every problem found, joined by '; '; OpenSSL's own words when none is recognised."""
    reason = error.verify_message or str(error)
    facts = certificate_facts(der) if der else None
    if facts is None:
        return reason
    named = facts.covers(host)
    dated = facts.dates_problem(datetime.now(UTC))
    if NATIVE:  # the system's verdict comes without a code KIMT can read
        untrusted = named and not dated
    else:
        untrusted = error.verify_code in UNTRUSTED_CODES
    problems = []
    if untrusted:
        problems.append(facts.untrusted(trust_store()) + (f" ({reason})" if NATIVE else ""))
    if not named:
        problems.append(f"it is for {_listed(facts.names)}, not {host}: the server name "
                        "typed must be one of the names it covers")
    if dated:
        problems.append(dated)
    return "; ".join(problems) or reason


def refused_answer(who: str, problem: str, fingerprint: str) -> str:
    """The answer of "Test connection" (the wizard's and `kimt check`'s) when `who` showed
    a certificate that was refused for `problem` (`refusal`'s words)."""
    return (f"{who} answered, but its certificate was refused: {problem}. Its fingerprint "
            f"is {fingerprint}.")


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else "".join(names)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate says: who it names, who issued it, when it is valid."""

    subject: str  # its common name, or the whole name as text
    issuer: str
    self_signed: bool
    names: list[str]  # subject alternative names (DNS names and addresses); else its CN
    not_before: datetime
    not_after: datetime

    def covers(self, host: str) -> bool:
        """Whether `host` (a name or an address) is one of its names, as TLS matches them."""
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        for name in self.names:
            if address is not None:
                try:
                    if ipaddress.ip_address(name) == address:
                        return True
                except ValueError:
                    pass
                continue
            wanted, pattern = host.lower().rstrip("."), name.lower().rstrip(".")
            if pattern == wanted:
                return True
            # "*.example.com" stands for exactly one label more
            if pattern.startswith("*.") and wanted.partition(".")[2] == pattern[2:]:
                return True
        return False

    def dates_problem(self, now: datetime) -> str | None:
        span = f"valid from {_when(self.not_before)} to {_when(self.not_after)}"
        if now > self.not_after:
            return (f"it expired on {_when(self.not_after)} ({span}; this computer's clock "
                    f"says {_when(now)})")
        if now < self.not_before:
            return (f"it is not valid yet ({span}; this computer's clock says {_when(now)}: "
                    "is that right?)")
        return None

    def untrusted(self, store: str) -> str:
        trusts = f"{store} trusts" if store == SYSTEM_STORE else f"in {store}"
        if self.self_signed:
            return f"it is a self-signed certificate, not signed by an authority {trusts}"
        return f"it is issued by “{self.issuer}”, not an authority {trusts}"


def certificate_facts(der: bytes) -> CertificateFacts | None:
    """The facts of a DER certificate; None when it can't be read."""
    # Here, not at the top: only a refused certificate needs it, and every start of KIMT
    # (each worker process too) would pay its import, some 50 ms.
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        subject = _name_text(cert.subject)
        try:
            alt_names = cert.extensions.get_extension_for_class(
                x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            alt_names = x509.SubjectAlternativeName([])
        names = [str(n.value) for n in alt_names
                 if isinstance(n, x509.DNSName | x509.IPAddress)]
        return CertificateFacts(
            subject=subject,
            issuer=_name_text(cert.issuer),
            self_signed=cert.issuer == cert.subject,
            names=names or [subject],
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )
    except Exception as e:
        # The server chose these bytes: whatever the parser finds wrong in them (a
        # ValueError, but also InvalidVersion, DuplicateExtension, ..., which are not), the
        # refusal gives OpenSSL's words instead.
        log.debug("TLS: the certificate shown can't be read: %s: %s", type(e).__name__, e)
        return None


def _name_text(name: x509.Name) -> str:
    """A Name's common name, or all its values joined, for the words."""
    from cryptography.x509.oid import NameOID

    common = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    values = [_text(a.value) for a in (common[:1] or list(name))]
    return ", ".join(values) or "an unnamed authority"


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "replace")
