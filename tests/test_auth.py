"""Every admin login the field uses, on both sides, end to end with `kimt migrate`.

Master users in both styles (SASL authorization identity, `user*admin`), Kerio's
X-MASTERAUTH (through `masterauth_proxy`), local-part source logins, and
XOAUTH2 against Dovecot's `oauth2` passdb with a local introspection endpoint
(`oauth_server`), the token coming from the users file or a token command.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from pathlib import Path

import pytest
from dovecot import DEFAULT_SPECIAL_USE, make_message
from helpers import ADMIN_PASSWORD, assert_same_mail, kimt, report_of, run_dir_of, write_csv
from masterauth_proxy import MasterAuthProxy
from oauth_server import OAuthServer
from tcp_proxy import TcpProxy

from kimt.core.errors import LoginError
from kimt.core.servers import ServerConfig, connect

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"
MASTER_PW = "Kerio-Master-Pw-8"


def seed(server, user: str = USER, n: int = 3) -> None:
    server.create_folder(user, "Archiv")
    for i in range(n):
        server.append(user, "INBOX", make_message(f"msg {i}", body=f"{i}\r\n"), ["\\Seen"])
    server.append(user, "Archiv", make_message("archived"), ["\\Flagged"])


def base_args(src, dst, users: Path, log_dir: Path) -> list[str]:
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "admin.pass").write_text(ADMIN_PASSWORD + "\n")
    return ["migrate", "--users", str(users), "--log-dir", str(log_dir),
            "--source-host", f"{src.host}:{src.port}", "--source-security", "none",
            "--target-host", f"{dst.host}:{dst.port}", "--target-security", "none"]


@pytest.fixture
def dst(dovecot_factory):
    d = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    d.add_user(USER, "Dst-Pw-1")
    return d


@pytest.mark.parametrize("style,login", [("authzid", "local"), ("separator", "email"),
                                         ("separator", "local")])
def test_source_master_login_both_styles(dovecot_factory, dst, tmp_path, style, login):
    src = dovecot_factory()
    src_user = "jdoe" if login == "local" else USER  # old servers know users as 'jdoe'
    src.add_user(src_user, "unused-by-kimt")
    seed(src, src_user)
    users = write_csv(tmp_path / "users.csv", [(USER, "not-the-password")])
    logs = tmp_path / "logs"
    args = base_args(src, dst, users, logs) + [
        "--source-auth", "master", "--source-user", "admin",
        "--source-pass-file", str(logs / "admin.pass"), "--source-master-style", style,
        "--source-login", login, "--target-auth", "master", "--target-user", "admin",
        "--target-pass-file", str(logs / "admin.pass"), "--target-master-style",
        "separator" if style == "authzid" else "authzid"]
    proc = kimt(*args, check_rc=0)
    assert "4 copied" in proc.stdout
    assert_same_mail(src, dst, src_user, dst_user=USER)
    # The users file's password is wrong: only the master login can have worked.
    assert f"Master user logging in as {src_user}" in src.log_text()
    debug = (run_dir_of(proc) / "debug.log").read_text()
    assert f"source 127.0.0.1:{src.port}: login {src_user} as master ({style})" in debug


def test_source_local_part_login_with_own_password(dovecot_factory, dst, tmp_path):
    src = dovecot_factory()
    src.add_user("jdoe", PASSWORD)
    seed(src, "jdoe")
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD, "", "Dst-Pw-1")])
    args = base_args(src, dst, users, tmp_path / "logs") + ["--source-login", "local"]
    proc = kimt(*args, check_rc=0)
    assert_same_mail(src, dst, "jdoe", dst_user=USER)
    assert "(login name: the part before @)" in report_of(proc)
    # Without --source-login local the same server refuses the full address.
    wrong = kimt(*base_args(src, dst, users, tmp_path / "logs2"), check_rc=1)
    assert "login failed for jdoe@example.com" in wrong.stdout


def test_kerio_master_authentication_through_the_front(dovecot_factory, dst, tmp_path):
    src = dovecot_factory()
    src.add_user(USER, PASSWORD)
    seed(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    logs = tmp_path / "logs"
    (tmp_path / "master.pass").write_text(MASTER_PW + "\n")
    with MasterAuthProxy(dst, MASTER_PW) as proxy:
        args = base_args(src, dst, users, logs)
        args[args.index("--target-host") + 1] = f"{proxy.host}:{proxy.port}"
        args += ["--target-auth", "kerio-master", "--target-pass-file",
                 str(tmp_path / "master.pass")]
        proc = kimt(*args, check_rc=0)
        assert "masterauth ok" in proxy.events and f"setuser {USER}" in proxy.events
        assert_same_mail(src, dst, USER)
        report = report_of(proc)
        assert "Kerio's master authentication (X-MASTERAUTH)" in report
        for name in ("report.log", "debug.log"):
            assert MASTER_PW not in (run_dir_of(proc) / name).read_text()

        (tmp_path / "master.pass").write_text("wrong-master\n")
        wrong = kimt(*args, check_rc=3)
        assert "refused the admin login" in wrong.stderr
        assert "Master authentication failed" in wrong.stderr
        assert "masterauth refused" in proxy.events

        # The client side on its own: an unknown user is refused at X-SETUSER.
        cfg = ServerConfig(proxy.host, proxy.port, "none", auth="kerio-master",
                           master_password=MASTER_PW)
        with pytest.raises(LoginError, match="No such user"):
            connect(cfg, "nobody@example.com")


class NoPlainProxy(TcpProxy):
    """A server that offers no SASL PLAIN: the proxy strips AUTH=PLAIN from what it says
    (Dovecot itself can't: its LOGIN command goes through the PLAIN mechanism)."""

    def serve(self, client: socket.socket, upstream: socket.socket) -> None:
        def pump(src: socket.socket, dst: socket.socket, change) -> None:
            rest = b""
            try:
                while data := src.recv(65536):
                    *lines, rest = (rest + data).split(b"\r\n")
                    dst.sendall(b"".join(change(line) + b"\r\n" for line in lines))
            except OSError:
                pass
            finally:
                self.shut(src, dst)

        threading.Thread(target=pump, args=(client, upstream, lambda line: line),
                         daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client,
                                            lambda line: line.replace(b" AUTH=PLAIN", b"")),
                         daemon=True).start()


ZOE, ZOE_PASSWORD, ZOE_NEW_PASSWORD = "zoe@example.com", "Zoë-Heslo-ř1", "Zoë-Nové-ž2"


def test_a_non_ascii_password_logs_in_with_sasl_plain(dovecot_factory, tmp_path):
    """imaplib sends LOGIN as ASCII: a password like 'Zoë' goes as SASL PLAIN (UTF-8)."""
    src = dovecot_factory()
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True,
                          master_password="Ädmin-Heslo-3")
    src.add_user(ZOE, ZOE_PASSWORD)
    dst.add_user(ZOE, ZOE_NEW_PASSWORD)
    seed(src, ZOE)
    users = write_csv(tmp_path / "users.csv", [(ZOE, ZOE_PASSWORD, "Zoë", ZOE_NEW_PASSWORD)])
    proc = kimt(*base_args(src, dst, users, tmp_path / "logs"), "--target-auth", "user",
                check_rc=0)
    assert_same_mail(src, dst, ZOE)
    assert f"Login: user=<{ZOE}>, method=PLAIN" in src.log_text()
    assert f"Login: user=<{ZOE}>, method=PLAIN" in dst.log_text()
    # The destination admin's password is not ASCII either, in a 'user*admin' login.
    (tmp_path / "admin.pass").write_text("Ädmin-Heslo-3\n", encoding="utf-8")
    again = kimt(*base_args(src, dst, users, tmp_path / "logs2"), "--target-auth", "master",
                 "--target-master-style", "separator", "--target-user", "admin",
                 "--target-pass-file", str(tmp_path / "admin.pass"), check_rc=0)
    assert "already there" in again.stdout
    assert f"Master user logging in as {ZOE}" in dst.log_text()
    for run in (proc, again):
        logs = report_of(run) + (run_dir_of(run) / "debug.log").read_text(encoding="utf-8")
        for secret in (ZOE_PASSWORD, ZOE_NEW_PASSWORD, "Ädmin-Heslo-3"):
            assert secret not in logs + run.stdout + run.stderr


def test_a_non_ascii_password_without_sasl_plain_is_a_clear_refusal(dovecot_factory, dst,
                                                                     tmp_path):
    src = dovecot_factory()
    src.add_user(USER, PASSWORD)
    src.add_user(ZOE, ZOE_PASSWORD)
    dst.add_user(ZOE, "Dst-Pw-2")
    seed(src)
    seed(src, ZOE)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD), (ZOE, ZOE_PASSWORD)])
    before = len(src.log_text())
    with NoPlainProxy(src.port) as proxy:
        args = base_args(src, dst, users, tmp_path / "logs")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        proc = kimt(*args, "--target-auth", "master", "--target-user", "admin",
                    "--target-pass-file", str(tmp_path / "logs" / "admin.pass"), check_rc=1)
    assert f"ok {USER}: done" in proc.stdout  # an ASCII password still goes as LOGIN
    assert_same_mail(src, dst, USER)
    assert (f"!! {ZOE}: failed" in proc.stdout and "the password has characters beyond "
            "ASCII (such as ë), which IMAP LOGIN can't carry, and the server does not offer "
            "SASL PLAIN (AUTH=PLAIN)" in proc.stdout)
    assert dst.messages(ZOE, "INBOX") == []
    assert f"user=<{ZOE}>" not in src.log_text()[before:]  # not tried: nothing sent
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    assert "Traceback" not in debug + proc.stderr and "UnicodeEncodeError" not in debug
    assert ZOE_PASSWORD not in debug + report_of(proc) + proc.stdout + proc.stderr


@pytest.fixture
def oauth():
    server = OAuthServer().start()
    yield server
    server.stop()


TOKEN_COMMAND = """\
import json, os, sys
email = sys.stdin.readline().strip()
assert email == os.environ["KIMT_OAUTH_EMAIL"]
tokens = json.load(open(sys.argv[1]))[os.environ["KIMT_OAUTH_SIDE"]]
if email not in tokens:
    sys.exit("no token for " + email)
print(tokens[email])
"""


def test_xoauth2_on_both_sides(dovecot_factory, oauth, tmp_path):
    conf_dir = tmp_path / "oauth"
    conf_dir.mkdir(mode=0o755)
    src = dovecot_factory(extra_config=oauth.dovecot_config(conf_dir))
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True,
                          extra_config=oauth.dovecot_config(conf_dir))
    anna = "anna@example.com"
    for server in (src, dst):
        server.add_user(USER, "password-not-used")
        server.add_user(anna, "password-not-used")
    seed(src)
    seed(src, anna, 1)

    # 1. Source tokens from the users file (password column); anna's is not valid.
    src_token = oauth.issue(USER)
    users = write_csv(tmp_path / "users.csv", [(USER, src_token), (anna, "tok-forged")])
    logs = tmp_path / "logs"
    first_args = base_args(src, dst, users, logs) + [
        "--source-auth", "xoauth2", "--target-auth", "master", "--target-user", "admin",
        "--target-pass-file", str(logs / "admin.pass")]
    first = kimt(*first_args, check_rc=1)
    assert_same_mail(src, dst, USER)
    assert (f"login failed for {anna} on 127.0.0.1:{src.port} (the old server): "
            "[AUTHENTICATIONFAILED]") in first.stdout
    assert oauth.calls >= 2  # Dovecot really asked the introspection endpoint

    # 2. Both sides from the token command, told which side asks; anna has no token.
    tokens = {"source": {USER: oauth.issue(USER)}, "destination": {USER: oauth.issue(USER)}}
    tokens_file = tmp_path / "tokens.json"
    tokens_file.write_text(json.dumps(tokens))
    script = tmp_path / "token.py"
    script.write_text(TOKEN_COMMAND)
    seed(src, USER, 1)  # something new to copy
    args = base_args(src, dst, users, tmp_path / "logs2") + [
        "--source-auth", "xoauth2", "--target-auth", "xoauth2",
        "--oauth-token-command", f"{sys.executable} {script} {tokens_file}"]
    proc = kimt(*args, check_rc=1)
    assert_same_mail(src, dst, USER)
    assert "jdoe@example.com: done — 2 copied, 4 already there" in proc.stdout
    assert f"user=<{USER}>, method=XOAUTH2" in dst.log_text()
    assert ("the token command gave no token for anna@example.com (exit code 1: no token "
            "for anna@example.com)") in proc.stdout
    for run in (first, proc):
        debug = (run_dir_of(run) / "debug.log").read_text()
        for token in [src_token, *tokens["source"].values(), *tokens["destination"].values()]:
            assert token not in debug and token not in report_of(run)
            assert token not in run.stdout + run.stderr
    # 3. `kimt check` takes the same token command for the source logins.
    check = kimt("check", "--users", str(users), "--source-host", f"127.0.0.1:{src.port}",
                 "--source-security", "none", "--source-auth", "xoauth2",
                 "--oauth-token-command", f"{sys.executable} {script} {tokens_file}",
                 "--no-estimate", check_rc=1)
    assert f"ok {USER}" in check.stdout
    assert f"!! {anna}" in check.stdout
