"""The run's own limits against real servers (issue 12, part 2's proactive side).

A rate is shared by every worker process: a small `--max-messages-per-second` makes a
small run take at least what it says (a lower bound only: a loaded machine is only ever
slower). `--max-connections` holds for all mailboxes and lanes together, counted by a
proxy that sees each login and logout; a server that refuses a connection over its own
limit lowers the cap for the rest of the run, and the Report's header says so.
"""

from __future__ import annotations

import re
import threading
import time

from dovecot import make_message
from helpers import (
    PASSWORD,
    USER,
    assert_same_mail,
    kimt,
    migrate_args,
    report_of,
    write_csv,
)
from tcp_proxy import CommandProxy


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
        seed(src, user)
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
    seed(src, USER, folders=4)
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
