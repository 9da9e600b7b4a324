"""Looking at servers before migrating: test a connection, check a login, estimate a mailbox.

What the wizard's "Test connection", "Check logins" and "Estimate" buttons and
`kimt check` do, without any GUI import. Everything here only reads: mailboxes
are opened with EXAMINE (or asked with STATUS), never SELECT, so the source
stays untouched. Each function returns a plain record with admin-readable
words instead of raising, so a caller can run many of them in threads and
show each answer next to its user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .accounts import Account
from .detect import Detected, detect
from .errors import CertificateError, KimtError
from .folder_rules import FolderRules
from .folders import list_folders, select
from .report import SECURITY_WORDS, number, size
from .servers import AUTO, ServerConfig, close_quietly, connect, open_connection
from .tls import refused_answer
from .wire import Refused, Wire

log = logging.getLogger("kimt.survey")

# Capabilities worth naming to an admin after a successful connection test.
NOTABLE_CAPABILITIES = ("MULTIAPPEND", "LITERAL+", "UIDPLUS", "SPECIAL-USE", "STARTTLS")


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    text: str  # one or two sentences for the admin
    untrusted_fingerprint: str | None = None  # set when an unknown certificate was shown
    config: ServerConfig | None = None  # the server as reached: security 'auto' decided


@dataclass(frozen=True)
class LoginCheck:
    email: str
    ok: bool
    reason: str = ""  # why the login failed, in the server's words


@dataclass(frozen=True)
class Estimate:
    email: str
    folders: int = 0
    messages: int = 0
    bytes: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    def describe(self) -> str:
        if self.error:
            return self.error
        return (f"{number(self.folders)} folders, {number(self.messages)} messages, "
                f"{size(self.bytes)}")


def try_connection(config: ServerConfig) -> ConnectionTest:
    """Connect (TLS and certificate checked), read the capabilities, log in to nobody.

    With security 'auto', what the server speaks is detected first and said.
    """
    auto = config.security == AUTO
    try:
        detected: Detected = detect(config)
        config = detected.config
        client = open_connection(config)
    except CertificateError as e:
        if e.fingerprint and not config.fingerprint and e.problem:
            where = config.host if auto else config.address
            return ConnectionTest(False, refused_answer(where, e.problem, e.fingerprint),
                                  e.fingerprint)
        return ConnectionTest(False, str(e))
    except KimtError as e:
        return ConnectionTest(False, str(e))
    wire = Wire(client, config.role, config.address)
    try:
        caps = wire.capabilities()
    except KimtError as e:
        return ConnectionTest(False, f"{config.address} broke the connection: {e}")
    finally:
        wire.close()
    text = f"Connected to {config.address}"
    how = SECURITY_WORDS[config.security] + (", detected" if auto else "")
    if config.security == "none":
        text += ", without encryption (passwords travel in plain text)"
    elif config.fingerprint:
        text += f" ({how}), certificate trusted by its fingerprint"
    else:
        text += f" ({how}), certificate valid"
    offered = [c for c in NOTABLE_CAPABILITIES if c in caps and c != "STARTTLS"]
    # Before login a server lists only some of what it has (Dovecot names MULTIAPPEND
    # and UIDPLUS after login only): say what it offered, never what it "lacks".
    text += ("; before login the server offers " + ", ".join(offered)) if offered else ""
    if detected.tried:
        text += f". Tried first: {'; '.join(detected.tried)}"
    return ConnectionTest(True, text + ".", config=config)


def check_login(config: ServerConfig, account: Account) -> LoginCheck:
    """Log in to `account` on the server as configured, then log out."""
    try:
        client = connect(config, account.email, account.password)
    except KimtError as e:
        return LoginCheck(account.email, False, str(e))
    close_quietly(client)
    return LoginCheck(account.email, True)


def estimate(config: ServerConfig, account: Account,
             folders: FolderRules | None = None) -> Estimate:
    """Folders, messages and bytes of one mailbox, read with STATUS or EXAMINE only; of
    the folders a run with the folder choices `folders` copies."""
    return (check_and_estimate(config, account, folders)[1]
            or Estimate(account.email, error="no login"))


def check_and_estimate(config: ServerConfig, account: Account,
                       folders: FolderRules | None = None,
                       ) -> tuple[LoginCheck, Estimate | None]:
    """Both with one login; the estimate is None when the login failed."""
    try:
        client = connect(config, account.email, account.password)
    except KimtError as e:
        return LoginCheck(account.email, False, str(e)), Estimate(account.email, error=str(e))
    try:
        return LoginCheck(account.email, True), _estimate(client, account.email,
                                                          folders or FolderRules())
    finally:
        close_quietly(client)


def _estimate(client: Wire, email: str, rules: FolderRules) -> Estimate:
    try:
        chosen, _ = select(list_folders(client), rules)
        names = [f.name for f in chosen.folders if f.selectable]
        if client.has("STATUS=SIZE"):  # RFC 8438: the server adds it up, nothing is opened
            counted = client.status_sizes(names)
        else:
            counted = {}
            for name in names:
                try:
                    sizes = client.sizes(name)  # EXAMINE: the source stays untouched
                except Refused as e:
                    log.debug("estimate: cannot examine %r: %s", name, e)
                    continue
                counted[name] = (len(sizes), sum(sizes))
        return Estimate(email, len(names), sum(c for c, _ in counted.values()),
                        sum(b for _, b in counted.values()))
    except KimtError as e:
        return Estimate(email, error=f"could not read the mailbox of {email}: {e}")
