"""Kerio Connect's Administration API: a small JSON-RPC 2.0 client over HTTPS.

`https://HOST:4040/admin/api/jsonrpc/`: `Session.login` gives a token that
goes back as `X-Token` together with the session cookie; create and set
methods answer per item (`errors[{inputIndex, code, message,
messageParameters}]`, and `result[{inputIndex, id}]` for a create), 1001
meaning "already exists"; -32001 means the session expired, and the call is
repeated once after a new login. Kerio's messages hold %1, %2… filled from
`messageParameters.positionalParameters`: an item's error has them itself, a
whole call's JSON-RPC error under `error.data`.

Stdlib `http.client`: one short HTTPS connection per call, whose certificate
is checked (this computer's trusted authorities through `tls.client_context`,
or the pinned SHA-256 fingerprint, as for IMAP) *before* the
request with the password is written, which `urllib` or `requests` only allow
through their adapters' internals; no new dependency for a dozen calls per
run. The one session cookie is kept by hand. Request bodies are never logged
(they carry passwords): the Debug log gets method names and counts.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
from dataclasses import dataclass, field

from .. import __version__
from . import tls
from .errors import (
    CertificateError,
    ConnectError,
    LoginError,
    ProtocolError,
    ServerError,
    SettingsError,
)
from .servers import ServerConfig, fingerprint_of, normalise_fingerprint, probe_certificate

log = logging.getLogger("kimt.kerio")

DEFAULT_PORT = 4040
API_PATH = "/admin/api/jsonrpc/"
ALREADY_EXISTS = 1001
SESSION_EXPIRED = -32001
APPLICATION = {"name": "KIMT", "vendor": "KIMT", "version": __version__}


@dataclass(frozen=True)
class KerioAdmin:
    """Where Kerio's admin API is and who logs in there."""

    host: str
    port: int = DEFAULT_PORT
    user: str = ""
    password: str = field(default="", repr=False)
    fingerprint: str | None = None  # "SHA256:…", trusted instead of the CA check
    timeout: float = 30.0
    # as `ServerConfig.trust_advice` (None: the CLI's option); words, not a setting
    trust_advice: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.user:
            raise SettingsError("the Kerio admin API needs an admin user name")
        if self.fingerprint is not None:
            object.__setattr__(self, "fingerprint", normalise_fingerprint(self.fingerprint))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class KerioApiError(ServerError):
    """Kerio answered a call with a JSON-RPC error."""

    def __init__(self, method: str, code: int, message: str):
        super().__init__(f"Kerio refused {method}: {message} (code {code})")
        self.method, self.code, self.message = method, code, message


def kerio_message(error: dict) -> str:
    """Kerio's message with its %1, %2… filled from messageParameters.

    An item's error (`errors[…]` of a create or set) carries them itself; a
    call's JSON-RPC error carries them in its `data`.
    """
    text = str(error.get("message") or "no reason given")
    data = error.get("data") if isinstance(error.get("data"), dict) else {}
    parameters = error.get("messageParameters") or data.get("messageParameters") or {}
    params = parameters.get("positionalParameters") if isinstance(parameters, dict) else None
    params = params if isinstance(params, list) else []
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
        # With a fingerprint, the certificate is compared with it below instead of a CA.
        self._ctx = tls.client_context(admin.fingerprint)

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
            raise self._cert_refused(e) from None
        except ssl.SSLError as e:
            conn.close()
            if tls.speaks_no_tls(e):
                raise ConnectError(f"the Kerio admin API {a.address} answered without TLS "
                                   f"({e.reason}): that port speaks no HTTPS. Kerio's "
                                   f"administration is on port {DEFAULT_PORT} unless it was "
                                   "changed") from None
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

    def _cert_refused(self, error: ssl.SSLCertVerificationError) -> CertificateError:
        a = self.admin
        der = probe_certificate(ServerConfig(a.host, a.port, "ssl", connect_timeout=a.timeout,
                                              role="Kerio admin API"))
        fp = fingerprint_of(der) if der else None
        problem = tls.refusal(a.host, der, error)
        text = f"The TLS certificate of the Kerio admin API {a.address} was refused: {problem}."
        if fp:
            text += (f" It shows the fingerprint {fp}. Kerio Connect ships a self-signed "
                     "certificate: if you trust exactly this one (compare it with the one in "
                     "Kerio's administration, SSL certificates), "
                     + (a.trust_advice or f"run again with --kerio-fingerprint {fp}"))
        return CertificateError(text, fp, problem)

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

    def set_domain(self, domain_id: str, pattern: dict) -> dict | None:
        """`Domains.set` of one domain (its aliasList, say); Kerio's error, or None."""
        result = self.call("Domains.set", {"domainIds": [domain_id], "pattern": pattern})
        errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
        log.debug("Kerio API Domains.set %s: %s", sorted(pattern),
                  "refused" if errors else "ok")
        return errors[0] if errors else None

    def remove_domain(self, domain_id: str) -> dict | None:
        """`Domains.remove` of one domain; Kerio's error, or None."""
        result = self.call("Domains.remove", {"domainIds": [domain_id]})
        errors = [e for e in result.get("errors") or [] if isinstance(e, dict)]
        return errors[0] if errors else None

    def set_password(self, user_id: str, password: str) -> None:
        result = self.call("Users.set", {"userIds": [user_id], "pattern": {"password": password}})
        for e in result.get("errors") or []:
            raise KerioApiError("Users.set", int(e.get("code") or 0), kerio_message(e))
