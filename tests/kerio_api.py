"""A Kerio Connect Administration API stand-in: HTTPS JSON-RPC 2.0 on 127.0.0.1.

Kerio Connect can't run here, so this small server follows the documented
shapes KIMT relies on, strictly enough to catch a client that gets them
wrong:

- POST /admin/api/jsonrpc/ only, with `Accept: application/json-rpc` and
  `Content-Type: application/json-rpc…`; a JSON-RPC 2.0 envelope;
- `Session.login {userName, password, application{name,vendor,version}}` ->
  `{token}` and a `SESSION_CONNECT_WEBADMIN` cookie; every later call needs
  both (X-Token header and cookie), else error -32001; `expire_sessions()`
  makes the next call fail with -32001 as a real expiry would, and
  `expire_at_call = n` does it just before the n-th call of a run;
- `Domains.get/create/set/remove`, `Users.get/create/set`, `Session.logout`,
  with -32602 for bad params, per-item `errors[{inputIndex, code, message,
  messageParameters}]` / `result[{inputIndex, id}]`, 1001 for duplicates;
  `Domains.set {domainIds, pattern}` changes the fields of `pattern`
  (`aliasList` here) and refuses, per domain, an alias that is already a
  domain or another domain's alias, as `Domains.create` refuses a name that
  is already an alias;
- a call's own failure is a JSON-RPC error whose %1, %2… are filled from
  `error.data.messageParameters` (not from the error itself, as an item's
  are); `refuse_calls[method] = (code, message, [parameters])` makes a
  method fail that way;
- `refuse_users[login@domain] = message` and `min_password_length` make
  Users.create refuse items the way Kerio's policies do.

A user created here is added to the destination `Dovecot` (its passwd
file, through `add_user`), so the whole Kerio path runs end to end.
`calls` records every method called, `created_users` what was created.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COOKIE = "SESSION_CONNECT_WEBADMIN"

# The Kerio admin and master password the `kerio` fixture (tests/conftest.py) sets up.
ADMIN, ADMIN_PW = "Admin", "Kerio-Admin-Pw-5"
MASTER_PW = "Kerio-Master-Pw-8"


class RpcError(Exception):
    def __init__(self, code: int, message: str, parameters: list[str] | None = None):
        super().__init__(message)
        self.code, self.message, self.parameters = code, message, parameters or []

    def error(self) -> dict:
        """The JSON-RPC error object: its message's parameters go under `data`."""
        body: dict = {"code": self.code, "message": self.message}
        if self.parameters:
            body["data"] = {"messageParameters": {"positionalParameters": self.parameters,
                                                  "plurality": 1}}
        return body


def _item_error(index: int, code: int, message: str, *parameters: str) -> dict:
    return {"inputIndex": index, "code": code, "message": message,
            "messageParameters": {"positionalParameters": list(parameters), "plurality": 1}}


def _make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "kerio-cert.pem", directory / "kerio-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=kerio.test",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


class KerioApiServer:
    """`KerioApiServer(dovecot, admin=("Admin", "pw")).start()`; `.port`, `.fingerprint`."""

    host = "127.0.0.1"

    def __init__(self, dovecot=None, admin: tuple[str, str] = ("Admin", "kerio-admin-pw")):
        self.dovecot = dovecot
        self.admin = admin
        self.domains: list[dict] = []  # {id, name, aliasList}
        self.users: list[dict] = []  # {id, domainId, loginName, fullName, password, isEnabled}
        self.sessions: dict[str, str] = {}  # token -> cookie
        self.calls: list[str] = []
        self.refuse_users: dict[str, str] = {}
        self.refuse_calls: dict[str, tuple[int, str, list[str]]] = {}
        self.min_password_length = 0
        self.expire_at_call: int | None = None  # sessions expire just before this call (1-based)
        self.lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="kerio-api-"))
        self.cert_path, self.key_path = _make_cert(self._dir)
        self._httpd: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ control
    @property
    def port(self) -> int:
        assert self._httpd is not None
        return self._httpd.server_address[1]

    @property
    def fingerprint(self) -> str:
        import hashlib

        der = ssl.PEM_cert_to_DER_cert(self.cert_path.read_text())
        h = hashlib.sha256(der).hexdigest().upper()
        return "SHA256:" + ":".join(h[i:i + 2] for i in range(0, 64, 2))

    def add_domain(self, name: str, aliases: list[str] | None = None) -> str:
        with self.lock:
            return self._new_domain(name, aliases or [])

    def add_user(self, email: str, password: str) -> None:
        """An account that exists before KIMT runs (in Kerio and in the Dovecot)."""
        local, domain = email.split("@")
        with self.lock:
            d = self._domain_by_name(domain) or {"id": self._new_domain(domain, [])}
            self.users.append({"id": "u" + secrets.token_hex(4), "domainId": d["id"],
                               "loginName": local, "fullName": "", "password": password,
                               "isEnabled": True})
        if self.dovecot is not None:
            self.dovecot.add_user(email, password)

    def expire_sessions(self) -> None:
        with self.lock:
            self.sessions.clear()

    def created_users(self) -> list[str]:
        names = {d["id"]: d["name"] for d in self.domains}
        return [f"{u['loginName']}@{names[u['domainId']]}" for u in self.users]

    def start(self) -> KerioApiServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                owner._handle(self)

            def do_GET(self) -> None:  # noqa: N802
                self.send_error(405)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> KerioApiServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ HTTP
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length)
        if req.path != "/admin/api/jsonrpc/":
            return self._send(req, 404, b"not found", [])
        cookies = {}
        for part in (req.headers.get("Cookie") or "").split(";"):
            k, _, v = part.strip().partition("=")
            cookies[k] = v
        set_cookies: list[str] = []
        rid = None
        try:
            if req.headers.get("Accept") != "application/json-rpc" or not (
                    req.headers.get("Content-Type") or "").startswith("application/json-rpc"):
                raise RpcError(-32600, "Invalid request: wrong Accept or Content-Type")
            try:
                msg = json.loads(raw)
            except ValueError:
                raise RpcError(-32700, "Parse error") from None
            if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or "method" not in msg:
                raise RpcError(-32600, "Invalid request")
            rid = msg.get("id")
            method, params = msg["method"], msg.get("params") or {}
            if not isinstance(params, dict):
                raise RpcError(-32602, "Invalid params")
            with self.lock:
                self.calls.append(method)
                if self.expire_at_call == len(self.calls):
                    self.sessions.clear()
                if method == "Session.login":
                    result = self._login(params, set_cookies)
                else:
                    token = req.headers.get("X-Token")
                    if not token or self.sessions.get(token) != cookies.get(COOKIE):
                        raise RpcError(-32001, "Session expired.")
                    if method == "Session.logout":
                        self.sessions.pop(token, None)
                        result = {}
                    elif method in self.refuse_calls:
                        raise RpcError(*self.refuse_calls[method])
                    else:
                        handler = getattr(self, "_" + method.replace(".", "_"), None)
                        if handler is None:
                            raise RpcError(-32601, f"Method not found: {method}")
                        result = handler(params)
            body = {"jsonrpc": "2.0", "id": rid, "result": result}
        except RpcError as e:
            body = {"jsonrpc": "2.0", "id": rid, "error": e.error()}
        self._send(req, 200, json.dumps(body).encode(), set_cookies)

    @staticmethod
    def _send(req, status: int, data: bytes, cookies: list[str]) -> None:
        req.send_response(status)
        req.send_header("Content-Type", "application/json-rpc; charset=UTF-8")
        for c in cookies:
            req.send_header("Set-Cookie", c)
        req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        req.wfile.write(data)

    # ------------------------------------------------------------------ methods
    def _login(self, p: dict, set_cookies: list[str]) -> dict:
        app = p.get("application")
        if not (isinstance(p.get("userName"), str) and isinstance(p.get("password"), str)
                and isinstance(app, dict) and {"name", "vendor", "version"} <= set(app)):
            raise RpcError(-32602, "Invalid params")
        if (p["userName"], p["password"]) != self.admin:
            raise RpcError(-32000, "Login failed: wrong user name or password.")
        token, cookie = secrets.token_hex(16), secrets.token_hex(16)
        self.sessions[token] = cookie
        set_cookies.append(f"{COOKIE}={cookie}; path=/admin/; Secure; HttpOnly")
        return {"token": token}

    @staticmethod
    def _query(p: dict) -> dict:
        q = p.get("query")
        if not isinstance(q, dict) or not isinstance(q.get("fields", []), list):
            raise RpcError(-32602, "Invalid params: query")
        for c in q.get("conditions") or []:
            if not isinstance(c, dict) or c.get("comparator") not in ("Eq", "Like"):
                raise RpcError(-32602, "Invalid params: condition")
        return q

    @staticmethod
    def _select(items: list[dict], q: dict) -> dict:
        def ok(item: dict) -> bool:
            for c in q.get("conditions") or []:
                value = str(item.get(c.get("fieldName"), ""))
                if c["comparator"] == "Eq" and value.casefold() != str(c.get("value")).casefold():
                    return False
                if c["comparator"] == "Like" and str(c.get("value")).casefold() not in \
                        value.casefold():
                    return False
            return True

        fields = q.get("fields") or []
        chosen = [{k: v for k, v in i.items() if not fields or k in fields} for i in items
                  if ok(i)]
        return {"list": chosen, "totalItems": len(chosen)}

    def _domain_by_name(self, name: str) -> dict | None:
        return next((d for d in self.domains if d["name"].casefold() == name.casefold()), None)

    def _new_domain(self, name: str, aliases: list[str]) -> str:
        did = "d" + secrets.token_hex(4)
        self.domains.append({"id": did, "name": name, "aliasList": aliases})
        return did

    def _Domains_get(self, p: dict) -> dict:  # noqa: N802
        return self._select(self.domains, self._query(p))

    def _alias_owner(self, name: str, but: str = "") -> dict | None:
        """The domain (other than the one with id `but`) that has `name` as an alias."""
        return next((d for d in self.domains if d["id"] != but and name.casefold()
                     in {a.casefold() for a in d["aliasList"]}), None)

    def _Domains_create(self, p: dict) -> dict:  # noqa: N802
        items = p.get("domains")
        if not isinstance(items, list):
            raise RpcError(-32602, "Invalid params: domains")
        errors, result = [], []
        for i, d in enumerate(items):
            name = d.get("name") if isinstance(d, dict) else None
            if not isinstance(name, str) or "." not in name:
                errors.append(_item_error(i, 1000, "Invalid domain name."))
            elif self._domain_by_name(name):
                errors.append(_item_error(i, 1001, "Domain %1 already exists.", name))
            elif owner := self._alias_owner(name):
                errors.append(_item_error(i, 1000, "The name %1 is already used as an alias "
                                          "of the domain %2.", name, owner["name"]))
            else:
                result.append({"inputIndex": i,
                               "id": self._new_domain(name, list(d.get("aliasList") or []))})
        return {"errors": errors, "result": result}

    def _Domains_set(self, p: dict) -> dict:  # noqa: N802
        ids, pattern = p.get("domainIds"), p.get("pattern")
        if not isinstance(ids, list) or not isinstance(pattern, dict):
            raise RpcError(-32602, "Invalid params")
        aliases = pattern.get("aliasList")
        if "aliasList" in pattern and not (isinstance(aliases, list)
                                           and all(isinstance(a, str) for a in aliases)):
            raise RpcError(-32602, "Invalid params: pattern.aliasList")
        errors = []
        for i, did in enumerate(ids):
            domain = next((d for d in self.domains if d["id"] == did), None)
            if domain is None:
                errors.append(_item_error(i, 1000, "Domain not found."))
                continue
            if aliases is not None:
                taken = next(((a, d["name"]) for a in aliases
                              for d in [self._domain_by_name(a)] if d), None)
                taken = taken or next(((a, d["name"]) for a in aliases
                                       for d in [self._alias_owner(a, did)] if d), None)
                if taken:
                    errors.append(_item_error(i, 1000, "The alias %1 is already used by the "
                                              "domain %2.", *taken))
                    continue
                domain["aliasList"] = list(aliases)
            for key in ("description",):
                if key in pattern:
                    domain[key] = pattern[key]
        return {"errors": errors}

    def _Domains_remove(self, p: dict) -> dict:  # noqa: N802
        ids = p.get("domainIds")
        if not isinstance(ids, list):
            raise RpcError(-32602, "Invalid params: domainIds")
        errors = []
        for i, did in enumerate(ids):
            if any(u["domainId"] == did for u in self.users):
                errors.append(_item_error(i, 1000, "The domain is not empty."))
            elif any(d["id"] == did for d in self.domains):
                self.domains = [d for d in self.domains if d["id"] != did]
            else:
                errors.append(_item_error(i, 1000, "Domain not found."))
        return {"errors": errors}

    def _Users_get(self, p: dict) -> dict:  # noqa: N802
        q = self._query(p)
        did = p.get("domainId")
        if not any(d["id"] == did for d in self.domains):
            raise RpcError(-32602, "Invalid params: domainId")
        public = [{k: v for k, v in u.items() if k != "password"} for u in self.users
                  if u["domainId"] == did]
        return self._select(public, q)

    def _Users_create(self, p: dict) -> dict:  # noqa: N802
        items = p.get("users")
        if not isinstance(items, list):
            raise RpcError(-32602, "Invalid params: users")
        errors, result = [], []
        for i, u in enumerate(items):
            if not isinstance(u, dict) or not {"domainId", "loginName", "password"} <= set(u):
                raise RpcError(-32602, f"Invalid params: users[{i}]")
            domain = next((d for d in self.domains if d["id"] == u["domainId"]), None)
            if domain is None:
                errors.append({"inputIndex": i, "code": 1000, "message": "Domain not found.",
                               "messageParameters": {}})
                continue
            email = f"{u['loginName']}@{domain['name']}".lower()
            if any(x["domainId"] == domain["id"] and x["loginName"].casefold()
                   == u["loginName"].casefold() for x in self.users):
                errors.append({"inputIndex": i, "code": 1001,
                               "message": "User %1 already exists.",
                               "messageParameters": {"positionalParameters": [email]}})
            elif email in self.refuse_users:
                errors.append({"inputIndex": i, "code": 1000,
                               "message": self.refuse_users[email], "messageParameters": {}})
            elif len(u["password"]) < self.min_password_length:
                errors.append({"inputIndex": i, "code": 1000,
                               "message": "The password must be at least %1 characters long.",
                               "messageParameters": {"positionalParameters":
                                                     [str(self.min_password_length)]}})
            else:
                uid = "u" + secrets.token_hex(4)
                self.users.append({"id": uid, "domainId": domain["id"],
                                   "loginName": u["loginName"],
                                   "fullName": u.get("fullName", ""),
                                   "password": u["password"],
                                   "isEnabled": bool(u.get("isEnabled", True))})
                if self.dovecot is not None:
                    self.dovecot.add_user(email, u["password"])
                result.append({"inputIndex": i, "id": uid})
        return {"errors": errors, "result": result}

    def _Users_set(self, p: dict) -> dict:  # noqa: N802
        ids, pattern = p.get("userIds"), p.get("pattern")
        if not isinstance(ids, list) or not isinstance(pattern, dict):
            raise RpcError(-32602, "Invalid params")
        errors = []
        for i, uid in enumerate(ids):
            user = next((u for u in self.users if u["id"] == uid), None)
            if user is None:
                errors.append({"inputIndex": i, "code": 1000, "message": "User not found."})
                continue
            if "password" in pattern:
                user["password"] = pattern["password"]
                if self.dovecot is not None:
                    domain = next(d for d in self.domains if d["id"] == user["domainId"])
                    self.dovecot.add_user(f"{user['loginName']}@{domain['name']}".lower(),
                                          pattern["password"])
        return {"errors": errors}
