"""Migrating into a real Cyrus IMAP 3.6 with Debian's defaults (issue 9).

Cyrus stores raw 8-bit header bytes as 'X' (munge8bit), so KIMT's key of
such a message no longer finds its copy: the journal must. Three runs, then
three more with the journal deleted before each: never a duplicate, every
message there (the munged ones reported as stored differently, once), and
runs after the first copy nothing.
"""

from __future__ import annotations

from collections import Counter

import pytest
from dovecot import make_message
from helpers import kimt, report_of, write_csv

pytestmark = pytest.mark.slow

USERS = {"jdoe@example.com": "Src-Secret-7x!", "anna.nova@example.com": "Anna-Pass-9q?"}
FOLDERS = ["INBOX", "Sent", "Účty/Faktury 2023", "Tom & Jerry", "Archive/2022", "Archive/2023"]


def czech(n: int, folder: str, with_id: bool) -> bytes:
    head = (f"From: Jiří Dvořák <jiri{n}@example.com>\r\nTo: you@example.com\r\n"
            f"Subject: Příliš žluťoučký kůň {n}\r\n"
            f"Date: Mon, {n % 28 + 1:02d} May 2023 10:{n % 60:02d}:00 +0200\r\n")
    if with_id:
        head += f"Message-ID: <cz{n}.{abs(hash(folder))}@example.com>\r\n"
    return (head + "\r\nDobrý den, posílám fakturu.\r\n").encode()


def seed(src, user: str) -> int:
    count = 0
    for folder in FOLDERS[1:]:
        src.create_folder(user, folder)
    for k, folder in enumerate(FOLDERS):
        batch = [make_message(f"{folder} {i}", body=f"body {i}\r\n") for i in range(8)]
        batch += [czech(k * 10 + i, folder, with_id=i % 2 == 0) for i in range(4)]
        src.append_many(user, folder, [(raw, ["\\Seen"] if i % 3 else [],
                                        "02-Mar-2023 08:00:00 +0100")
                                       for i, raw in enumerate(batch)])
        count += len(batch)
    return count


def test_three_runs_into_cyrus_never_duplicate(dovecot_factory, cyrus, tmp_path):
    src = dovecot_factory()
    for user, password in USERS.items():
        src.add_user(user, password)
        cyrus.add_user(user, "dst-" + password)
    total = sum(seed(src, user) for user in USERS)
    munged = 4 * len(FOLDERS) * len(USERS)
    users = write_csv(tmp_path / "users.csv", list(USERS.items()))
    (tmp_path / "admin.pass").write_text(cyrus.admin_password + "\n")
    state = tmp_path / "state"
    args = ["migrate", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
            "--source-security", "none", "--target-host", f"{cyrus.host}:{cyrus.port}",
            "--target-security", "none", "--target-auth", "master", "--target-user",
            cyrus.admin_user, "--target-pass-file", str(tmp_path / "admin.pass"),
            "--log-dir", str(tmp_path / "logs"), "--state-dir", str(state)]

    def on_cyrus() -> Counter:
        found: Counter = Counter()
        for user in USERS:
            for folder in FOLDERS:
                found[(user, folder)] = len(cyrus.messages(user, folder))
        return found

    expected = Counter({(u, f): 12 for u in USERS for f in FOLDERS})

    first = kimt(*args, check_rc=0)
    assert f"Copied: {total} " in first.stdout
    assert f"{munged} messages were stored differently by the destination" in first.stdout
    report = report_of(first)
    assert report.count("stored differently by the destination (header bytes)") == munged
    assert on_cyrus() == expected
    stored = {u: cyrus.messages(u, "INBOX") for u in USERS}
    assert any(b"XX" in m["raw"] for m in stored["jdoe@example.com"])  # Cyrus did munge

    for run in (2, 3):
        again = kimt(*args, check_rc=0)
        assert "Copied: 0 " in again.stdout, f"run {run}\n{again.stdout}"
        assert "stored differently by the destination (header bytes)" not in report_of(again)
        assert on_cyrus() == expected

    for run in (4, 5, 6):  # the journal deleted before each
        for f in state.iterdir():
            f.unlink()
        again = kimt(*args, check_rc=0)
        assert "Copied: 0 " in again.stdout, f"run {run}\n{again.stdout}"
        assert f"{munged} messages were matched loosely" in again.stdout
        assert on_cyrus() == expected


def test_a_separator_master_login_refused_by_cyrus_suggests_authzid(dovecot_factory, cyrus,
                                                                    tmp_path):
    src = dovecot_factory()
    user, password = next(iter(USERS.items()))
    src.add_user(user, password)
    cyrus.add_user(user, "dst-" + password)
    users = write_csv(tmp_path / "users.csv", [(user, password)])
    (tmp_path / "admin.pass").write_text(cyrus.admin_password + "\n")
    proc = kimt("migrate", "--users", str(users), "--source-host", f"{src.host}:{src.port}",
                "--source-security", "none", "--target-host", f"{cyrus.host}:{cyrus.port}",
                "--target-security", "none", "--target-auth", "master", "--target-user",
                cyrus.admin_user, "--target-pass-file", str(tmp_path / "admin.pass"),
                "--target-master-style", "separator", "--log-dir", str(tmp_path / "logs"),
                check_rc=3)
    assert "(the new server)" in proc.stderr
    assert "choose that master style instead of 'user*admin'" in proc.stderr
