"""Odd and huge messages (issue 6, point 10): each copied byte-exact or refused and listed.

"Byte-exact" is judged by what the servers serve: FETCH BODY[] on the
destination equals FETCH BODY[] on the source (Dovecot itself serves bare LF
as CRLF, so that is the only change a message may show).
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from dovecot import make_message
from fake_imap import FakeImap
from helpers import assert_same_mail, kimt, migrate_args, worker_peaks_mb, write_csv

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"

ODD = {
    "bare LF": b"From: a@example.com\nTo: b@example.com\nSubject: bare LF\n"
               b"Date: Mon, 01 May 2023 10:00:00 +0000\nMessage-ID: <lf@x>\n\none\ntwo\n",
    "NUL bytes": b"From: a@example.com\r\nSubject: NUL\r\nMessage-ID: <nul@x>\r\n\r\n"
                 b"before\x00after\r\n\x00\r\n",
    "8-bit UTF-8 headers": "From: Jiří Dvořák <j@example.com>\r\nSubject: Účty a faktury\r\n"
                           "Message-ID: <u8@x>\r\n\r\nDobrý den\r\n".encode(),
    "8-bit Latin-2 headers": "From: Jiří <j@example.com>\r\nSubject: Účty\r\n"
                             "Message-ID: <l2@x>\r\n\r\nbody\r\n".encode("iso-8859-2"),
    "lines over 998": b"From: a@example.com\r\nSubject: " + b"S" * 2000 + b"\r\n"
                      b"Message-ID: <long@x>\r\n\r\n" + b"x" * 50_000 + b"\r\n",
    "no headers at all": b"\r\njust a body\r\n",
}


def test_odd_messages_are_copied_exactly_and_once(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    for raw in ODD.values():
        src.append(USER, "INBOX", raw)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    first = kimt(*args, check_rc=0)
    assert f"{len(ODD)} copied, 0 already there, 0 skipped" in first.stdout
    assert_same_mail(src, dst, USER)
    again = kimt(*args, check_rc=0)
    assert f"0 copied, {len(ODD)} already there" in again.stdout


def test_raw_bytes_from_a_source_that_does_not_normalise(dovecot_factory, tmp_path):
    """A source serving bare LF and NUL as stored: the destination gets them, once."""
    dst = dovecot_factory()
    dst.add_user(USER, "x")
    raws = [ODD["bare LF"], ODD["NUL bytes"]]
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    for attempt in ("first", "re-run"):
        with FakeImap({USER: raws}) as fake:
            source = SimpleNamespace(host="127.0.0.1", port=fake.port)
            proc = kimt(*migrate_args(source, dst, users, tmp_path / "logs"), check_rc=0)
        assert ("2 copied" if attempt == "first" else "0 copied, 2 already there") \
            in proc.stdout, attempt
    # What the destination serves is what it serves for the same bytes appended directly.
    dst.create_folder(USER, "Oracle")
    for raw in raws:
        dst.append(USER, "Oracle", raw)
    assert sorted(dst.bodies(USER, "INBOX").values()) == sorted(
        dst.bodies(USER, "Oracle").values())


@pytest.mark.slow
def test_hundred_megabyte_message_with_bounded_memory(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    big = make_message("Scan of the archive", size=100_000_000)
    sha = hashlib.sha256(big).hexdigest()
    src.append(USER, "INBOX", big, ["\\Seen"], "10-Oct-2020 10:10:10 +0200")
    del big
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    bodies = dst.bodies(USER, "INBOX")
    assert [hashlib.sha256(b).hexdigest() for b in bodies.values()] == [sha]
    del bodies
    peak = max(worker_peaks_mb(proc))
    print(f"worker peak memory for a 100 MB message: {peak} MB")
    # The body is held once as fetched (bench/big_message_bench.py prints the figure).
    assert peak < 200, f"peak {peak} MB for a 100 MB message"
