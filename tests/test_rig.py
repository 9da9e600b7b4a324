"""The Dovecot test rig itself works (tests/dovecot.py, tests/conftest.py)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import imaplib
import json
import os
import socket
import ssl
import time

import pytest
from dovecot import (
    PUBLIC_FOLDER,
    AppendError,
    Dovecot,
    RigError,
    format_internaldate,
    free_port,
    make_message,
    mutf7_decode,
    mutf7_encode,
    parse_internaldate,
)

USER = "jdoe@example.com"
PASSWORD = "src-secret-1"
LAYOUTS = [
    pytest.param({"separator": "/", "prefix": ""}, id="slash"),
    pytest.param({"separator": ".", "prefix": "INBOX."}, id="dot-INBOX"),
]
ODD_FOLDERS = ["Účty/Faktury 2023", "Tom & Jerry", "a/b/c"]


def _caps(m: imaplib.IMAP4) -> set[str]:
    return set(m.capabilities)


# ---------------------------------------------------------------- pure helpers
def test_mutf7_known_values():
    assert mutf7_encode("Účty") == "&ANoBDQ-ty"
    assert mutf7_encode("Tom & Jerry") == "Tom &- Jerry"
    assert mutf7_encode("日本語") == "&ZeVnLIqe-"
    for s in ["Účty/Faktury 2023", "Tom & Jerry", "~peter/mail/台北/日本語", "&&", "a-b", ""]:
        assert mutf7_decode(mutf7_encode(s)) == s


def test_internaldate_helpers():
    assert parse_internaldate("01-Feb-2023 10:20:30 +0100") == 1675243230
    assert parse_internaldate(' 1-Feb-2023 09:20:30 +0000') == 1675243230
    assert parse_internaldate(format_internaldate(1675243230, tz_minutes=-420)) == 1675243230
    assert format_internaldate(1675243230, 60) == "01-Feb-2023 10:20:30 +0100"


def test_make_message_is_valid_crlf_rfc5322():
    raw = make_message("Příliš žluťoučký kůň", body="řádek 1\nřádek 2\n",
                       msgid="abc@kimt.test", date=1675243230,
                       extra_headers=[("X-Test", "1"), "X-Other: two"])
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert raw.split(b"\r\n\r\n", 1)[0].isascii()  # headers are 7-bit (RFC 2047 subject)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Příliš žluťoučký kůň"
    assert msg["Message-ID"] == "<abc@kimt.test>"
    assert msg["X-Test"] == "1" and msg["X-Other"] == "two"
    assert msg.get_content().replace("\r\n", "\n") == "řádek 1\nřádek 2\n"
    assert email.utils.parsedate_to_datetime(msg["Date"]).timestamp() == 1675243230
    a, b = make_message("same"), make_message("same")
    assert a != b  # fresh Message-IDs
    for size in (5_000, 100_001, 2_000_000):
        big = make_message("big", size=size)
        assert len(big) == size
        assert b"\n" not in big.replace(b"\r\n", b"")


def test_free_port_is_free_and_unique():
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


# ---------------------------------------------------------------- servers
def test_both_instances_start_and_accept_logins(src, dst):
    assert src.port != dst.port and src.ssl_port != dst.ssl_port
    assert src.root != dst.root
    for d in (src, dst):
        assert d.host == "127.0.0.1" and d.running
        assert d.startup_seconds is not None and d.startup_seconds < 5
        d.add_user(USER, PASSWORD)  # added while running: usable at once
        for kw in ({}, {"auth": "separator"}, {"auth": "user"},
                   {"auth": "user", "password": PASSWORD}):
            m = d.connect(USER, **kw)
            assert m.state == "AUTH"
            assert {"MULTIAPPEND", "LITERAL+", "UIDPLUS", "SPECIAL-USE", "CONDSTORE",
                    "NAMESPACE", "ID"} <= _caps(m)
            m.logout()
    # the instances are independent: a user exists only where it was added
    src.add_user("only-src@example.com", "x")
    src.connect("only-src@example.com").logout()
    with pytest.raises(imaplib.IMAP4.error):
        dst.connect("only-src@example.com")


def test_raw_master_logins(src):
    """The exact wire forms KIMT uses: SASL PLAIN authzid and LOGIN user*master."""
    src.add_user(USER, PASSWORD)
    m = imaplib.IMAP4(src.host, src.port)
    typ, _ = m.authenticate("PLAIN", lambda _: f"{USER}\0admin\0adminpass".encode())
    assert typ == "OK"
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK"
    m.logout()
    m = imaplib.IMAP4(src.host, src.port)
    assert m.login(f"{USER}*admin", "adminpass")[0] == "OK"
    m.logout()


def test_bad_credentials_are_refused(src):
    src.add_user(USER, PASSWORD)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        src.connect(USER, auth="user", password="wrong")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHORIZATIONFAILED"):
        src.connect("nobody@example.com")  # master login, unknown user
    m = imaplib.IMAP4(src.host, src.port)
    with pytest.raises(imaplib.IMAP4.error):
        m.authenticate("PLAIN", lambda _: f"{USER}\0admin\0wrong".encode())
    m.shutdown()
    # failures do not slow down later logins (no auth penalty)
    t0 = time.monotonic()
    src.connect(USER).logout()
    assert time.monotonic() - t0 < 1.5


def test_password_change_and_special_characters(dovecot_factory):
    d = dovecot_factory()
    odd = "p:ss wörd \"quoted\" \\ ;end "
    d.add_user("Anna.Novak+tag@Example.COM", odd)
    d.connect("anna.novak+tag@example.com", auth="user", password=odd).logout()
    d.connect("ANNA.Novak+tag@example.com", auth="user", password=odd).logout()
    d.add_user(USER, "first")
    d.connect(USER, auth="user", password="first").logout()
    d.add_user(USER, "second")
    d.connect(USER, auth="user", password="second").logout()
    with pytest.raises(imaplib.IMAP4.error):
        d.connect(USER, auth="user", password="first")
    with pytest.raises(ValueError):
        d.add_user("bad user@example.com", "x")


def test_tls_listener_presents_the_fingerprinted_cert(src):
    ctx = ssl.create_default_context(cafile=str(src.cert_path))
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python >= 3.13 does by default
    for server_hostname in ("localhost", "127.0.0.1"):
        with socket.create_connection((src.host, src.ssl_port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
            assert tls.recv(100).startswith(b"* OK")
    digest = hashlib.sha256(der).hexdigest().upper()
    assert src.fingerprint == "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, 64, 2))
    assert src.cert_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    src.add_user(USER, PASSWORD)
    m = src.connect(USER, tls="ssl")
    assert m.select("INBOX")[0] == "OK"
    m.logout()


def test_each_instance_has_its_own_cert(src, dst):
    assert src.fingerprint != dst.fingerprint
    ctx = ssl.create_default_context(cafile=str(dst.cert_path))
    with socket.create_connection((src.host, src.ssl_port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(raw, server_hostname="localhost")


def test_starttls_on_plain_port(src):
    src.add_user(USER, PASSWORD)
    m = imaplib.IMAP4(src.host, src.port)
    assert "STARTTLS" in m.capabilities
    assert "LOGINDISABLED" not in m.capabilities  # plaintext auth allowed on the plain port
    m.starttls(ssl_context=src.ssl_context())
    der = m.sock.getpeercert(binary_form=True)
    digest = hashlib.sha256(der).hexdigest().upper()
    assert src.fingerprint.replace(":", "").endswith(digest)
    assert m.login(USER, PASSWORD)[0] == "OK"
    m.logout()
    src.connect(USER, tls="starttls").logout()


def test_append_and_messages_round_trip(src):
    src.add_user(USER, PASSWORD)
    src.create_folder(USER, "Archive/2023")
    raw = make_message("Round trip", body="hello\r\n")
    uid = src.append(USER, "Archive/2023", raw, flags=("\\Seen", "$Forwarded"),
                     internaldate="01-Feb-2023 10:20:30 +0100")
    assert uid == 1
    src.append(USER, "Archive/2023", make_message("second"), ["\\Flagged"], 1600000000)
    msgs = src.messages(USER, "Archive/2023")
    assert msgs[0] == {"uid": 1, "flags": ["$Forwarded", "\\Seen"],
                       "internaldate": 1675243230, "size": len(raw),
                       "sha256": hashlib.sha256(raw).hexdigest()}
    assert msgs[1]["flags"] == ["\\Flagged"] and msgs[1]["internaldate"] == 1600000000
    assert src.bodies(USER, "Archive/2023")[1] == raw
    # maildir keeps the instant, not the zone given at APPEND (it is the file's mtime)
    m = src.connect(USER)
    m.select('"Archive/2023"', readonly=True)
    typ, data = m.uid("FETCH", "1", "(INTERNALDATE)")
    assert b'INTERNALDATE "01-Feb-2023 10:20:30 +0100"' not in data[0]
    m.logout()
    # reading did not set \Seen on the second message
    assert src.messages(USER, "Archive/2023")[1]["flags"] == ["\\Flagged"]


def test_append_many_is_fast_and_ordered(src):
    src.add_user(USER, PASSWORD)
    msgs = [(make_message(f"bulk {i}", size=1500), ("\\Seen",) if i % 2 else (),
             1600000000 + i) for i in range(2000)]
    msgs.append(make_message("plain bytes item"))
    msgs.append((make_message("two-tuple item"), ["\\Answered"]))
    t0 = time.monotonic()
    uids = src.append_many(USER, "INBOX", msgs)
    elapsed = time.monotonic() - t0
    assert uids == list(range(1, 2003))
    assert elapsed < 20
    got = src.messages(USER, "INBOX")
    assert len(got) == 2002 and got[-1]["flags"] == ["\\Answered"]
    assert got[7]["flags"] == ["\\Seen"] and got[8]["flags"] == []
    assert got[1999]["internaldate"] == 1600001999
    assert [g["sha256"] for g in got[:2000]] == [hashlib.sha256(r).hexdigest()
                                                for r, _f, _d in msgs[:2000]]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_odd_folder_names_in_both_layouts(dovecot_factory, layout):
    d = dovecot_factory(**layout)
    d.add_user(USER, PASSWORD)
    for name in ODD_FOLDERS:
        d.create_folder(USER, name)
        d.append(USER, name, make_message(f"in {name}"), ["\\Seen"])
    d.create_folder(USER, "Hidden one", subscribe=False)
    folders = d.folders(USER)
    for name in ODD_FOLDERS + ["Účty", "a", "a/b"]:
        assert folders[name]["subscribed"] is True, name
    assert folders["Hidden one"]["subscribed"] is False
    assert "INBOX" in folders
    for name in ODD_FOLDERS:
        assert len(d.messages(USER, name)) == 1
    # what the server itself calls them
    sep, prefix = layout["separator"], layout["prefix"]
    m = d.connect(USER)
    typ, data = m.list('""', '"*"')
    listing = b"\n".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data).decode()
    typ, ns = m.namespace()
    m.logout()
    assert f'(("{prefix}" "{sep}"))' in ns[0].decode()
    assert f"{prefix}&ANoBDQ-ty{sep}Faktury 2023" in listing
    assert f"{prefix}Tom &- Jerry" in listing
    assert f"{prefix}a{sep}b{sep}c" in listing
    assert d.server_name("Účty/Faktury 2023") == f"{prefix}&ANoBDQ-ty{sep}Faktury 2023"
    assert d.logical_name(f"{prefix}&ANoBDQ-ty{sep}Faktury 2023") == "Účty/Faktury 2023"


def test_dot_layout_name_rules(dovecot_factory):
    """What a '.'-separator, INBOX.-prefix (Courier-like) server does with odd names."""
    d = dovecot_factory(separator=".", prefix="INBOX.")
    d.add_user(USER, PASSWORD)
    with pytest.raises(ValueError):
        d.server_name("v1.2")  # a logical name part can't hold the server separator
    m = d.connect(USER)
    assert m._simple_command("CREATE", '"INBOX.v1.2"')[0] == "OK"   # '.' = hierarchy
    typ, data = m._simple_command("CREATE", '"INBOX.x/y"')              # '/' refused
    assert typ == "NO" and b"'/'" in data[0]
    m.logout()
    folders = d.folders(USER)
    assert "v1/2" in folders and "\\Noselect" in folders["v1"]["flags"]
    assert "INBOX" in folders and "\\Noselect" not in folders["INBOX"]["flags"]


def test_special_use_flags_in_list(src, dst):
    for d in (src, dst):
        d.add_user(USER, PASSWORD)
    flags = {"Sent": "\\Sent", "Drafts": "\\Drafts", "Trash": "\\Trash", "Junk": "\\Junk"}
    got = dst.folders(USER)  # auto_create_special: they exist and are subscribed
    for name, flag in flags.items():
        assert flag in got[name]["flags"] and got[name]["subscribed"]
    assert set(src.folders(USER)) == {"INBOX"}  # src: flags configured, nothing created
    src.create_folder(USER, "Sent")
    assert "\\Sent" in src.folders(USER)["Sent"]["flags"]
    m = src.connect(USER)
    typ, data = m._simple_command("LIST", '(SPECIAL-USE)', '""', '"*"')
    m.logout()
    assert typ == "OK"


def test_special_use_in_dot_layout_with_unicode_names(dovecot_factory):
    d = dovecot_factory(separator=".", prefix="INBOX.", auto_create_special=True,
                        special_use={"Odeslaná pošta": "\\Sent", "Archiv/2023": "\\Archive"})
    d.add_user(USER, PASSWORD)
    got = d.folders(USER)
    assert "\\Sent" in got["Odeslaná pošta"]["flags"]
    assert "\\Archive" in got["Archiv/2023"]["flags"]


def test_no_special_use_capability_without_special_folders(dovecot_factory):
    d = dovecot_factory()
    d.add_user(USER, PASSWORD)
    m = d.connect(USER)
    assert "SPECIAL-USE" not in _caps(m)  # Dovecot advertises it only when configured
    m.logout()


def test_quota_max_mail_size_refuses_big_append(dovecot_factory):
    d = dovecot_factory(quota_max_mail_size="1M")
    d.add_user(USER, PASSWORD)
    d.append(USER, "INBOX", make_message("fits", size=900_000))
    with pytest.raises(AppendError) as e:
        d.append(USER, "INBOX", make_message("too big", size=2_000_000))
    assert e.value.typ == "NO" and "[LIMIT]" in e.value.response
    with pytest.raises(AppendError, match=r"\[LIMIT\]"):
        d.append_many(USER, "INBOX", [make_message("too big", size=2_000_000)])
    assert len(d.messages(USER, "INBOX")) == 1


def test_quota_storage_refuses_when_full(dovecot_factory):
    d = dovecot_factory(quota_storage="2M")
    d.add_user(USER, PASSWORD)
    chunk = make_message("chunk", size=600_000)
    with pytest.raises(AppendError) as e:
        for _ in range(5):
            d.append(USER, "INBOX", chunk)
    assert "[OVERQUOTA]" in e.value.response
    assert len(d.messages(USER, "INBOX")) == 3
    m = d.connect(USER)
    typ, data = m.getquotaroot("INBOX")
    m.logout()
    assert typ == "OK" and b"STORAGE" in data[1][0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_public_namespace_is_listed(dovecot_factory, layout):
    d = dovecot_factory(public_namespace=True, **layout)
    d.add_user(USER, PASSWORD)
    pub = "Public" + layout["separator"]
    ns = d.namespace(USER)
    assert ns.endswith(f'(("{pub}" "{layout["separator"]}"))')  # the shared namespace
    folders = d.folders(USER)
    assert f"Public/{PUBLIC_FOLDER}" in folders
    assert "\\Noselect" in folders["Public"]["flags"]
    assert d.server_name(f"Public/{PUBLIC_FOLDER}") == f"{pub}{PUBLIC_FOLDER}"
    d.append(USER, f"Public/{PUBLIC_FOLDER}", make_message("to everyone"))
    d.add_user("other@example.com", "x")
    assert len(d.messages("other@example.com", f"Public/{PUBLIC_FOLDER}")) == 1


def _seed(d: Dovecot, user: str = USER) -> None:
    d.create_folder(user, "Účty/Faktury 2023")
    d.create_folder(user, "Tom & Jerry", subscribe=False)
    d.append(user, "INBOX", make_message("one"), ["\\Seen", "$Forwarded"],
             "01-Feb-2023 10:20:30 +0100")
    d.append(user, "INBOX", make_message("two"))  # \Recent, unseen
    d.append_many(user, "Účty/Faktury 2023",
                  [(make_message(f"f{i}"), ["\\Answered"], 1600000000 + i) for i in range(5)])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_snapshot_is_stable_and_read_only(dovecot_factory, layout):
    d = dovecot_factory(special_use={"Sent": "\\Sent"}, auto_create_special=True, **layout)
    d.add_user(USER, PASSWORD)
    _seed(d)
    before = d.snapshot(USER, hash=True)
    json.loads(json.dumps(before))  # JSON-able
    assert before["subscriptions"] == ["Sent", "Účty", "Účty/Faktury 2023"]
    inbox = before["folders"]["INBOX"]
    assert inbox["messages"] == 2 and inbox["uidnext"] == 3 and inbox["uidvalidity"] > 0
    assert inbox["highestmodseq"] is not None
    assert inbox["mails"][0]["flags"] == ["$Forwarded", "\\Seen"]
    # reading in every way the rig offers changes nothing
    d.folders(USER)
    d.messages(USER, "INBOX")
    d.bodies(USER, "Účty/Faktury 2023")
    d.snapshot(USER)
    assert d.snapshot(USER, hash=True) == before
    # ... and a real change is seen
    m = d.connect(USER)
    m.select("INBOX")
    m.uid("STORE", "2", "+FLAGS", "(\\Flagged)")
    m.logout()
    after = d.snapshot(USER, hash=True)
    assert after != before
    assert after["folders"]["INBOX"]["highestmodseq"] > inbox["highestmodseq"]


def test_restart_keeps_ports_cert_and_data(src):
    src.add_user(USER, PASSWORD)
    _seed(src)
    before = src.snapshot(USER, hash=True)
    ports, fp, root = (src.port, src.ssl_port), src.fingerprint, src.root
    src.restart()
    assert (src.port, src.ssl_port) == ports and src.fingerprint == fp and src.root == root
    assert src.snapshot(USER, hash=True) == before
    src.stop()
    assert not src.running
    with pytest.raises(OSError):
        src.connect(USER, timeout=5)
    src.start()
    assert src.snapshot(USER, hash=True) == before


def test_users_file_format(src, tmp_path):
    src.add_user(USER, PASSWORD)
    src.add_user("anna@example.com", "p w:2")
    path = src.users_file(tmp_path / "users.tsv")
    assert path.read_text() == f"{USER}\t{PASSWORD}\nanna@example.com\tp w:2\n"


def test_context_manager_cleans_up():
    with Dovecot() as d:
        d.add_user(USER, PASSWORD)
        d.connect(USER).logout()
        root, pid = d.root, d._proc.pid
        assert "Master user logging in as jdoe@example.com" in d.log_text()
    assert not root.exists()
    assert _live_in_group(pid) == []  # the whole process group is gone (zombies aside)


def _live_in_group(pgid: int) -> list[str]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[2] == str(pgid) and fields[0] != "Z":
                out.append(stat)
    return out


def test_start_failure_is_reported(dovecot_factory):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RigError, match="Address already in use"):
            dovecot_factory(port=busy.getsockname()[1])


def test_dovecot_quirks_kimt_must_live_with(src):
    """Documented behaviour of Dovecot 2.3 that KIMT's byte-exact copying meets."""
    src.add_user(USER, PASSWORD)
    cases = {
        b"Subject: lf\n\nbare LF\n": b"Subject: lf\r\n\r\nbare LF\r\n",   # LF -> CRLF
        b"Subject: nul\r\n\r\na\0b\r\n": b"Subject: nul\r\n\r\na\x80b\r\n",  # NUL -> 0x80
        b"Subject: cr\r\n\r\nbare\rCR\r\n": None,                       # bare CR kept
        b"Subject: 8bit \xff\r\n\r\n\x80\r\n": None,                    # 8-bit kept
        b"no header at all": None,
    }
    for raw, expected in cases.items():
        uid = src.append(USER, "INBOX", raw)
        assert src.bodies(USER, "INBOX")[uid] == (expected or raw)
    with pytest.raises(AppendError, match="zero byte"):
        src.append(USER, "INBOX", b"")
    # '~' at the start and maildir's reserved names are refused in the '/' layout
    m = src.connect(USER)
    for bad in ("~home", "new", "a/cur"):
        assert m._simple_command("CREATE", f'"{bad}"')[0] == "NO"
    # CREATE-SPECIAL-USE is not offered, a USE list is accepted but ignored
    assert "CREATE-SPECIAL-USE" not in _caps(m)
    assert m._simple_command("CREATE", '"Archive"', "(USE (\\Archive))")[0] == "OK"
    m.logout()
    assert src.folders(USER)["Archive"]["flags"] == ["\\HasNoChildren"]


def test_restart_from_a_short_lived_thread_keeps_running(src):
    """A server (re)started from a worker thread must outlive that thread."""
    import threading

    src.add_user(USER, PASSWORD)
    t = threading.Thread(target=src.restart)
    t.start()
    t.join()
    time.sleep(0.3)
    assert src.running
    src.connect(USER).logout()


@pytest.mark.slow
def test_server_goes_away_when_its_process_is_killed():
    """No server is left behind when a test run is killed (takes ~6 s: Dovecot's
    login process lingers 5 s after the master got SIGTERM)."""
    import subprocess
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys, time; sys.path.insert(0, {here!r}); import dovecot; "
            "d = dovecot.Dovecot().start(); print(d._proc.pid, d.root, flush=True); "
            "time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid, root = p.stdout.readline().split()
    p.kill()
    p.wait()
    deadline = time.monotonic() + 15
    while _live_in_group(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert _live_in_group(int(pid)) == []
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
