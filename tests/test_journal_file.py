"""The journal file alone (no server): what it keeps, forgets, and refuses to trust."""

from __future__ import annotations

import os

from kimt.core.journal import COPIED, Entry, Journal, flag_text, journal_path
from kimt.core.listing import FolderStatus

SRC, DST = "old.example.com:993", "new.example.com:993"


def entry(uid: int, dst_uid: int, subject: str = "s") -> Entry:
    return Entry(uid, dst_uid, "k", 10, subject, "d", "\\seen", "\\seen", COPIED)


def test_entries_survive_a_reopen_and_a_changed_uidvalidity_forgets_them(tmp_path):
    j = Journal.open(str(tmp_path), DST)
    fj = j.folder(SRC, "JDoe@Example.com", "INBOX")
    fj.record((7, 9), "INBOX", [entry(1, 101), entry(2, 102, "\udcc4\udc8c 8-bit")])
    j.close()
    again = Journal.open(str(tmp_path), DST).folder(SRC, "jdoe@example.com", "INBOX")
    assert set(again.entries(7, 9, "INBOX")) == {1, 2}
    assert again.entries(7, 9, "INBOX")[2].subject.endswith("8-bit")  # stored, replaced
    assert again.entries(8, 9, "INBOX") == {}  # the source folder was recreated
    assert again.entries(7, 9, "INBOX") == {}  # ... and that is remembered


def test_a_pass_makes_a_folder_skippable_until_either_side_changes(tmp_path):
    fj = Journal.open(str(tmp_path), DST).folder(SRC, "a@x.cz", "INBOX")
    src, dst = FolderStatus(7, 50, 49, 1234), FolderStatus(9, 60, 49)
    assert not fj.unchanged(src, dst, "INBOX")
    fj.passed(src, dst, "INBOX")
    assert fj.unchanged(src, dst, "INBOX")
    assert not fj.unchanged(FolderStatus(7, 50, 49, 1235), dst, "INBOX")  # a flag changed
    assert not fj.unchanged(src, FolderStatus(9, 61, 50), "INBOX")  # mail added there
    assert not fj.unchanged(src, dst, "Other")  # mapped elsewhere now
    assert not fj.unchanged(FolderStatus(7, 50, 49, None), dst, "INBOX")  # no CONDSTORE
    fj.incomplete()
    assert not fj.unchanged(src, dst, "INBOX")


def test_read_only_without_a_file_is_none_and_files_are_private(tmp_path):
    assert Journal.open(str(tmp_path), DST, readonly=True) is None
    Journal.open(str(tmp_path), DST).close()
    path = journal_path(str(tmp_path), DST)
    assert path.exists() and Journal.open(str(tmp_path), DST, readonly=True) is not None
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0
    assert journal_path(str(tmp_path), "other:143") != path  # one file per destination


def test_flag_text_ignores_order_case_and_recent():
    assert flag_text(["\\Seen", "$Label1", "\\Recent"]) == flag_text(["$Label1", "\\SEEN"])


def _open_and_record(folder: str, n: int, ready, go, results) -> None:
    ready.put(n)
    go.wait(30)
    try:
        j = Journal.open(folder, DST)
        j.folder(SRC, f"user{n}@x.cz", "INBOX").record((1, 2), "INBOX", [entry(1, 1)])
        j.close()
        results.put("ok")
    except Exception as e:  # reported, so the assertion shows what went wrong
        results.put(f"{type(e).__name__}: {e}")


def test_workers_opening_a_new_journal_at_once_all_get_it(tmp_path):
    """The workers of a first run create the file together (WAL set up once)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    for round_ in range(5):
        folder = str(tmp_path / f"round{round_}")
        ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        procs = [ctx.Process(target=_open_and_record, args=(folder, n, ready, go, results))
                 for n in range(8)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        go.set()  # all at the same moment, as the workers of a run
        outcomes = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert outcomes == ["ok"] * 8
        j = Journal.open(folder, DST, readonly=True)
        assert all(j.knows(SRC, f"user{n}@x.cz") for n in range(8))
