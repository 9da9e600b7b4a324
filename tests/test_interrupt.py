"""Killed, stopped, big: a run that ends early is finished by the next, with no duplicate."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from dovecot import make_message
from helpers import (
    ROOT,
    alive,
    assert_same_mail,
    descendants,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    worker_peaks_mb,
    write_csv,
)

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"


def inbox_count(server, user=USER) -> int:
    m = server.connect(user)
    try:
        typ, data = m.status("INBOX", "(MESSAGES)")
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        m.logout()


def sessions_open(server, user=USER) -> int:
    """The user's IMAP sessions the server has not ended yet, from its log."""
    log = server.log_text()
    logins = len(re.findall(rf"imap-login: Info: Login: user=<{re.escape(user)}>", log))
    ended = len(re.findall(rf"imap\({re.escape(user)}\)<[^>]*><[^>]*>: Info: Disconnected", log))
    return logins - ended


def start_kimt(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    return subprocess.Popen([sys.executable, "-m", "kimt", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env,
                            stdin=subprocess.DEVNULL)


def wait_for(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def ctrl_c(args: list[str], started) -> tuple[subprocess.Popen, str]:
    """`kimt migrate args`, Ctrl+C once `started()` (copying has begun): the process and
    what it printed."""
    proc = start_kimt(args)
    try:
        wait_for(started, 60, "copying to start")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, out


@pytest.fixture
def big_pair(dovecot_factory):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append_many(USER, "INBOX", [
        (make_message(f"Message {i}", body=f"small message number {i}\r\n" * 3),
         ["\\Seen"] if i % 3 else [], f"{1 + i % 28:02d}-Mar-2022 10:{i % 60:02d}:00 +0100")
        for i in range(5000)])
    src.create_folder(USER, "Archive/2020")
    src.append_many(USER, "Archive/2020", [make_message(f"old {i}") for i in range(300)])
    return src, dst


@pytest.mark.slow
def test_sigkill_mid_folder_then_rerun(big_pair, tmp_path):
    src, dst = big_pair
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--batch-mb", "0.05")
    proc = start_kimt(args)
    try:
        wait_for(lambda: descendants(proc.pid), 20, "worker processes")
        wait_for(lambda: inbox_count(dst) >= 300, 60, "copying to start")
        workers = descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    # No orphan goes on copying: every KIMT process exits. The destination may still be
    # storing what was already in its socket (LITERAL+ APPENDs): once each of its
    # sessions for the user has ended, nothing more can arrive, and the count stays.
    wait_for(lambda: not any(alive(p) for p in workers), 10, "workers to exit")
    wait_for(lambda: sessions_open(dst) == 0, 30, "the destination's sessions to end")
    copied_when_killed = inbox_count(dst)
    time.sleep(1.0)
    assert inbox_count(dst) == copied_when_killed < 5000

    again = kimt(*args, check_rc=0)
    assert "already there" in again.stdout
    assert_same_mail(src, dst, USER)
    assert sum(mailbox_content(dst, USER)["INBOX"].values()) == 5000


@pytest.mark.slow
def test_ctrl_c_stops_after_the_batch_and_rerun_finishes(big_pair, tmp_path):
    src, dst = big_pair
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--batch-mb", "0.05")
    proc, out = ctrl_c(args, lambda: inbox_count(dst) >= 200)
    assert proc.returncode == 130, out
    assert "Stopping after the batch in flight" in out
    assert "Run the same command again to finish" in out
    assert inbox_count(dst) < 5000
    assert "stopped" in report_of(out)
    kimt(*args, check_rc=0)
    assert_same_mail(src, dst, USER)


@pytest.mark.slow
def test_thirty_megabyte_message_with_bounded_memory(dovecot_factory, tmp_path):
    src = dovecot_factory()
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.append(USER, "INBOX", make_message("Big scan", size=30_000_000), ["\\Seen"],
               "10-Oct-2020 10:10:10 +0200")
    src.append(USER, "INBOX", make_message("small"))
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs"), check_rc=0)
    assert_same_mail(src, dst, USER)
    peak = worker_peaks_mb(proc)
    assert peak, "the worker logs its peak memory"
    assert max(peak) < 250, f"peak {max(peak)} MB for a 30 MB message"


def test_ctrl_c_result_counts_the_whole_mailbox(dovecot_factory, tmp_path):
    """Stopped half-way, a mailbox's verdict counts against all its messages (its folders'
    STATUS at the start), not those listed before the stop; one never reached says "not
    started", not "0 of 0"; the totals say which mailboxes were not counted. The run is
    held to 20 messages a second, so the Ctrl+C certainly lands mid-mailbox."""
    src, dst = dovecot_factory(), dovecot_factory()
    other = "anna@example.com"
    for user in (USER, other):
        src.add_user(user, PASSWORD)
        dst.add_user(user, "x")
    src.append_many(USER, "INBOX", [make_message(f"in {i}") for i in range(150)])
    src.create_folder(USER, "Lists/dev.team")
    src.append_many(USER, "Lists/dev.team", [make_message(f"dev {i}") for i in range(54)])
    src.append_many(other, "INBOX", [make_message(f"anna {i}") for i in range(5)])
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD), (other, PASSWORD)])
    args = migrate_args(src, dst, users, tmp_path / "logs", "--workers", "1",
                        "--batch-mb", "0.005", "--max-messages-per-second", "20")
    proc, out = ctrl_c(args, lambda: inbox_count(dst) >= 20)
    assert proc.returncode == 130, out
    copied = inbox_count(dst) + len(dst.messages(USER, "Lists/dev.team"))
    assert 20 <= copied < 204
    said = f"{USER}: stopped: {copied} of 204 copied. Run again to finish"
    assert said in out
    assert f"{other}: not started. Run again to copy it." in out
    assert "0 of 0" not in out
    report = report_of(out)
    assert said in report
    assert "Messages on the source: 204 (1 mailbox not started, not counted)" in report
