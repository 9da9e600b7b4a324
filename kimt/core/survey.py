"""Looking at servers before migrating: test a connection, check a login, estimate a mailbox.

What the wizard's "Test connection", "Check logins" and "Estimate" buttons and
`kimt check` do, without any GUI import. An admin (master user) login is
checked apart from the connection (`check_admin`), so that an answer can say
which part failed: the server, the admin's password, or the users.
Everything here only reads: mailboxes are opened with EXAMINE (or asked
with STATUS), never SELECT, so the source stays untouched. Each function
returns a plain record with admin-readable words instead of raising, so a
caller can run many of them in threads and show each answer next to its user.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .accounts import Account
from .detect import Detected, detect
from .errors import CertificateError, KimtError, LoginError
from .folder_rules import FolderRules
from .folders import list_folders, select
from .report import SECURITY_WORDS, plural, size
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
    # the notable capabilities offered before login (for experts: the CLI and the Debug log)
    offered: tuple[str, ...] = ()
    master_style: str | None = None  # the admin login style that worked (`check_admin`)


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
        return (f"{plural(self.folders, 'folder')}, {plural(self.messages, 'message')}, "
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
    # Before login a server lists only some of what it has (Dovecot names MULTIAPPEND
    # and UIDPLUS after login only): what it offered, never what it "lacks"; not in the
    # admin's answer, where it means nothing to most (the CLI and the Debug log name it).
    offered = tuple(c for c in NOTABLE_CAPABILITIES if c in caps and c != "STARTTLS")
    log.debug("%s %s: before login the server offers %s", config.role, config.address,
              ", ".join(offered) or "none of " + ", ".join(NOTABLE_CAPABILITIES))
    if detected.tried:
        text += f". Tried first: {'; '.join(detected.tried)}"
    return ConnectionTest(True, text + ".", config=config, offered=offered)


# Who the admin acts for when no user is known yet: a name no server has, so that
# a server telling its answers apart (RFC 5530) says "admin right, no such user".
PROBE_USER = "kimt-login-test"
STYLE_WORDS = {"authzid": "SASL PLAIN with the user's name",
               "separator": "a user*admin login", "combined": "a DOMAIN\\admin\\user login"}
AUTHORIZATION_FAILED = "AUTHORIZATIONFAILED"  # RFC 5530: the admin is right, the user not


def check_admin(config: ServerConfig, emails: list[str], probes: int = 3) -> ConnectionTest:
    """Log in as the admin (a master user) acting for the first of `emails`, saying
    which part failed: the server, the admin's name or password, or the users.

    With no user known yet it acts for `PROBE_USER`: a server that answers
    AUTHORIZATIONFAILED took the admin's password and only refused that name. The
    chosen master style is tried first, then the others, so that the one the server
    takes can be offered (`master_style` of the answer).
    """
    assert config.auth == "master" and config.master_user
    who = list(dict.fromkeys(emails))[:probes]
    probing = not who
    if probing:
        domain = config.master_user.partition("@")[2] or "example.com"
        who = [f"{PROBE_USER}@{domain}"]
    styles = [config.master_style] + [s for s in ("authzid", "separator")
                                      if s != config.master_style]
    admin = config.master_user
    refused: list[LoginError] = []  # per style tried
    for style in styles:
        trying = config.with_(master_style=style)
        unknown: list[str] = []
        for email in who:
            try:
                close_quietly(connect(trying, email))
            except LoginError as e:
                if e.code == AUTHORIZATION_FAILED:
                    unknown.append(email)
                    continue
                refused.append(e)
                break
            except KimtError as e:
                return ConnectionTest(False, str(e))
            return ConnectionTest(True, _admin_works(admin, style, config.master_style,
                                                     f"(acting for {email})"),
                                  master_style=style)
        else:  # every user was refused after the admin's password was taken
            if probing:
                return ConnectionTest(True, _admin_works(
                    admin, style, config.master_style,
                    "(the server took the admin's name and password; the users are "
                    "checked when a migration starts)"), master_style=style)
            return ConnectionTest(
                False, f'The admin login "{admin}" works, but the server does not know '
                f'{", ".join(unknown)} (or does not let "{admin}" act for '
                f"{'it' if len(unknown) == 1 else 'them'}): check that the accounts exist on "
                "this server and that the users file has their addresses right.",
                master_style=style)
    tried = " and ".join(STYLE_WORDS[s] for s in styles)
    first = refused[0]
    said = str(first).partition(" server): ")[2] or str(first)  # the server's own words
    text = (f'The server refused the admin login "{admin}": the admin\'s name or password '
            f'is wrong, or "{admin}" is not a master user there (tried {tried}). The server '
            f"said: {said}")
    if probing and first.code != "AUTHENTICATIONFAILED":  # it may only mean "no such user"
        text += (f" It was asked for a made-up user, {who[0]}, as no users are selected yet: "
                 "if the admin's name and password are right, select the users and test "
                 "again.")
    return ConnectionTest(False, text)


def _admin_works(admin: str, style: str, chosen: str, how: str) -> str:
    text = f'The admin login "{admin}" works {how}'
    if style != chosen:
        text += f"; the server takes {STYLE_WORDS[style]}, not {STYLE_WORDS[chosen]}"
    return text + "."


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
