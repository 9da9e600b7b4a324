"""Hostile or broken server answers (issue 6, point 9), from `fake_imap.FakeImap`.

The fake plays the source; the destination is a real Dovecot. Whatever the
fake sends, KIMT must end that one mailbox with a clear reason (or, for
answers it may ignore, copy it byte-exact), never hang and never crash; the
other mailbox of the run is copied as usual.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from dovecot import make_message
from fake_imap import FakeImap
from helpers import kimt, migrate_args, report_of, write_csv

USER, USER2 = "jdoe@example.com", "anna@example.com"


MESSAGES = {user: [make_message(f"{user} message {i}", body=f"body {i}\r\n" * 20)
                   for i in range(5)] for user in (USER, USER2)}


def messages(user: str) -> list[bytes]:
    return MESSAGES[user]


def run(dovecot_factory, tmp_path, mode: str, **fake_options):
    dst = dovecot_factory()
    for user in (USER, USER2):
        dst.add_user(user, "x")
    fake = FakeImap({USER: messages(USER), USER2: messages(USER2)}, mode, hostile_user=USER,
                    **fake_options)
    users = write_csv(tmp_path / "users.csv", [(USER, "pw-jdoe"), (USER2, "pw-anna")])
    source = SimpleNamespace(host="127.0.0.1", port=fake.port)
    started = time.monotonic()
    try:
        proc = kimt(*migrate_args(source, dst, users, tmp_path / "logs", "--retries", "1",
                                  "--timeout", "2", "--workers", "1"), timeout=90)
    finally:
        fake.close()
    seconds = time.monotonic() - started
    assert "Traceback" not in proc.stdout + proc.stderr
    return dst, fake, proc, seconds


def copied_exactly(dst, user: str) -> bool:
    return sorted(dst.bodies(user, "INBOX").values()) == sorted(messages(user))


@pytest.mark.parametrize("mode,reason", [
    ("truncated-literal", "connection lost in folder 'INBOX'"),
    ("literal-too-short", "could not understand in folder 'INBOX'"),
    ("literal-too-long", "stopped answering in folder 'INBOX'"),
    ("bye", "the server ended the session in folder 'INBOX': the server is going down"),
    ("bad-size", "could not understand"),
])
def test_broken_answer_fails_that_mailbox_only(dovecot_factory, tmp_path, mode, reason):
    dst, fake, proc, seconds = run(dovecot_factory, tmp_path, mode)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert fake.fired >= 1
    report = report_of(proc)
    section = report.split(f"=== {USER}")[1].split("===")[0]
    print(section)
    assert section.startswith(" — failed"), section
    assert reason in section
    assert f"=== {USER2} — done" in report and copied_exactly(dst, USER2)
    assert seconds < 60


def test_unknown_untagged_responses_are_ignored(dovecot_factory, tmp_path):
    dst, fake, proc, _ = run(dovecot_factory, tmp_path, "unknown-untagged")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fake.fired > 3
    assert copied_exactly(dst, USER) and copied_exactly(dst, USER2)


def test_a_long_response_line_is_read(dovecot_factory, tmp_path):
    """A 1 MB line (a SEARCH answer of a folder of ~150 000 messages is that long) is fine."""
    dst, fake, proc, _ = run(dovecot_factory, tmp_path, "long-line", line_bytes=1_100_000)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fake.fired >= 1 and copied_exactly(dst, USER)


def test_an_endless_response_line_is_a_protocol_error(dovecot_factory, tmp_path):
    dst, fake, proc, seconds = run(dovecot_factory, tmp_path, "long-line",
                                   line_bytes=40 * 2**20)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    report = report_of(proc)
    section = report.split(f"=== {USER}")[1].split("===")[0]
    assert section.startswith(" — failed") and "answer line longer than 32 MB" in section
    assert copied_exactly(dst, USER2)
