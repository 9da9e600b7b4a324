"""The Cyrus IMAP test rig itself works (tests/cyrus.py, the ``cyrus`` fixture)."""

from __future__ import annotations

import imaplib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cyrus import Cyrus, cyrus_available
from dovecot import make_message, parse_internaldate

USER = "jdoe@example.com"
PASSWORD = "cyrus-secret-1"
SUBJECT = "Příliš žluťoučký kůň"


def _raw_8bit(subject: str = SUBJECT) -> bytes:
    """A message whose Subject is raw UTF-8 (no RFC 2047), the body 8bit too."""
    return (f"From: Alice <alice@example.com>\r\nTo: {USER}\r\nSubject: {subject}\r\n"
            "Message-ID: <munge-1@kimt.test>\r\nDate: Wed, 01 Feb 2023 10:20:30 +0100\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nTělo zprávy.\r\n").encode()


def test_user_logs_in_with_its_password(cyrus: Cyrus):
    cyrus.add_user(USER, PASSWORD)
    m = imaplib.IMAP4(cyrus.host, cyrus.port, timeout=30)
    try:
        assert m.login(USER, PASSWORD)[0] == "OK"
        typ, data = m.list('""', '"*"')
        assert typ == "OK" and any(b'"/" INBOX' in d for d in data)
    finally:
        m.logout()

    m = imaplib.IMAP4(cyrus.host, cyrus.port, timeout=30)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            m.login(USER, PASSWORD + "-wrong")
    finally:
        m.logout()

    odd = "pässwörd with spaces "  # non-ASCII: AUTHENTICATE PLAIN
    cyrus.add_user("john.smith@example.org", odd)
    cyrus._logout(cyrus.connect("john.smith@example.org", auth="user"))


def test_admin_logs_in_for_a_user_with_plain_authzid(cyrus: Cyrus):
    cyrus.add_user(USER, PASSWORD)
    m = imaplib.IMAP4(cyrus.host, cyrus.port, timeout=30)
    try:
        cred = f"{USER}\0{cyrus.admin_user}\0{cyrus.admin_password}".encode()
        assert cred == b"jdoe@example.com\0admin\0adminpass"
        assert m.authenticate("PLAIN", lambda _challenge: cred)[0] == "OK"
        # the session is the user's: what it creates is in the user's INBOX tree
        assert m.create('"INBOX/Made by admin"')[0] == "OK"
    finally:
        m.logout()
    assert cyrus.folders(USER) == ["INBOX", "Made by admin"]

    m = imaplib.IMAP4(cyrus.host, cyrus.port, timeout=30)
    try:  # a plain user is no proxy server
        cyrus.add_user("mallory@example.com", "m-secret")
        cred = f"{USER}\0mallory@example.com\0m-secret".encode()
        with pytest.raises(imaplib.IMAP4.error):
            m.authenticate("PLAIN", lambda _challenge: cred)
    finally:
        m.logout()


def test_8bit_subject_is_munged_on_append(cyrus: Cyrus):
    cyrus.add_user(USER, PASSWORD)
    raw = _raw_8bit()
    uid = cyrus.append(USER, "INBOX", raw)
    [msg] = cyrus.messages(USER, "INBOX")
    assert msg["uid"] == uid
    stored = msg["raw"]
    assert stored != raw
    head, _, body = stored.partition(b"\r\n\r\n")
    subject = re.search(rb"^Subject: (.*)$", head, re.M).group(1).rstrip(b"\r")
    assert b"X" in subject and subject.isascii()
    # munge8bit: every 8-bit byte of the header became one "X"; the body is untouched
    assert subject == re.sub(rb"[\x80-\xff]", b"X", SUBJECT.encode("utf-8"))
    assert subject == b"PXXXXliXX XXluXXouXXkXX kXXXX"
    assert stored == re.sub(rb"[\x80-\xff]", b"X", raw.partition(b"\r\n\r\n")[0]) \
        + b"\r\n\r\n" + raw.partition(b"\r\n\r\n")[2]
    assert body == "Tělo zprávy.\r\n".encode()
    assert msg["size"] == len(raw) == len(stored)

    # RFC 2047 headers are 7-bit: stored exactly as sent
    clean = make_message(SUBJECT)
    uid2 = cyrus.append(USER, "INBOX", clean)
    assert {m["uid"]: m["raw"] for m in cyrus.messages(USER, "INBOX")}[uid2] == clean


def test_uidplus_appenduid_and_message_metadata(cyrus: Cyrus):
    cyrus.add_user(USER, PASSWORD)
    caps = cyrus.capabilities(USER)
    for cap in ("UIDPLUS", "MULTIAPPEND", "LITERAL+", "CONDSTORE", "SPECIAL-USE"):
        assert cap in caps
    cyrus.create_folder(USER, "Účty/Faktury 2023")
    assert cyrus.folders(USER) == ["INBOX", "Účty", "Účty/Faktury 2023"]

    raw = make_message("metadata")
    uid = cyrus.append(USER, "Účty/Faktury 2023", raw, flags=("\\Seen", "$Label1"),
                       internaldate="01-Feb-2023 10:20:30 +0100")
    assert uid == 1  # from APPENDUID
    uid2 = cyrus.append(USER, "Účty/Faktury 2023", raw, internaldate=1675243230)
    assert uid2 == 2
    m1, m2 = cyrus.messages(USER, "Účty/Faktury 2023")
    assert (m1["uid"], m2["uid"]) == (1, 2)
    assert m1["flags"] == ("$Label1", "\\Seen") and m2["flags"] == ()
    # Cyrus keeps the instant but answers in UTC, the day padded with a space
    assert m1["internaldate"] == " 1-Feb-2023 09:20:30 +0000" == m2["internaldate"]
    assert parse_internaldate(m1["internaldate"]) == 1675243230
    assert m1["raw"] == raw and m1["size"] == len(raw)


def _rig_child(out: Path) -> None:  # runs in a child process (see the test below)
    c = Cyrus().start()
    out.write_text(json.dumps({"pid": c._proc.pid, "port": c.port, "root": str(c.root)}))
    time.sleep(120)


@pytest.mark.skipif(cyrus_available() is not None, reason=f"Cyrus IMAP: {cyrus_available()}")
def test_a_killed_test_process_leaves_no_cyrus_behind(tmp_path: Path):
    """master runs as the cyrus user when we are root; the switch happens before
    PR_SET_PDEATHSIG is set, so the kernel still stops it when its parent dies."""
    out = tmp_path / "child.json"
    code = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "import test_cyrus_rig as t; t._rig_child(Path(sys.argv[2]))")
    child = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent),
                              str(out)])
    try:
        deadline = time.monotonic() + 30
        while not out.exists() or not out.read_text():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        info = json.loads(out.read_text())
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{info['pid']}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    alive = Path(f"/proc/{info['pid']}").exists()
    if alive:
        os.killpg(info["pid"], signal.SIGKILL)
    shutil.rmtree(info["root"], ignore_errors=True)
    assert not alive, "master survived its parent"
