"""A token introspection endpoint (RFC 7662 shape) for Dovecot's `oauth2` passdb.

`OAuthServer().start()` listens on 127.0.0.1 (plain HTTP: Dovecot calls it on
loopback only); `issue(email)` returns a fresh random token for a user,
`revoke(token)` makes it inactive. `dovecot_config(dir)` is the text to pass
as `extra_config=` so a `Dovecot` accepts `AUTHENTICATE XOAUTH2` with those
tokens (and still its passwords and master user). `calls` counts the
introspection requests, so a test knows Dovecot really asked.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs


class OAuthServer:
    host = "127.0.0.1"

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}  # token -> user
        self.calls = 0
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://{self.host}:{self._httpd.server_address[1]}/introspect"

    def issue(self, user: str) -> str:
        token = "tok-" + secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    def start(self) -> OAuthServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                token = (form.get("token") or [""])[0]
                owner.calls += 1
                user = owner.tokens.get(token)
                body = {"active": "true", "username": user} if user else {"active": "false"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def dovecot_config(self, directory: Path) -> str:
        conf = Path(directory) / "dovecot-oauth2.conf.ext"
        conf.write_text(f"introspection_mode = post\nintrospection_url = {self.url}\n"
                        "username_attribute = username\nactive_attribute = active\n"
                        "active_value = true\n")
        conf.chmod(0o644)
        return ("auth_mechanisms = plain login xoauth2\n"
                "passdb {\n  driver = oauth2\n  mechanisms = xoauth2\n"
                f"  args = {conf}\n}}\n")
