"""Servers that ask KIMT to slow down (issue 12, part 2): wait, go on, fail nobody.

Exchange Online's "Request is throttled. Suggested Backoff Time" and Gmail's
"BYE Session expired" come from `throttle_proxy` before a real Dovecot;
Dovecot's own connection limit (`mail_max_userip_connections`) is real.
Each run uses `--retries 0`: a wait the server asked for is not a broken
connection, so it must not use up the reconnects.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import pytest
from dovecot import make_message
from helpers import (
    PASSWORD,
    ROOT,
    USER,
    assert_same_mail,
    kimt,
    migrate_args,
    report_of,
    run_dir_of,
    write_csv,
)
from tcp_proxy import SlowProxy
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
    assert "Waited for the servers (they asked to slow down, or slowed down)" in report
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
        # mail enough for the extra lanes to open on loopback (mailbox.SHARED_MESSAGES)
        src.append_many(user, "INBOX", [make_message(f"{user} {n}") for n in range(45)])
        src.create_folder(user, "Sent")
        src.append_many(user, "Sent", [make_message(f"{user} sent {n}") for n in range(15)])
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


def test_a_server_slowing_to_a_trickle_is_waited_for(dovecot_factory, tmp_path):
    """The source starts answering every chunk half a second late mid-copy, and says
    nothing. With the rule made quick for the test (KIMT_SLOWDOWN_RULE: 5 times slower,
    steps of 0.4 s, two in a row, 1 s wait), KIMT waits, reconnects and says so; once the
    server is quick again the mailbox completes, identical, nothing failed or retried."""
    src, dst = dovecot_factory(), dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append_many(USER, "INBOX", [make_message(f"m{i}", body=f"line {i}\r\n" * 100)
                                    for i in range(400)])
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    with SlowProxy(src.port) as proxy:
        args = migrate_args(src, dst, users, tmp_path / "logs", "--retries", "0",
                            "--connections-per-mailbox", "1", "--batch-mb", "0.005")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1",
                   KIMT_SLOWDOWN_RULE="factor=5,seconds=0.4,steps=2,wait=1")
        proc = subprocess.Popen([sys.executable, "-m", "kimt", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 120
            while len(dst.messages(USER, "INBOX")) < 30:  # copying at its usual pace
                assert proc.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "the copy never started"
                time.sleep(0.02)
            proxy.delay = 0.5  # every answer half a second late from now on
            deadline = time.monotonic() + 120
            while not any("the server is slowing down" in line for line in lines):
                assert proc.poll() is None, "".join(lines)
                assert time.monotonic() < deadline, "the slowdown was never noticed"
                time.sleep(0.05)
            proxy.delay = 0.0
            assert proc.wait(timeout=240) == 0, "".join(lines)
        finally:
            if proc.poll() is None:
                proc.kill()
            reader.join(timeout=10)
    out = "".join(lines)
    assert "waiting 1 s: the server is slowing down (folder 'INBOX'; the source's answers " \
           "slowed to a trickle (" in out, out
    assert_same_mail(src, dst, USER)
    report = report_of(out)
    assert "Waited for the servers (they asked to slow down, or slowed down)" in report
    assert "failed" not in report and "Reconnects" not in report
