"""Destinations that store something else than what KIMT sent (issue 9).

The destination is a real Dovecot behind `MungeProxy`, which turns 8-bit
header bytes into 'X' on APPEND as Cyrus does (test_cyrus.py runs Cyrus
itself), or a real Dovecot that replaces a far-future INTERNALDATE with the
time of arrival. Each run must leave no duplicate, report the altered
messages once, and finish the other folders.
"""

from __future__ import annotations

import os
import time

import pytest
from dovecot import DEFAULT_SPECIAL_USE, make_message
from helpers import kimt, mailbox_content, migrate_args, report_of, run_dir_of, write_csv
from munge_proxy import MungeProxy

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"


def raw_8bit(subject: str, msgid: str | None, n: int) -> bytes:
    head = (f"From: Jiří Dvořák <jiri@example.com>\r\nTo: bob@example.com\r\n"
            f"Subject: {subject}\r\nDate: Mon, 0{n % 9 + 1} May 2023 10:00:00 +0200\r\n")
    if msgid:
        head += f"Message-ID: <{msgid}>\r\n"
    return (head + "\r\nDobrý den\r\n").encode()


@pytest.fixture
def munged(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    for folder in ("Účty", "Archive/2023"):
        src.create_folder(USER, folder)
    for folder in ("INBOX", "Účty", "Archive/2023"):
        src.append_many(USER, folder, [make_message(f"{folder} plain {i}") for i in range(6)]
                        + [raw_8bit(f"Účet č. {i}", f"u{i}.{folder}@x" if i % 2 else None, i)
                           for i in range(4)])
    proxy = MungeProxy(dst.port)
    yield src, dst, proxy
    proxy.close()


def test_munged_headers_no_duplicate_and_reported_once(munged, tmp_path):
    src, dst, proxy = munged
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    state = tmp_path / "state"
    args = migrate_args(src, dst, users, tmp_path / "logs", "--state-dir", str(state))
    args[args.index("--target-port") + 1] = str(proxy.port)

    first = kimt(*args, check_rc=0)
    assert proxy.munged == 12
    assert "30 copied, 0 already there, 0 skipped" in first.stdout
    assert "12 messages were stored differently by the destination" in first.stdout
    report = report_of(first)
    assert "Stored differently by the destination (they are there, and are not copied " \
           "again) (12):" in report
    assert report.count("stored differently by the destination (header bytes)") == 12
    assert "'Archive/2023'" in report and "Verdict: all 30 messages are on the destination " \
                                          "(12 of them stored differently" in report

    def counts():
        return {f: sum(c.values()) for f, c in mailbox_content(dst, USER).items()
                if f in ("INBOX", "Účty", "Archive/2023")}

    assert counts() == {"INBOX": 10, "Účty": 10, "Archive/2023": 10}

    second = kimt(*args, check_rc=0)
    assert "0 copied, 30 already there" in second.stdout
    assert "stored differently by the destination (header bytes)" not in report_of(second)
    assert "(12 of them stored differently by the destination, reported when they were " \
           "copied)" in report_of(second)
    assert counts() == {"INBOX": 10, "Účty": 10, "Archive/2023": 10}

    for f in state.iterdir():  # deleting the journal is safe
        f.unlink()
    third = kimt(*args, check_rc=0)
    assert "0 copied, 30 already there" in third.stdout
    assert "12 messages were matched loosely" in third.stdout
    assert report_of(third).count("matched loosely to destination UID") == 12
    assert counts() == {"INBOX": 10, "Účty": 10, "Archive/2023": 10}

    fourth = kimt(*args, check_rc=0)  # the loose pairs are in the journal now
    assert "0 copied, 30 already there" in fourth.stdout
    assert "matched loosely" not in fourth.stdout
    assert counts() == {"INBOX": 10, "Účty": 10, "Archive/2023": 10}

    verify_args = migrate_args(src, dst, users, tmp_path / "logs", "--state-dir", str(state),
                               command="verify")
    verify_args[verify_args.index("--target-port") + 1] = str(proxy.port)
    verify = kimt(*verify_args, check_rc=0)
    assert "Missing on the destination: 0" in verify.stdout
    assert "12 messages were stored differently by the destination" in verify.stdout


def test_a_date_the_destination_did_not_keep_is_reported(dovecot_factory, tmp_path):
    """Dovecot stores a far-future INTERNALDATE as the time of arrival."""
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("today"))
    new = next(p for p in src.home_root.rglob("new") if p.parent.name == "Maildir")
    planted = new / f"{int(time.time())}.kimt-test.host"
    planted.write_bytes(make_message("From the future", msgid="future@x"))
    os.utime(planted, (2117000000, 2117000000))  # 2037
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs")
    first = kimt(*args, check_rc=0)
    report = report_of(first)
    assert "\"From the future\"" in report
    assert "stored differently by the destination (date)" in report
    again = kimt(*args, check_rc=0)
    assert "0 copied, 2 already there" in again.stdout
    assert sum(mailbox_content(dst, USER)["INBOX"].values()) == 2


@pytest.mark.parametrize("munge", [False, True])
def test_without_uidplus_appended_messages_are_found_by_searching(munged, tmp_path, munge):
    """A destination that does not answer APPENDUID: KIMT finds each batch it appended
    above the highest UID it knew, in batches of a few messages."""
    src, dst, proxy = munged
    proxy.munge, proxy.hide_uidplus = munge, True
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--batch-mb", "0.001")
    args[args.index("--target-port") + 1] = str(proxy.port)
    first = kimt(*args, check_rc=0)
    assert "30 copied, 0 already there, 0 skipped" in first.stdout
    debug = (run_dir_of(first) / "debug.log").read_text(encoding="utf-8")
    assert debug.count("no APPENDUID; looking for") >= 6  # several batches per folder
    if munge:
        assert "12 messages were stored differently by the destination" in first.stdout
    else:
        assert "stored differently" not in first.stdout
    again = kimt(*args, check_rc=0)
    assert "0 copied, 30 already there" in again.stdout
    assert "matched loosely" not in again.stdout  # the journal knew every message
    assert {f: sum(c.values()) for f, c in mailbox_content(dst, USER).items()
            if f in ("INBOX", "Účty", "Archive/2023")} == {"INBOX": 10, "Účty": 10,
                                                            "Archive/2023": 10}
