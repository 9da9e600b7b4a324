"""Folders of one mailbox copied side by side (`--connections-per-mailbox`), on Dovecot.

The fast policy tests (test_copy_policy.py) cover the lanes against the fake;
these check the same against real servers: every folder copied once, the
Report in the source's folder order, and a server that allows fewer
connections than asked for gets fewer, without failing the mailbox.
"""

from __future__ import annotations

import re

from dovecot import make_message
from helpers import (
    PASSWORD,
    USER,
    assert_same_mail,
    kimt,
    migrate_args,
    report_of,
    run_dir_of,
    write_csv,
)

FOLDERS = ["INBOX", "Sent", "Archive/2022", "Archive/2023", "Work", "Lists/dev"]


def seed(src) -> int:
    count = 0
    for n, folder in enumerate(FOLDERS):
        if folder != "INBOX":
            src.create_folder(USER, folder)
        # big enough that the lanes overlap: each logs in while the others copy
        messages = [make_message(f"{folder} {i}", body=f"{folder} body {i}\r\n" * 2000)
                    for i in range(20 + 10 * n)]
        src.append_many(USER, folder, messages)
        count += len(messages)
    return count


def test_folders_side_by_side_each_copied_once_in_the_report_order(dovecot_factory,
                                                                   tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    count = seed(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--connections-per-mailbox", "4")

    first = kimt(*args, check_rc=0)
    assert f"{count} copied, 0 already there, 0 skipped" in first.stdout
    assert_same_mail(src, dst, USER)
    # The biggest folders start first, yet the Report lists them as the source does
    # (Dovecot: INBOX, then by name).
    folders = re.findall(r"^    '([^']+)': \d+ on the source", report_of(first), re.M)
    assert folders[0] == "INBOX" and folders[1:] == sorted(folders[1:]), folders
    assert set(FOLDERS) <= set(folders)

    again = kimt(*args, check_rc=0)
    assert f"0 copied, {count} already there, 0 skipped" in again.stdout


def test_a_server_that_allows_fewer_connections_gets_fewer(dovecot_factory, tmp_path):
    # One connection per user and address: the main pair holds it from the start, so
    # the three more lanes asked for are refused ("Maximum number of connections"),
    # the mailbox goes on with one. (With a limit of 2, Dovecot counts logins that
    # arrive together late and may let them all in: not a test that can be trusted.)
    src = dovecot_factory(max_userip_connections=1)
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    count = seed(src)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--connections-per-mailbox", "4")

    first = kimt(*args, check_rc=0)
    assert f"{count} copied, 0 already there, 0 skipped" in first.stdout
    assert_same_mail(src, dst, USER)
    assert "failed" not in report_of(first)
    debug = (run_dir_of(first) / "debug.log").read_text(encoding="utf-8")
    assert debug.count(" not opened (") == 3
    assert "Maximum number of connections" in debug
