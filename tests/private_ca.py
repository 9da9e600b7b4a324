"""A company's own certificate authority, for the tests of trusting the system's store.

`PrivateCA(folder)` writes `ca.pem` (the CA certificate an admin would install on
every computer); `issue(...)` signs a server certificate with it, by default for
127.0.0.1 and localhost, valid now. `store(folder)` is a certificate store of a
process's own that trusts this CA and nothing else: OpenSSL's default verify paths
honour SSL_CERT_FILE and SSL_CERT_DIR, so the machine's store is never changed.
"""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "KIMT Test Company CA"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "KIMT Tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def fingerprint(cert: Path) -> str:
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, 64, 2))


class PrivateCA:
    def __init__(self, folder: Path, name: str = CA_NAME):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name)).issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()),
                           critical=False)
            .sign(self._key, hashes.SHA256()))
        self.cert_path = _pem(folder / "ca.pem", self._cert)

    def issue(self, stem: str, names: tuple[str, ...] = ("127.0.0.1", "localhost"),
              not_before: datetime | None = None, not_after: datetime | None = None,
              ) -> tuple[Path, Path]:
        """A server certificate for `names`, signed by this CA: (cert.pem, key.pem)."""
        now = datetime.now(UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0])).issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(days=1))
            .not_valid_after(not_after or now + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256()))
        key_path = self.folder / f"{stem}-key.pem"
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return _pem(self.folder / f"{stem}.pem", cert), key_path

    def store(self, folder: Path) -> dict[str, str]:
        """The environment of a process whose system store trusts this CA only."""
        folder.mkdir(parents=True, exist_ok=True)
        bundle = folder / "ca-certificates.crt"
        bundle.write_bytes(self.cert_path.read_bytes())
        empty = folder / "certs"
        empty.mkdir(exist_ok=True)
        return {"SSL_CERT_FILE": str(bundle), "SSL_CERT_DIR": str(empty)}


def serve(server, cert: Path, key: Path) -> None:
    """Have the Dovecot `server` show `cert` from now on (both ports)."""
    server.cert_path.write_bytes(cert.read_bytes())
    server.key_path.write_bytes(key.read_bytes())
    server.restart()
