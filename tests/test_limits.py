"""The run's own limits against real servers (issue 12, part 2's proactive side).

A rate is shared by every worker process: a small `--max-messages-per-second` makes a
small run take at least what it says (a lower bound only: a loaded machine is only ever
slower). `--max-connections` holds for all mailboxes and lanes together, counted by a
proxy that sees each login and logout; a server that refuses a connection over its own
limit lowers the cap for the rest of the run, and the Report's header says so.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dovecot import make_message
from helpers import (
    PASSWORD,
    ROOT,
    USER,
    assert_same_mail,
    descendants,
    kimt,
    migrate_args,
    report_of,
    write_csv,
)
from tcp_proxy import CommandProxy, SlowProxy


class CountingProxy(CommandProxy):
    """Passes everything through; counts the logged-in connections open at once (a login
    counts from the command's line, until the LOGOUT line: both seen before the server
    answers, so before KIMT takes or gives back a permit around them)."""

    _LOGIN = re.compile(rb"^\S+ (AUTHENTICATE|LOGIN) ", re.I)
    _LOGOUT = re.compile(rb"^\S+ LOGOUT\r\n", re.I)

    def __init__(self, target_port: int):
        super().__init__(target_port, name="counting-proxy")
        self.open = self.peak = self.logins = 0
        self._count = threading.Lock()

    def answer(self, line: bytes) -> tuple[bytes, bool] | None:
        with self._count:
            if self._LOGIN.match(line):
                self.open += 1
                self.logins += 1
                self.peak = max(self.peak, self.open)
            elif self._LOGOUT.match(line):
                self.open -= 1
        return None


def seed(server, user: str, folders: int = 3, per_folder: int = 5) -> None:
    for n in range(folders):
        folder = "INBOX" if n == 0 else f"Folder {n}"
        if n:
            server.create_folder(user, folder)
        server.append_many(user, folder, [make_message(f"{user} {folder} {i}")
                                          for i in range(per_folder)])


def test_a_message_rate_holds_for_the_whole_run(dovecot_factory, tmp_path):
    """40 messages at 10 a second, two mailboxes side by side: at least 3 s (4 s of
    messages, less the one second a bucket may save up), whichever process copies."""
    src, dst = dovecot_factory(), dovecot_factory()
    users = [(f"user{i}@example.com", f"pw-{i}") for i in range(2)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {n}") for n in range(20)])
    csv = write_csv(tmp_path / "users.csv", users)
    started = time.monotonic()
    proc = kimt(*migrate_args(src, dst, csv, tmp_path / "logs", "--workers", "2",
                              "--max-messages-per-second", "10"), check_rc=0)
    took = time.monotonic() - started
    assert took >= 2.5, took
    for user, _ in users:
        assert_same_mail(src, dst, user)
    assert "the run's own speed limit of 10 messages/s" in proc.stdout
    report = report_of(proc)
    assert "Limits: 10 messages/s" in report
    assert "Waited for the run's own speed limit" in report
    assert "Waited for the servers" not in report  # the admin's choice, not a server's


def test_the_connection_cap_holds_for_all_mailboxes_and_lanes(dovecot_factory, tmp_path):
    src, dst = dovecot_factory(), dovecot_factory()
    users = [(f"user{i}@example.com", f"pw-{i}") for i in range(3)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        seed(src, user, per_folder=20)  # mail enough for more than one pair nearby
    csv = write_csv(tmp_path / "users.csv", users)
    with CountingProxy(src.port) as proxy:
        args = migrate_args(src, dst, csv, tmp_path / "logs", "--workers", "3",
                            "--connections-per-mailbox", "3", "--max-connections", "2",
                            "--retries", "0")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        kimt(*args, check_rc=0)
    assert proxy.logins >= 3  # every mailbox logged in
    assert 1 <= proxy.peak <= 2, proxy.peak
    for user, _ in users:
        assert_same_mail(src, dst, user)


def test_a_server_that_refuses_a_connection_lowers_the_cap(dovecot_factory, tmp_path):
    """Dovecot takes one connection of a user: KIMT's cap of two meets its limit at the
    second lane, lowers itself to one for the rest of the run, and says so. (With a limit
    of two and a third lane, Dovecot counts logins that arrive together late and may let
    them all in: the refusal would not be certain.)"""
    src = dovecot_factory(max_userip_connections=1)
    dst = dovecot_factory()
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    seed(src, USER, folders=4, per_folder=15)  # mail enough for a second pair nearby
    csv = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    proc = kimt(*migrate_args(src, dst, csv, tmp_path / "logs",
                              "--connections-per-mailbox", "2", "--max-connections", "2",
                              "--retries", "0"), check_rc=0)
    assert_same_mail(src, dst, USER)
    assert "the source refused a connection over its limit; at most 1" in proc.stdout
    report = report_of(proc)
    header = report.split("\n===", 1)[0]
    assert ("Limits lowered during the run: connections to the source lowered from 2 to 1: "
            "the server refused connections over its own limit") in header
    assert "failed" not in report


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_a_killed_worker_gives_its_connection_permit_back(dovecot_factory, tmp_path):
    """--max-connections 1 and one worker: SIGKILL the worker while its mailbox holds the
    only permit. The engine fails that mailbox, starts another worker and frees the dead
    one's permit, so the next mailboxes copy (before, they waited for it until Stop)."""
    src, dst = dovecot_factory(), dovecot_factory()
    users = [(f"user{i}@example.com", f"pw-{i}") for i in range(3)]
    for user, password in users:
        src.add_user(user, password)
        dst.add_user(user, "x")
        src.append_many(user, "INBOX", [make_message(f"{user} {n}", body="x" * 2000)
                                        for n in range(150)])
    csv = write_csv(tmp_path / "users.csv", users)
    first = users[0][0]
    with SlowProxy(src.port, delay=0.02) as proxy:  # a mailbox lasts seconds, not a blink
        args = migrate_args(src, dst, csv, tmp_path / "logs", "--workers", "1",
                            "--max-connections", "1", "--connections-per-mailbox", "1",
                            "--retries", "0", "--batch-mb", "0.02")
        args[args.index("--source-host") + 1] = f"127.0.0.1:{proxy.port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "kimt", *args], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while not dst.messages(first, "INBOX"):  # copying: the permit is held
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the copy never started"
                time.sleep(0.05)
            # The worker: a child of the fork server, which is the main process's child.
            workers = [p for p in descendants(proc.pid) if _parent(p) != proc.pid]
            assert len(workers) == 1, workers
            os.kill(workers[0], signal.SIGKILL)
            out, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1, out
    assert f"{first}: failed" in out and "worker process stopped unexpectedly" in out
    for user, _ in users[1:]:
        assert_same_mail(src, dst, user)
    again = kimt(*args[:args.index("--source-host") + 1], f"{src.host}:{src.port}",
                 *args[args.index("--source-host") + 2:], check_rc=0)
    assert "0 copied" in again.stdout
    for user, _ in users:
        assert_same_mail(src, dst, user)
