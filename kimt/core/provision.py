"""Destination accounts: created through Kerio Connect's Administration API before copying.

Kerio's admin API is JSON-RPC 2.0 over HTTPS (`https://HOST:4040/admin/api/
jsonrpc/`): `Session.login` gives a token that goes back as `X-Token`
together with the session cookie; `Domains.*` and `Users.*` do the work;
create methods answer per item (`errors[{inputIndex, code, message}]`,
`result[{inputIndex, id}]`), 1001 meaning "already exists"; -32001 means
the session expired, and the call is repeated after a new login.

The client is stdlib `http.client`: one short HTTPS connection per call,
whose certificate is checked (CA, or the pinned SHA-256 fingerprint as for
IMAP) *before* the request with the password is written, which `urllib` or
`requests` only allow through their adapters' internals. Cookies are the one
session cookie, kept by hand. Request bodies are never logged (they carry
passwords): the Debug log gets method names and counts.

`provision` runs once per run in the main process, before any mailbox is
copied: every domain of the selected users is created if missing (a domain's
aliases count as the domain), every user likewise, with the destination
password from the users file (4th column, else the source password) or, when
the admin chooses, a generated one. Existing users are left exactly as they
are. Whatever Kerio refuses is kept per user with Kerio's words; that user
is then skipped by the engine and the others go on. `check_admin` is the
"Test connection" of the wizard's destination page.
"""

from __future__ import annotations

import http.client
import json
import logging
import secrets
import ssl
import string
from collections.abc import Iterable
from dataclasses import dataclass, field

import certifi

from .. import __version__
from .accounts import Account
from .errors import (
    CertificateError,
    ConnectError,
    LoginError,
    ProtocolError,
    ServerError,
    SettingsError,
)
from .servers import ServerConfig, fingerprint_of, normalise_fingerprint, probe_fingerprint

log = logging.getLogger("kimt.provision")

DEFAULT_PORT = 4040
API_PATH = "/admin/api/jsonrpc/"
ALREADY_EXISTS = 1001
SESSION_EXPIRED = -32001
APPLICATION = {"name": "KIMT", "vendor": "KIMT", "version": __version__}

CREATED, EXISTING, REFUSED = "created", "already there", "refused"


@dataclass(frozen=True)
class KerioAdmin:
    """Where Kerio's admin API is and who logs in there."""

    host: str
    port: int = DEFAULT_PORT
    user: str = ""
    password: str = field(default="", repr=False)
    fingerprint: str | None = None  # "SHA256:…", trusted instead of the CA check
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.user:
            raise SettingsError("the Kerio admin API needs an admin user name")
        if self.fingerprint is not None:
            object.__setattr__(self, "fingerprint", normalise_fingerprint(self.fingerprint))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class KerioProvisioning:
    """What the engine needs to create the destination accounts (`RunRequest.provision`)."""

    admin: KerioAdmin
    generate_passwords: bool = False  # new users without a 4th-column password get one


class KerioApiError(ServerError):
    """Kerio answered a call with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"Kerio refused {method}: {message} (code {code})")
        self.method, self.code, self.message = method, code, message


def kerio_message(error: dict) -> str:
    """Kerio's message with its %1, %2… filled from messageParameters."""
    text = str(error.get("message") or "no reason given")
    params = (error.get("messageParameters") or {}).get("positionalParameters") or []
    for i, value in reversed(list(enumerate(params, 1))):
        text = text.replace(f"%{i}", str(value))
    return text


# ----------------------------------------------------------------------------- client

class KerioClient:
    """A logged-in session: `with KerioClient(admin) as api: api.call(...)`."""

    def __init__(self, admin: KerioAdmin):
        self.admin = admin
        self.token: str | None = None
        self.cookies: dict[str, str] = {}
        self._id = 0
        self._ctx = ssl.create_default_context(cafile=certifi.where())
        if admin.fingerprint:
            # Verified against the pinned fingerprint below instead of a CA.
            self._ctx.check_hostname = False
            self._ctx.verify_mode = ssl.CERT_NONE

    def __enter__(self) -> KerioClient:
        self.login()
        return self

    def __exit__(self, *exc: object) -> None:
        self.logout()

    # -- transport ---------------------------------------------------------------------

    def _open(self) -> http.client.HTTPSConnection:
        a = self.admin
        conn = http.client.HTTPSConnection(a.host, a.port, timeout=a.timeout, context=self._ctx)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as e:
            conn.close()
            raise self._cert_refused(e.verify_message or str(e)) from None
        except ssl.SSLError as e:
            conn.close()
            raise ConnectError(f"TLS with the Kerio admin API {a.address} failed: "
                               f"{e.reason or e}") from None
        except TimeoutError:
            conn.close()
            raise ConnectError(f"Could not connect to the Kerio admin API {a.address}: no "
                               f"answer within {a.timeout:g} s") from None
        except OSError as e:
            conn.close()
            raise ConnectError(f"Could not connect to the Kerio admin API {a.address}: "
                               f"{e.strerror or e}") from None
        if a.fingerprint:
            sock = conn.sock
            der = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
            got = fingerprint_of(der) if der else None
            if got != a.fingerprint:
                conn.close()
                raise CertificateError(
                    f"The TLS certificate of the Kerio admin API {a.address} has the "
                    f"fingerprint {got}, not the trusted {a.fingerprint}. Not connecting: the "
                    "certificate changed or someone is in between.", got)
        return conn

    def _cert_refused(self, reason: str) -> CertificateError:
        a = self.admin
        fp = probe_fingerprint(ServerConfig(a.host, a.port, "ssl", connect_timeout=a.timeout,
                                            role="Kerio admin API"))
        text = f"The TLS certificate of the Kerio admin API {a.address} was refused: {reason}."
        if fp:
            text += (f" It shows the fingerprint {fp}. Kerio Connect ships a self-signed "
                     "certificate: if you trust exactly this one (compare it with the one in "
                     f"Kerio's administration, SSL certificates), run again with "
                     f"--kerio-fingerprint {fp}")
        return CertificateError(text, fp)

    def _post(self, method: str, params: dict) -> dict:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method,
                           "params": params}).encode("utf-8")
        headers = {"Accept": "application/json-rpc",
                   "Content-Type": "application/json-rpc; charset=UTF-8"}
        if self.token:
            headers["X-Token"] = self.token
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn = self._open()
        try:
            conn.request("POST", API_PATH, body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            raise ConnectError(f"the Kerio admin API {self.admin.address} broke off during "
                               f"{method}: {e}") from None
        finally:
            conn.close()
        for cookie in resp.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            if name.strip():
                self.cookies[name.strip()] = value.strip()
        if resp.status != 200:
            raise ProtocolError(f"the Kerio admin API {self.admin.address} answered HTTP "
                                f"{resp.status} {resp.reason} to {method}: is this Kerio "
                                "Connect's administration port (4040)?")
        try:
            answer = json.loads(data)
        except ValueError:
            raise ProtocolError(f"the Kerio admin API {self.admin.address} answered {method} "
                                "with something that is not JSON") from None
        if not isinstance(answer, dict):
            raise ProtocolError(f"unexpected answer to {method} from {self.admin.address}")
        return answer

    def call(self, method: str, params: dict | None = None, *, _again: bool = True) -> dict:
        """One JSON-RPC call; a session that expired is renewed once."""
        answer = self._post(method, params or {})
        error = answer.get("error")
        if error:
            code = int(error.get("code") or 0)
            if code == SESSION_EXPIRED and _again and method != "Session.login":
                log.info("Kerio session expired during %s; logging in again", method)
                self.login()
                return self.call(method, params, _again=False)
            raise KerioApiError(method, code, kerio_message(error))
        result = answer.get("result")
        log.debug("Kerio API %s: ok", method)
        return result if isinstance(result, dict) else {}

    # -- session -------------------------------------------------------------------------

    def login(self) -> None:
        self.token = None
        self.cookies.clear()
        try:
            result = self.call("Session.login", {
                "userName": self.admin.user, "password": self.admin.password,
                "application": APPLICATION})
        except KerioApiError as e:
            raise LoginError(f"the Kerio admin API {self.admin.address} refused the login of "
                             f"{self.admin.user}: {e.message}") from None
        token = result.get("token")
        if not isinstance(token, str) or not token:
            raise ProtocolError(f"Kerio's Session.login at {self.admin.address} gave no token")
        self.token = token
        log.debug("Kerio admin API %s: logged in as %s", self.admin.address, self.admin.user)

    def logout(self) -> None:
        if self.token is None:
            return
        try:
            self.call("Session.logout", _again=False)
        except (ConnectError, ServerError) as e:
            log.debug("Kerio Session.logout: %s", e)
        self.token = None

    # -- the calls KIMT makes ------------------------------------------------------------

    @staticmethod
    def _query(fields: list[str], conditions: list[dict] | None = None) -> dict:
        return {"fields": fields, "conditions": conditions or [], "combining": "And",
                "limit": -1}

    def domains(self) -> list[dict]:
        result = self.call("Domains.get",
                           {"query": self._query(["id", "name", "aliasList"])})
        return [d for d in result.get("list") or [] if isinstance(d, dict)]

    def users(self, domain_id: str) -> list[dict]:
        result = self.call("Users.get", {"query": self._query(["id", "loginName"]),
                                         "domainId": domain_id})
        return [u for u in result.get("list") or [] if isinstance(u, dict)]

    def create(self, method: str, key: str, items: list[dict]
               ) -> tuple[dict[int, str], dict[int, dict]]:
        """({inputIndex: new id}, {inputIndex: error}) of a Domains/Users.create."""
        result = self.call(method, {key: items})
        created = {int(r["inputIndex"]): str(r.get("id", "")) for r in result.get("result") or []
                   if isinstance(r, dict) and "inputIndex" in r}
        errors = {int(e["inputIndex"]): e for e in result.get("errors") or []
                  if isinstance(e, dict) and "inputIndex" in e}
        log.debug("Kerio API %s: %d created, %d refused", method, len(created), len(errors))
        return created, errors

    def set_password(self, user_id: str, password: str) -> None:
        result = self.call("Users.set", {"userIds": [user_id], "pattern": {"password": password}})
        for e in result.get("errors") or []:
            raise KerioApiError("Users.set", int(e.get("code") or 0), kerio_message(e))


# ----------------------------------------------------------------------------- provisioning

@dataclass
class AccountOutcome:
    email: str
    state: str  # CREATED, EXISTING or REFUSED
    reason: str = ""  # Kerio's words, for REFUSED
    password: str | None = field(default=None, repr=False)  # what KIMT set (CREATED)
    generated: bool = False


@dataclass
class ProvisionResult:
    domains_created: list[str] = field(default_factory=list)
    accounts: list[AccountOutcome] = field(default_factory=list)

    def of(self, email: str) -> AccountOutcome | None:
        return next((a for a in self.accounts if a.email.casefold() == email.casefold()), None)

    @property
    def generated(self) -> dict[str, str]:
        """{address: generated password} of the accounts created with one."""
        return {a.email: a.password for a in self.accounts if a.generated and a.password}


_PASSWORD_ALPHABETS = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_.!#%+=")


def generate_password(length: int = 16) -> str:
    """A strong password with every character class (Kerio's complexity policy) and
    no character that trips a CSV, a shell or a reader (no quotes, ; , $ ` space)."""
    everything = "".join(_PASSWORD_ALPHABETS)
    while True:
        pw = "".join(secrets.choice(everything) for _ in range(length))
        if all(any(c in alphabet for c in pw) for alphabet in _PASSWORD_ALPHABETS):
            return pw


def _destination_password(account: Account, generate: bool) -> tuple[str, bool]:
    if account.target_password is not None:
        return account.target_password, False
    if generate:
        return generate_password(), True
    return account.password, False


def provision(settings: KerioProvisioning, accounts: Iterable[Account]) -> ProvisionResult:
    """Create the missing domains and users; raises only when Kerio can't be used at all."""
    accounts = list(accounts)
    out = ProvisionResult()
    with KerioClient(settings.admin) as api:
        domain_ids = _ensure_domains(api, [a.domain for a in accounts], out)
        by_domain: dict[str, list[Account]] = {}
        for a in accounts:
            by_domain.setdefault(a.domain.casefold(), []).append(a)
        for key, group in by_domain.items():
            domain_id = domain_ids.get(key)
            if isinstance(domain_id, AccountOutcome):  # the domain itself was refused
                out.accounts += [AccountOutcome(a.email, REFUSED, domain_id.reason)
                                 for a in group]
                continue
            assert domain_id is not None
            _ensure_users(api, domain_id, group, settings.generate_passwords, out)
    order = {a.email: i for i, a in enumerate(accounts)}
    out.accounts.sort(key=lambda o: order.get(o.email, 0))
    log.info("Kerio provisioning: %d domain(s) created; users: %d created, %d already there, "
             "%d refused", len(out.domains_created),
             sum(o.state == CREATED for o in out.accounts),
             sum(o.state == EXISTING for o in out.accounts),
             sum(o.state == REFUSED for o in out.accounts))
    return out


def _ensure_domains(api: KerioClient, names: list[str], out: ProvisionResult
                    ) -> dict[str, str | AccountOutcome]:
    """{domain casefolded: Kerio domain id, or a REFUSED outcome holding the reason}."""

    def known() -> dict[str, str]:
        ids: dict[str, str] = {}
        for d in api.domains():
            for name in [d.get("name", "")] + list(d.get("aliasList") or []):
                if isinstance(name, str) and name:
                    ids.setdefault(name.casefold(), str(d.get("id")))
        return ids

    ids: dict[str, str | AccountOutcome] = dict(known())
    wanted = list(dict.fromkeys(n for n in names if n.casefold() not in ids))
    if wanted:
        created, errors = api.create("Domains.create", "domains", [{"name": n} for n in wanted])
        for i, name in enumerate(wanted):
            if i in created:
                ids[name.casefold()] = created[i]
                out.domains_created.append(name)
                log.info("Kerio: domain %s created", name)
            elif i in errors and int(errors[i].get("code") or 0) != ALREADY_EXISTS:
                reason = f"Kerio refused to create the domain {name}: {kerio_message(errors[i])}"
                ids[name.casefold()] = AccountOutcome("", REFUSED, reason)
                log.warning("%s", reason)
        missing = [n for n in wanted if n.casefold() not in ids]
        if missing:  # 1001 (created meanwhile) or no answer for it: look again
            again = known()
            for name in missing:
                ids[name.casefold()] = again.get(name.casefold()) or AccountOutcome(
                    "", REFUSED, f"Kerio did not create the domain {name} (no reason given)")
    return ids


def _ensure_users(api: KerioClient, domain_id: str, group: list[Account], generate: bool,
                  out: ProvisionResult) -> None:
    existing = {str(u.get("loginName", "")).casefold() for u in api.users(domain_id)}
    new: list[tuple[Account, str, bool]] = []
    for a in group:
        if a.local_part.casefold() in existing:
            out.accounts.append(AccountOutcome(a.email, EXISTING))
        else:
            password, generated = _destination_password(a, generate)
            new.append((a, password, generated))
    if not new:
        return
    items = [{"domainId": domain_id, "loginName": a.local_part, "fullName": a.full_name,
              "password": password, "isEnabled": True} for a, password, _ in new]
    created, errors = api.create("Users.create", "users", items)
    for i, (a, password, generated) in enumerate(new):
        if i in created:
            out.accounts.append(AccountOutcome(a.email, CREATED, password=password,
                                               generated=generated))
            log.info("Kerio: user %s created", a.email)
        elif i in errors and int(errors[i].get("code") or 0) == ALREADY_EXISTS:
            out.accounts.append(AccountOutcome(a.email, EXISTING))
        else:
            reason = kerio_message(errors[i]) if i in errors else "no answer for this user"
            out.accounts.append(AccountOutcome(a.email, REFUSED,
                                               f"Kerio refused to create the account: {reason}"))
            log.warning("Kerio refused to create %s: %s", a.email, reason)


def check_admin(admin: KerioAdmin) -> str:
    """Log in to the admin API and out again; a sentence for a "Test connection" button.

    Raises CertificateError (with the fingerprint to confirm), ConnectError,
    LoginError or ServerError with a text for the admin.
    """
    with KerioClient(admin) as api:
        domains = api.domains()
    names = ", ".join(sorted(str(d.get("name")) for d in domains)[:5])
    return (f"Logged in to the Kerio admin API at {admin.address} as {admin.user}; "
            f"{len(domains)} domain(s)" + (f": {names}" if names else "") + ".")


def report_section(result: ProvisionResult) -> str:
    """The Report's account section; generated passwords are written in full here only."""
    lines = ["=== Destination accounts (Kerio Connect)"]
    if result.domains_created:
        lines.append("  Domains created: " + ", ".join(result.domains_created))
    for o in result.accounts:
        if o.state == CREATED:
            how = ("generated password: " + (o.password or "")) if o.generated else (
                "password from the users file")
            lines.append(f"  {o.email}: created ({how})")
        elif o.state == EXISTING:
            lines.append(f"  {o.email}: already there, left as it was")
        else:
            lines.append(f"  {o.email}: NOT created — {o.reason}; this user is skipped")
    if result.generated:
        lines.append("  Give each user their generated password; it is written nowhere else.")
    return "\n".join(lines) + "\n"

