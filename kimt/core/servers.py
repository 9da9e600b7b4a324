"""Server settings, TLS, and logging in to one mailbox.

A `ServerConfig` is plain data (it crosses into worker processes); `connect`
turns it into a logged-in `Wire`. Certificate checking is strict by
default, against this computer's certificate store (`tls`); a self-signed
server is trusted only by
the exact SHA-256 fingerprint the admin confirmed, compared before any
credential is sent. Every way of logging in to a user's mailbox is an entry
in `AUTHENTICATORS`, so a new one is one function, not a branch in the
copier: plain LOGIN/PLAIN, a master user (SASL authorization identity or
Dovecot's `user*admin`), Kerio's X-MASTERAUTH challenge, and XOAUTH2 with a
per-user access token (from the users file, or from the admin's own token
command, see `oauth`).
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc
from imapclient.imapclient import SocketTimeout

from . import tls
from .errors import CertificateError, ConnectError, LoginError, SettingsError
from .wire import (
    Wire,
    mark_logged_in,
    no_delay,
    peer_certificate,
    quiet,
    raw_exchange,
    response_code,
    server_words,
    throttling,
)

log = logging.getLogger("kimt.servers")

# "auto" is decided once per run before connecting (`detect`): SSL/TLS, else STARTTLS.
AUTO = "auto"
SECURITY_CHOICES = ("ssl", "starttls", AUTO, "none")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "none": 143, AUTO: 993}  # auto: tried first


@dataclass(frozen=True)
class ServerConfig:
    """Where a server is and how KIMT logs in there. Holds no user password."""

    host: str
    port: int | None = None
    security: str = "ssl"
    fingerprint: str | None = None  # "SHA256:AB:CD:..." trusted instead of the CA check
    connect_timeout: float = 20.0
    read_timeout: float = 120.0
    auth: str = "user"  # key of AUTHENTICATORS
    master_style: str = "authzid"  # for auth="master": a key of MASTER_STYLES
    master_user: str | None = None
    master_password: str | None = field(default=None, repr=False)
    master_separator: str = "*"
    login_name: str = "email"  # "email" or "local": what a user logs in with
    role: str = "server"  # "source" / "destination", for messages
    oauth_token_command: str | None = None  # for auth="xoauth2"; None: the users file's token
    # What a refused certificate's message tells the admin to do, in the words of the front
    # end that built this (the wizard has no options); None: the CLI's fingerprint option.
    # Words, not a setting: two configs that differ only here are the same server.
    trust_advice: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITY_CHOICES:
            raise SettingsError(
                f"{self.role} security must be one of {', '.join(SECURITY_CHOICES)}, "
                f"not {self.security!r}"
            )
        if self.auth not in AUTHENTICATORS:
            raise SettingsError(f"unknown {self.role} login method {self.auth!r}")
        if self.master_style not in MASTER_STYLES:
            raise SettingsError(f"unknown {self.role} master style {self.master_style!r}")
        if self.auth == "master" and not (self.master_user and self.master_password):
            raise SettingsError(f"{self.role}: a master login needs an admin user and password")
        if self.auth == "kerio-master" and not self.master_password:
            raise SettingsError(f"{self.role}: Kerio master authentication needs the master "
                                "password")
        if self.fingerprint is not None:
            object.__setattr__(self, "fingerprint", normalise_fingerprint(self.fingerprint))

    @property
    def effective_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.effective_port}"

    def with_(self, **changes: object) -> ServerConfig:
        return replace(self, **changes)


def parse_host(text: str, default_port: int | None = None) -> tuple[str, int | None]:
    """'mail.example.com:993' -> ('mail.example.com', 993); '[::1]:143' too."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or None
    elif text.count(":") == 1:
        host, port = text.split(":")
    else:
        host, port = text, None
    if not host:
        raise SettingsError(f"no host name in {text!r}")
    if port is None:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"bad port {port!r} in {text!r}")
    return host, int(port)


def normalise_fingerprint(text: str) -> str:
    """Accept 'SHA256:ab:cd…', 'ab:cd…' or bare hex; return 'SHA256:AB:CD:…'."""
    body = text.strip()
    if body.upper().startswith("SHA256:"):
        body = body[7:]
    hexdigits = body.replace(":", "").replace(" ", "").upper()
    if len(hexdigits) != 64 or any(c not in "0123456789ABCDEF" for c in hexdigits):
        raise SettingsError(
            f"{text!r} is not a SHA-256 fingerprint (64 hex digits, e.g. SHA256:AB:CD:...)"
        )
    return "SHA256:" + ":".join(hexdigits[i : i + 2] for i in range(0, 64, 2))


def fingerprint_of(der: bytes) -> str:
    return normalise_fingerprint(hashlib.sha256(der).hexdigest())


def tls_context(config: ServerConfig) -> ssl.SSLContext:
    """Verified against the trusted store, or (with a fingerprint) one the caller pins."""
    return tls.client_context(config.fingerprint)


def _presented_certificate(config: ServerConfig, ctx: ssl.SSLContext) -> bytes | None:
    """Handshake as `config` says with `ctx`, without logging in; the server's DER."""
    if config.security == "ssl":
        with socket.create_connection(
            (config.host, config.effective_port), timeout=config.connect_timeout
        ) as raw, ctx.wrap_socket(raw, server_hostname=config.host) as conn:
            return conn.getpeercert(binary_form=True)
    client = IMAPClient(
        config.host, config.effective_port, ssl=False,
        timeout=SocketTimeout(config.connect_timeout, config.read_timeout),
    )
    try:
        client.starttls(ctx)
        return peer_certificate(client)
    finally:
        close_quietly(client)


def probe_certificate(config: ServerConfig) -> bytes | None:
    """The certificate (DER) the server shows, without trusting or logging in."""
    try:
        return _presented_certificate(config, tls.unverified_context())
    except (OSError, imap_exc.IMAPClientError):
        return None


def trust_advice(config: ServerConfig, fingerprint: str) -> str:
    """How the admin trusts a refused certificate: the front end's words, or the CLI's."""
    if config.trust_advice:
        return config.trust_advice
    option = "--source-fingerprint" if config.role == "source" else "--target-fingerprint"
    return f"run again with {option} {fingerprint}"


def _cert_refused(config: ServerConfig, error: ssl.SSLCertVerificationError
                  ) -> CertificateError:
    der = probe_certificate(config)
    fp = fingerprint_of(der) if der else None
    problem = tls.refusal(config.host, der, error)
    text = f"The TLS certificate of {config.address} was refused: {problem}."
    if fp:
        text += (
            f" It shows the fingerprint {fp}. If you trust exactly this certificate"
            f" (compare it with the one on the server), {trust_advice(config, fp)}"
        )
    return CertificateError(text, fp, problem)


SERVER_WORDS = {"source": "old", "destination": "new"}


def _refused(config: ServerConfig, email: str, why: str) -> str:
    """A refused login, saying which server and, where it helps, what to try instead."""
    text = (f"login failed for {email} on {config.address} (the "
            f"{SERVER_WORDS.get(config.role, config.role)} server): {why}")
    if config.auth == "master" and config.master_style == "separator":
        text += (f" (if this server takes admin logins only with an authorization identity, "
                 f"as Cyrus does, choose that master style instead of "
                 f"'user{config.master_separator}admin')")
    return text


def open_connection(config: ServerConfig) -> IMAPClient:
    """Connect (and STARTTLS) with certificate checks; no login yet."""
    if config.security == AUTO:
        raise SettingsError(f"{config.role} security 'auto' is decided before connecting "
                            "(detect.detect)")
    timeout = SocketTimeout(config.connect_timeout, config.read_timeout)
    ctx = tls_context(config) if config.security != "none" else None
    where = config.address
    try:
        client = IMAPClient(
            config.host, config.effective_port, ssl=config.security == "ssl",
            ssl_context=ctx, timeout=timeout,
        )
    except ssl.SSLCertVerificationError as e:
        raise _cert_refused(config, e) from None
    except ssl.SSLError as e:
        if tls.speaks_no_tls(e):
            raise ConnectError(
                f"{where} answered without TLS ({e.reason}): that port speaks plain IMAP. "
                "Choose STARTTLS (or no encryption) for it, or give the SSL/TLS port "
                "(usually 993)") from None
        raise ConnectError(f"TLS with {where} failed: {e.reason or e}") from None
    except TimeoutError:
        raise ConnectError(
            f"Could not connect to {where}: no answer within {config.connect_timeout:g} s. "
            "Check the server's name and port, and that no firewall drops the connection"
        ) from None
    except ConnectionRefusedError:
        raise ConnectError(
            f"Could not connect to {where}: Connection refused. Nothing answers on port "
            f"{config.effective_port} there: check the port (SSL/TLS is usually 993, "
            "STARTTLS 143) and that no firewall blocks it") from None
    except OSError as e:
        raise ConnectError(f"Could not connect to {where}: {e.strerror or e}") from None
    except imap_exc.IMAPClientError as e:
        raise ConnectError(f"{where} did not greet as an IMAP server: {e}") from None
    client.normalise_times = False  # keep INTERNALDATE's own timezone
    quiet(client)
    no_delay(client)
    log.debug("%s %s: connected (%s), greeting %r", config.role, where, config.security,
              client.welcome.decode("utf-8", "replace")[:200] if client.welcome else "")
    try:
        if config.security == "starttls":
            if not client.has_capability("STARTTLS"):
                raise ConnectError(
                    f"{where} does not offer STARTTLS; refusing to continue without encryption"
                    " (choose SSL/TLS, or 'none' if you really mean plain text)"
                )
            try:
                client.starttls(ctx)
            except ssl.SSLCertVerificationError as e:
                raise _cert_refused(config, e) from None
            except (ssl.SSLError, imap_exc.IMAPClientError) as e:
                raise ConnectError(f"STARTTLS with {where} failed: {e}") from None
        if config.fingerprint:
            der = peer_certificate(client)
            got = fingerprint_of(der) if der else None
            if got != config.fingerprint:
                raise CertificateError(
                    f"The TLS certificate of {where} has the fingerprint {got}, not the"
                    f" trusted {config.fingerprint}. Not connecting: the certificate changed"
                    " or someone is in between.",
                    got,
                )
    except BaseException:
        close_quietly(client)
        raise
    return client


def login_name(config: ServerConfig, email: str) -> str:
    return email.split("@", 1)[0] if config.login_name == "local" else email


def _password_login(client: IMAPClient, config: ServerConfig, user: str, password: str,
                    whose: str) -> None:
    """LOGIN, or SASL PLAIN where LOGIN can't be used: the server disabled it, or the name
    or password has characters beyond ASCII (LOGIN carries ASCII only; PLAIN is UTF-8,
    RFC 4616). `whose` names the password in an error, which never holds it."""
    plain = client.has_capability("AUTH=PLAIN")
    ascii_only = user.isascii() and password.isascii()
    if plain and (not ascii_only or client.has_capability("LOGINDISABLED")):
        client.plain_login(user, password)
    elif not ascii_only:
        what = "login name" if not user.isascii() else whose
        raise LoginError(
            f"login for {user} on {config.address} (the "
            f"{SERVER_WORDS.get(config.role, config.role)} server) not tried: the {what} has "
            "characters beyond ASCII (such as ë), which IMAP LOGIN can't carry, and the "
            "server does not offer SASL PLAIN (AUTH=PLAIN), which can: enable PLAIN there, "
            f"or change the {what} to ASCII characters only")
    else:
        client.login(user, password)


def _login_user(client: IMAPClient, config: ServerConfig, user: str, password: str | None) -> None:
    if password is None:
        raise LoginError(f"no password for {user} on {config.host}")
    _password_login(client, config, user, password, "password")


def _login_master(
    client: IMAPClient, config: ServerConfig, user: str, password: str | None
) -> None:
    assert config.master_user and config.master_password
    if config.master_style == "separator":
        _password_login(client, config, f"{user}{config.master_separator}{config.master_user}",
                        config.master_password, "admin password")
    elif config.master_style == "combined":  # Exchange: 'DOMAIN\admin\user', 'admin@x\user'
        # imaplib sends LOGIN's user name as it is given (the password it quotes), and a
        # backslash can't stand in an atom: quoted here, each backslash escaped.
        client.login(_imap_quoted(f"{config.master_user}\\{user}").decode("ascii"),
                     config.master_password)
    else:
        client.plain_login(config.master_user, config.master_password,
                           authorization_identity=user)


def _imap_quoted(text: str) -> bytes:
    if any(ord(c) < 32 or ord(c) > 126 for c in text):
        raise LoginError(f"the user name {text!r} can't be sent in X-SETUSER (not plain ASCII)")
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode("ascii") + b'"'


def _login_kerio_master(
    client: IMAPClient, config: ServerConfig, user: str, password: str | None
) -> None:
    """Kerio Connect: X-MASTERAUTH, reply hex MD5(challenge + master password), X-SETUSER."""
    assert config.master_password
    secret = config.master_password.encode("utf-8")
    raw_exchange(client, b"X-MASTERAUTH",
              lambda challenge: hashlib.md5(challenge + secret).hexdigest().encode("ascii"))
    raw_exchange(client, b"X-SETUSER " + _imap_quoted(user))
    mark_logged_in(client)


def _login_xoauth2(
    client: IMAPClient, config: ServerConfig, user: str, token: str | None
) -> None:
    """XOAUTH2 with the user's access token (SASL-IR is not needed)."""
    if config.oauth_token_command:
        from .oauth import token_for  # the subprocess plumbing only where it is used

        token = token_for(config.oauth_token_command, user, config.role)
    if not token:
        raise LoginError(f"no access token for {user} on {config.host}")
    first = True

    def mech(challenge: bytes) -> bytes:
        nonlocal first
        if first:
            first = False
            return f"user={user}\1auth=Bearer {token}\1\1".encode()
        return b""  # an error challenge (JSON): acknowledge it, the server then says NO

    client.sasl_login("XOAUTH2", mech)


# How an admin logs in as a user (auth="master"): SASL PLAIN with the user as
# authorization identity (Dovecot, Cyrus, Zimbra, Exchange); Dovecot's 'user*admin'
# LOGIN; Exchange's combined LOGIN 'DOMAIN\admin\user' (or 'admin@domain\user'),
# where the user part is the mailbox's alias (--source-login local) or address.
MASTER_STYLES = ("authzid", "separator", "combined")

Authenticator = Callable[[IMAPClient, ServerConfig, str, "str | None"], None]

# How KIMT logs in to a user's mailbox: (client, config, login name, user password or token).
AUTHENTICATORS: dict[str, Authenticator] = {
    "user": _login_user,
    "master": _login_master,
    "kerio-master": _login_kerio_master,
    "xoauth2": _login_xoauth2,
}


def connect(config: ServerConfig, email: str, password: str | None = None) -> Wire:
    """Open a connection and log in to `email`'s mailbox as configured."""
    client = open_connection(config)
    user = login_name(config, email)
    how = config.auth if config.auth != "master" else f"master ({config.master_style})"
    log.debug("%s %s: login %s as %s", config.role, config.address, user, how)
    try:
        AUTHENTICATORS[config.auth](client, config, user, password)
    except (imap_exc.LoginError, imap_exc.IMAPClientAbortError) as e:
        close_quietly(client)
        why = server_words(e)
        # imapclient turns a broken connection into a LoginError too: not a refused password
        if isinstance(e, imap_exc.IMAPClientAbortError) or "socket error" in why:
            raise ConnectError(f"connection to {config.address} lost during login: "
                               f"{why}") from None
        # RFC 5530 [UNAVAILABLE]: the server can't check logins right now (restarting,
        # its user database is down): worth a retry, and no sign of a wrong password.
        if "[UNAVAILABLE]" in why.upper():
            raise ConnectError(f"{config.address} can't check logins right now: {why}") from None
        # Over the server's connection limit ("[LIMIT] Maximum number of connections"):
        # the password is fine; wait for a connection to close.
        limit = throttling(why, f" (login of {email} on {config.address})")
        if limit is not None:
            raise limit from None
        raise LoginError(_refused(config, email, why), response_code(why)) from None
    except imap_exc.IMAPClientError as e:
        close_quietly(client)
        why = server_words(e)
        raise LoginError(_refused(config, email, why), response_code(why)) from None
    except UnicodeError:  # its text is not shown: the string it names may be a password
        close_quietly(client)
        raise LoginError(_refused(config, email, "the login name or password has characters "
                                  "this login method can't send")) from None
    except OSError as e:
        close_quietly(client)
        raise ConnectError(f"connection to {config.address} lost during login: {e}") from None
    log.debug("%s %s: logged in; capabilities: %s", config.role, config.address,
              " ".join(c.decode("ascii", "replace") for c in client.capabilities()))
    return Wire(client, config.role, config.address)


def close_quietly(client: IMAPClient | Wire) -> None:
    """LOGOUT, or just drop the connection when the server can't take it any more."""
    if isinstance(client, Wire):
        client.close()
        return
    try:
        client.logout()
    except Exception:
        try:
            client.shutdown()
        except Exception:
            pass
