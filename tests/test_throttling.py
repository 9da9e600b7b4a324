"""Servers that ask KIMT to slow down (issue 12, part 2): wait, go on, fail nobody.

Exchange Online's "Request is throttled. Suggested Backoff Time" and Gmail's
"BYE Session expired" come from `throttle_proxy` before a real Dovecot;
Dovecot's own connection limit (`mail_max_userip_connections`) is real.
Each run uses `--retries 0`: a wait the server asked for is not a broken
connection, so it must not use up the reconnects.
"""

from __future__ import annotations

import re

import pytest
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
from throttle_proxy import EXCHANGE, GMAIL_BYE, ThrottleProxy

BODY_FETCH = rb"UID FETCH .*BODY\.PEEK\[\]"


def seed(src, count: int = 60) -> None:
    src.append_many(USER, "INBOX", [make_message(f"m{i}", body=f"line {i}\r\n" * 200)
                                    for i in range(count)])
    src.create_folder(USER, "Archive")
    src.append_many(USER, "Archive", [make_message(f"a{i}") for i in range(10)])


@pytest.mark.parametrize("mode,times", [(EXCHANGE, 2), (GMAIL_BYE, 1)])
def test_a_server_that_asks_to_slow_down_gets_its_wait(dovecot_factory, tmp_path, mode,
                                                       times):
    src, dst = dovecot_factory(), dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    seed(src)
    proxy = ThrottleProxy(src.port, mode, BODY_FETCH, times=times, backoff_ms=1500)
    try:
        users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
        args = migrate_args(src, dst, users, tmp_path / "logs", "--retries", "0",
                            "--connections-per-mailbox", "1", "--batch-mb", "0.1")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        proc = kimt(*args, check_rc=0)
    finally:
        proxy.close()
    assert proxy.fired == times
    assert_same_mail(src, dst, USER)
    assert "waiting " in proc.stdout and "the server asked to slow down" in proc.stdout
    report = report_of(proc)
    assert "Waited for the servers (they asked to slow down)" in report
    assert "Reconnects" not in report
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    waits = [float(w) for w in re.findall(r"kimt\.mailbox .*waiting (\d+) s: the server",
                                          debug)]
    assert len(waits) == times
    if mode == EXCHANGE:  # the wait it suggested (1.5 s), give or take the jitter
        assert all(1 <= w <= 2 for w in waits), waits


def test_a_connection_limit_makes_mailboxes_wait_their_turn(dovecot_factory, tmp_path):
    """Dovecot allows one connection per user: the preflight's and the extra lanes' go
    over it now and then; every mailbox still completes, none fails."""
    src = dovecot_factory(max_userip_connections=1)
    dst = dovecot_factory()
    users = [(f"user{i}@example.com", f"pw-{i}") for i in range(6)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {n}") for n in range(15)])
        src.create_folder(user, "Sent")
        src.append_many(user, "Sent", [make_message(f"{user} sent {n}") for n in range(5)])
    csv = write_csv(tmp_path / "users.csv", users)
    proc = kimt(*migrate_args(src, dst, csv, tmp_path / "logs", "--workers", "6",
                              "--connections-per-mailbox", "3", "--retries", "0"),
                check_rc=0)
    report = report_of(proc)
    assert "failed" not in report
    debug = (run_dir_of(proc) / "debug.log").read_text(encoding="utf-8")
    assert " not opened (" in debug and "Maximum number of connections" in debug
    for user, _ in users:
        assert_same_mail(src, dst, user)
