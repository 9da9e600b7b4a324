"""`kimt check` and kimt.core.survey against a real Dovecot: logins, estimates, read-only."""

from __future__ import annotations

from dovecot import make_message
from helpers import kimt, write_csv

from kimt.core.accounts import Account
from kimt.core.servers import ServerConfig
from kimt.core.survey import check_and_estimate, check_login, estimate, try_connection

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"
USER2, PASSWORD2 = "anna@example.com", "Anna-Pass-9q?"


def seed(src) -> int:
    """Two folders with messages for USER; returns the total size in bytes."""
    src.add_user(USER, PASSWORD)
    src.add_user(USER2, PASSWORD2)
    src.create_folder(USER, "Projects/2024")
    raws = [make_message(f"m{i}", body=f"body {i}\r\n" * (i + 1)) for i in range(5)]
    for raw in raws[:3]:
        src.append(USER, "INBOX", raw, ["\\Seen"])
    for raw in raws[3:]:
        src.append(USER, "Projects/2024", raw)
    return sum(len(r) for r in raws)


def plain(src, **kw) -> ServerConfig:
    return ServerConfig(src.host, src.port, "none", role="source", **kw)


def test_survey_counts_messages_and_leaves_the_source_untouched(src):
    nbytes = seed(src)
    before = src.snapshot(USER)
    good = Account(USER, PASSWORD)
    found = estimate(plain(src), good)
    assert (found.folders, found.messages, found.bytes, found.error) == (3, 5, nbytes, "")
    # "Projects" is a \Noselect-free parent here, so it is a folder of its own (3 in all)
    assert "5 messages" in found.describe()
    assert check_login(plain(src), good).ok
    bad = check_login(plain(src), Account(USER2, "wrong"))
    assert not bad.ok and "login failed for anna@example.com" in bad.reason
    assert "wrong" not in bad.reason
    login, none = check_and_estimate(plain(src), Account(USER2, "wrong"))
    assert not login.ok and not none.ok
    assert src.snapshot(USER) == before  # flags (\Seen, \Recent), UIDs, modseqs unchanged


def test_estimate_without_status_size_examines_and_adds_sizes(dovecot_factory):
    poor = dovecot_factory(extra_config="imap_capability = IMAP4rev1 LITERAL+ NAMESPACE\n")
    nbytes = seed(poor)
    before = poor.snapshot(USER)
    found = estimate(plain(poor), Account(USER, PASSWORD))
    assert (found.folders, found.messages, found.bytes, found.error) == (3, 5, nbytes, "")
    assert poor.snapshot(USER) == before


def test_connection_words_and_untrusted_certificate(src):
    ok = try_connection(plain(src))
    assert ok.ok and ok.text.startswith(f"Connected to {src.host}:{src.port}, without encryption")
    # Dovecot names LITERAL+ in its greeting, MULTIAPPEND only after login: nothing said
    # to be lacking that the server has
    assert "LITERAL+" in ok.offered and "lacks" not in ok.text
    assert "LITERAL+" not in ok.text  # jargon for most admins: the CLI and Debug log say it
    tls = ServerConfig(src.host, src.ssl_port, "ssl", role="source")
    refused = try_connection(tls)
    assert not refused.ok and refused.untrusted_fingerprint == src.fingerprint
    assert src.fingerprint in refused.text
    trusted = try_connection(tls.with_(fingerprint=src.fingerprint))
    assert trusted.ok and "certificate trusted by its fingerprint" in trusted.text
    from dovecot import free_port
    closed = try_connection(ServerConfig("127.0.0.1", free_port(), "none", role="source"))
    assert not closed.ok and "Could not connect to 127.0.0.1:" in closed.text
    assert "Connection refused" in closed.text
    assert "check the port" in closed.text and "firewall" in closed.text


def test_kimt_check_prints_each_user_and_the_estimate(src, tmp_path):
    seed(src)
    users = write_csv(tmp_path / "users.csv", [
        (USER, PASSWORD, "John Doe"), ("not-an-address", "x", "Bad Line"),
        (USER2, "wrong-password", "Anna")])
    proc = kimt("check", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
                "--source-security", "none", check_rc=1)
    out = proc.stdout
    assert f"ok {USER}: 3 folders, 5 messages" in out
    assert f"!! {USER2}: failed — login failed for {USER2}" in out
    assert "1 of 2 logins work." in out
    assert "line 2" in proc.stderr  # the bad line, with its number
    assert "wrong-password" not in out + proc.stderr

    tls = ["--users", str(users), "--only", USER, "--source-host",
           f"{src.host}:{src.ssl_port}", "--no-estimate"]
    refused = kimt("check", *tls, check_rc=3)
    assert f"--source-fingerprint {src.fingerprint}" in refused.stderr
    trusted = kimt("check", *tls, "--source-fingerprint", src.fingerprint, check_rc=1)
    assert f"ok {USER}\n" in trusted.stdout  # exit 1 only for the bad line in the file


def test_admin_login_says_which_part_failed(dovecot_factory):
    """Test connection's admin check: a wrong admin password, an unknown user, a server
    that takes only SASL PLAIN (no `user*admin`) told apart, on a real Dovecot."""
    from kimt.core.survey import check_admin

    # no master separator: only SASL PLAIN with an authorization identity works
    dst = dovecot_factory(extra_config="auth_master_user_separator =\n")
    dst.add_user(USER, "Dst-Own-1x")
    admin = ServerConfig(dst.host, dst.port, "none", role="destination", auth="master",
                         master_user="admin", master_password="adminpass",
                         master_style="separator")
    works = check_admin(admin, [USER])
    assert works.ok and works.master_style == "authzid"
    assert works.text == (f'The admin login "admin" works (acting for {USER}); the server '
                          "takes SASL PLAIN with the user's name, not a user*admin login.")
    probed = check_admin(admin.with_(master_style="authzid"), [])  # no users known yet
    assert probed.ok and probed.master_style == "authzid"
    assert "took the admin's name and password" in probed.text
    wrong = check_admin(admin.with_(master_password="not-the-password"), [USER])
    assert not wrong.ok and wrong.master_style is None
    assert wrong.text.startswith('The server refused the admin login "admin": the admin\'s '
                                 "name or password is wrong")
    assert "[AUTHENTICATIONFAILED]" in wrong.text and "not-the-password" not in wrong.text
    wrong_probe = check_admin(admin.with_(master_password="not-the-password"), [])
    assert not wrong_probe.ok and "name or password is wrong" in wrong_probe.text
    unknown = check_admin(admin.with_(master_style="authzid"), ["nobody@example.com"])
    assert not unknown.ok and unknown.master_style == "authzid"
    assert unknown.text.startswith('The admin login "admin" works, but the server does not '
                                   "know nobody@example.com")
    from dovecot import free_port
    gone = check_admin(admin.with_(port=free_port()), [USER])
    assert not gone.ok and "Connection refused" in gone.text and "firewall" in gone.text
