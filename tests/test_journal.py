"""The migration journal against real Dovecot pairs: re-runs, Finish migration, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dovecot import make_message
from helpers import (
    PASSWORD,
    ROOT,
    USER,
    alive,
    descendants,
    expunge,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    store_flags,
    write_csv,
)


def seed(src, count: int, start: int = 0, folder: str = "INBOX") -> list[int]:
    return src.append_many(USER, folder, [
        (make_message(f"Message {i}", body=f"body {i}\r\n"), [], "01-Feb-2023 10:20:30 +0100")
        for i in range(start, start + count)])


def journal_args(src, dst, tmp_path) -> list[str]:
    """`kimt migrate` of USER with the journal in tmp_path/logs/state."""
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    return migrate_args(src, dst, users, tmp_path / "logs", "--state-dir",
                        str(tmp_path / "logs" / "state"))


def journal_files(tmp_path):
    return list((tmp_path / "logs" / "state").glob("journal-*.sqlite3"))


def test_finish_migration_copies_new_mail_and_flags_three_way(pair, tmp_path):
    src, dst = pair
    src_uids = seed(src, 200)
    src.create_folder(USER, "Archive")
    seed(src, 30, 1000, "Archive")
    args = journal_args(src, dst, tmp_path)
    kimt(*args, check_rc=0)
    assert len(journal_files(tmp_path)) == 1
    dst_by_subject = {m["sha256"]: m["uid"] for m in dst.messages(USER, "INBOX")}
    src_by_uid = {m["uid"]: m["sha256"] for m in src.messages(USER, "INBOX")}

    # After the cut-over: 50 new on the old server, flags changed on 100 there (10 of
    # which the user also changed on the new server), 5 deleted on the old server.
    seed(src, 50, 200)
    changed = src_uids[:100]
    store_flags(src, USER, "INBOX", changed, "\\Flagged")
    user_changed = [dst_by_subject[src_by_uid[u]] for u in changed[:10]]
    store_flags(dst, USER, "INBOX", user_changed, "$Important")
    expunge(src, USER, "INBOX", src_uids[150:155])

    second = kimt(*args, check_rc=0)
    assert ("Since the last run: 50 new messages copied, flags changed on 90 (10 left as "
            "the user changed them on the new server), 5 deleted on the old server left on "
            "the new one.") in second.stdout, second.stdout
    report = report_of(second)
    assert "Deleted on the old server since the last run, left on the new one: 5" in report
    assert "  Deleted on the old server since the last run, left on the new one (5):\n" \
           "    'INBOX' uid 151, " in report  # each listed, with its date and subject
    assert "Folders: 2 (1 unchanged since the last run)" in report

    on_dst = {m["uid"]: m["flags"] for m in dst.messages(USER, "INBOX")}
    assert len(on_dst) == 250  # 200 + 50 new; the 5 deleted on the source stay
    for u in changed[10:]:
        assert "\\Flagged" in on_dst[dst_by_subject[src_by_uid[u]]]
    for u in user_changed:
        assert on_dst[u] == ["$Important"]  # the user's change on the new server won
    assert sum(1 for f in on_dst.values() if "\\Flagged" in f) == 90

    third = kimt(*args, check_rc=0)
    assert "Since the last run: 0 new messages copied.\n" in third.stdout  # nothing else
    assert "Folders: 2 (2 unchanged since the last run)" in report_of(third)


def test_deleting_the_journal_is_safe(pair, tmp_path):
    src, dst = pair
    seed(src, 40)
    args = journal_args(src, dst, tmp_path)
    kimt(*args, check_rc=0)
    for f in (tmp_path / "logs" / "state").iterdir():
        f.unlink()
    again = kimt(*args, check_rc=0)
    assert "0 copied, 40 already there" in again.stdout
    assert sum(mailbox_content(dst, USER)["INBOX"].values()) == 40


def test_a_message_deleted_on_the_destination_is_copied_again(pair, tmp_path):
    src, dst = pair
    seed(src, 10)
    args = journal_args(src, dst, tmp_path)
    kimt(*args, check_rc=0)
    first_dst = [m["uid"] for m in dst.messages(USER, "INBOX")]
    expunge(dst, USER, "INBOX", first_dst[:3])
    again = kimt(*args, check_rc=0)
    assert "3 copied, 7 already there" in again.stdout
    assert mailbox_content(dst, USER)["INBOX"] == mailbox_content(src, USER)["INBOX"]


def test_killed_between_append_and_journal_no_duplicate(pair, tmp_path):
    """SIGKILL after a batch's APPEND, before its journal entries: the next run finds the
    batch on the destination by its keys and copies only the rest."""
    src, dst = pair
    seed(src, 300)
    args = journal_args(src, dst, tmp_path)
    mark = tmp_path / "paused"
    env = dict(os.environ, PYTHONPATH=str(ROOT), KIMT_TEST_PAUSE_BEFORE_JOURNAL=str(mark))
    proc = subprocess.Popen([sys.executable, "-m", "kimt", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert proc.poll() is None, "kimt ended before the pause"
            assert time.monotonic() < deadline, "the pause never came"
            time.sleep(0.05)
        worker = int(mark.read_text() or 0)
        kids = descendants(proc.pid)
        assert worker in kids
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 30
        while any(alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    appended = len(dst.messages(USER, "INBOX"))
    assert 0 < appended < 300  # the first batch is there, without its journal entries

    again = kimt(*args, check_rc=0)
    assert f"{300 - appended} copied, {appended} already there" in again.stdout
    assert mailbox_content(dst, USER)["INBOX"] == mailbox_content(src, USER)["INBOX"]
