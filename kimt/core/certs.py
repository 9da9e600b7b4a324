"""The certificates of a KIMT cluster (`kimt cluster-certs DIR`): a CA and three pairs.

Dask's `tls://` checks that both ends of every connection show a
certificate signed by the cluster's CA (mutual TLS), so a machine without
one can neither join as a worker nor submit mailboxes, and every byte
between the coordinator, the scheduler and the workers (passwords
included) is encrypted. The CA's private key is not written: nobody can
sign a further certificate, and adding a machine later means making a new
set. Private keys are created readable by their owner alone, in a folder
of their own; nothing already there is overwritten.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from pathlib import Path

from .errors import InputError

CA = "ca.pem"
ROLES = ("scheduler", "worker", "coordinator")  # who presents which certificate
VALID_DAYS = 730  # a migration project, not a service: two years


def cert_files(role: str) -> tuple[str, str]:
    """The certificate and key file names of `role` in a certificates folder."""
    return f"{role}-cert.pem", f"{role}-key.pem"


def tls_files(folder: str | os.PathLike, role: str) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) of `role` in `folder`; InputError when one is missing."""
    base = Path(folder)
    cert, key = cert_files(role)
    paths = (base / CA, base / cert, base / key)
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"{base}: {', '.join(missing)} missing (made by 'kimt cluster-certs "
                         f"{base}'; this machine, the {role}, needs {CA}, {cert} and {key})")
    return paths


def _write(path: Path, data: bytes, private: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def make_certs(folder: str | os.PathLike, hosts: list[str] | None = None) -> list[Path]:
    """A CA and a certificate with its key for each of `ROLES`, in `folder`; the files.

    `hosts` (names or addresses) go into the certificates' alternative names, for
    tools that check them (Dask itself checks the CA, not the name).
    """
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise InputError("making certificates needs the cryptography package: "
                         "pip install 'kimt[cluster]'") from None
    base = Path(folder)
    names = [CA] + [n for role in ROLES for n in cert_files(role)]
    there = [n for n in names if (base / n).exists()]
    if there:
        raise InputError(f"{base} already holds {', '.join(there)}: choose an empty folder "
                         "(KIMT never overwrites certificates)")
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # clocks differ a bit
    until = now + dt.timedelta(days=VALID_DAYS)
    alt: list[x509.GeneralName] = [x509.DNSName("localhost"),
                                   x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for host in [socket.gethostname(), *(hosts or [])]:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KIMT cluster"),
                          x509.NameAttribute(NameOID.COMMON_NAME, text)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("KIMT cluster CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(until)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    written = [base / CA]
    _write(base / CA, ca.public_bytes(serialization.Encoding.PEM), private=False)
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(f"KIMT {role}"))
                .issuer_name(ca_name).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(until)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                               critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_name, key_name = cert_files(role)
        _write(base / cert_name, cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(base / key_name, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()), private=True)
        written += [base / cert_name, base / key_name]
    return written
