"""The copier's and the mailbox's policy against the in-memory wire (tests/fake_wire.py).

Each test builds a source and a destination `FakeServer`, runs the real
`MailboxRun` (through its `connector`) or `FolderCopier` over `FakeWire`
connections, and asserts outcomes: what the destination holds, the counts
and texts of the result. No server, no sleeps beyond a 1 ms retry delay, no
rig fixture: these run in the release workflow's `-m "not rig"` job on
Windows and macOS too. The same behaviours against real servers stay in the
Dovecot and Cyrus tests (test_migrate, test_journal, test_faults, ...).
"""

from __future__ import annotations

import inspect
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dovecot import make_message
from fake_wire import USER, FakeServer, FakeWire, connector, eight_bit_to_x, key_headers

from kimt.core import mailbox
from kimt.core.accounts import Account
from kimt.core.copier import CopyOptions, FolderCopier
from kimt.core.events import DONE, FAILED, PROBLEMS, Event, FolderResult, MailboxResult, Notice
from kimt.core.identity import key_block
from kimt.core.mailbox import JobSettings, MailboxRun
from kimt.core.wire import Wire

SYSTEM_ONLY = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"})


@pytest.fixture(autouse=True)
def private_lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mailbox locks of these runs in tmp_path, not the user's runtime folder (where
    platformdirs honours XDG_RUNTIME_DIR: Linux)."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))


# -- building mail and reading it back ----------------------------------------------------

def message(n: int, subject: str | None = None, size: int | None = None) -> bytes:
    """Message number `n`: its own Message-ID and Date, the same bytes every time."""
    return make_message(subject or f"Message {n}", body=f"body {n}\r\n",
                        msgid=f"<m{n}@kimt.test>",
                        date=f"Mon, 1 Jan 2024 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:"
                             f"{n % 60:02d} +0000", size=size)


def internaldate(n: int) -> str:
    return f"{1 + n % 28:02d}-Feb-2023 10:20:30 +0100"


def fill(server: FakeServer, folder: str, count: int, start: int = 0,
         flags: tuple[str, ...] = ()) -> list[int]:
    return [server.add(folder, message(n), flags, internaldate(n))
            for n in range(start, start + count)]


def flag_set(flags: tuple[str, ...]) -> frozenset[str]:
    return frozenset(f.lower() if f.startswith("\\") else f for f in flags)


def contents(server: FakeServer, user: str = USER) -> dict[str, Counter]:
    """{folder: Counter of (raw, flags, INTERNALDATE)} of every folder holding mail."""
    box = server.mailbox(user)
    return {name: Counter((m.raw, flag_set(m.flags), m.internaldate)
                          for m in f.messages.values())
            for name, f in box.folders.items() if f.messages}


def by_message_id(server: FakeServer, folder: str = "INBOX") -> dict[int, tuple[int, tuple]]:
    """{n of message(n): (UID, flags)} of a folder."""
    out = {}
    for m in server.messages(folder):
        n = int(m.raw.split(b"Message-ID: <m", 1)[1].split(b"@", 1)[0])
        out[n] = (m.uid, m.flags)
    return out


def appends(server: FakeServer, since: int = 0) -> list[tuple[int, ...]]:
    """The sizes of the messages of each APPEND the server was sent."""
    return [c.sizes for c in server.log[since:] if c.method == "append"]


# -- running ------------------------------------------------------------------------------

def servers(**destination: Any) -> tuple[FakeServer, FakeServer]:
    return FakeServer("source"), FakeServer("destination", **destination)


def migrate(src: FakeServer, dst: FakeServer, tmp_path: Path, copy: CopyOptions | None = None,
            events: list[Event] | None = None, **settings: Any) -> MailboxResult:
    """One `MailboxRun` of USER, the journal in tmp_path, reconnecting after 1 ms."""
    job = JobSettings(src.config("source"), dst.config("destination"),
                      copy=copy or CopyOptions(), state_dir=str(tmp_path / "state"),
                      **{"retry_delay": 0.001, **settings})
    sink: list[Event] = [] if events is None else events
    return MailboxRun(Account(USER, "secret"), job, sink.append, lambda: False,
                      connector=connector(src, dst)).run()


def copy_folder(src: FakeServer, dst: FakeServer, options: CopyOptions,
                folder: str = "INBOX") -> FolderResult:
    """One `FolderCopier` pass over fresh connections, without a journal."""
    source, destination = src.connect(role="source"), dst.connect(role="destination")
    try:
        return FolderCopier(source, destination, folder, folder, (folder, folder),
                            options).run()
    finally:
        source.close()
        destination.close()


def folders_of(result: MailboxResult) -> dict[str, FolderResult]:
    return {f.folder: f for f in result.folders}


# -- the fake is the wire ---------------------------------------------------------------------

WIRE_METHODS = ("capabilities", "has", "append_limit", "namespace", "list_folders",
                "list_subscribed", "close", "open_folder", "status_many", "status_sizes",
                "fetch_keys", "fetch_above", "fetch_bodies", "append", "store_flags",
                "create_folders", "subscribe", "sizes")


@pytest.mark.parametrize("name", WIRE_METHODS)
def test_the_fake_takes_what_the_wire_takes(name: str) -> None:
    def shape(method: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default)
                for p in inspect.signature(method).parameters.values()]

    assert shape(getattr(FakeWire, name)) == shape(getattr(Wire, name))


def test_key_headers_are_what_dovecot_returns() -> None:
    """Dovecot 2.3's BODY[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] of four messages:
    the chosen lines with their continuations and repeats, in the message's order, then a
    blank line; only that blank line when none is there; bare LFs as CRLF."""
    assert key_headers(
        b"Subject: first\r\nX-Other: a\r\nFrom: A <a@x>\r\n folded\r\nsubject: dup\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\n") == (
        b"Subject: first\r\nFrom: A <a@x>\r\n folded\r\nsubject: dup\r\n"
        b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n")
    assert key_headers(b"X-Only: nothing\r\n\r\nbody\r\n") == b"\r\n"
    assert key_headers(b"Message-ID: <a@b>\r\nFrom: \xc3\xa9 <x@y>\r\n\r\nbody") == (
        b"Message-ID: <a@b>\r\nFrom: \xc3\xa9 <x@y>\r\n\r\n")
    server = FakeServer()
    server.add("INBOX", b"Message-ID: <lf@b>\nFrom: lf <x@y>\n\nbody\n")
    [record] = server.connect().open_folder("INBOX", readonly=True, label="INBOX",
                                            listing="keys").records or []
    assert (record.size, record.headers) == (44, b"Message-ID: <lf@b>\r\nFrom: lf <x@y>\r\n\r\n")


@pytest.mark.parametrize("raw", [
    b"Subject: first\r\nX-Other: a\r\nFrom: A <a@x>\r\n folded\r\nsubject: dup\r\n"
    b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nbody\r\nFrom: not a header\r\n",
    b"X-Only: nothing\r\n\r\nbody\r\n",
    b"Message-ID: <a@b>\r\nFrom: \xc3\xa9 <x@y>\r\n\r\nbody",
    b"Message-ID: <lf@b>\nFrom: lf <x@y>\n\nbody\n",
    b"From: no body at all\r\n",
], ids=["folded-repeated", "none", "8bit", "bare-lf", "no-body"])
def test_a_key_read_from_the_body_is_the_key_the_server_lists(raw: bytes) -> None:
    """A message listed without headers (a first run into an empty folder) takes its key
    from its body: `key_block` must build what the server would have listed."""
    stored = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # servers store CRLF
    assert key_block(raw) == key_headers(stored)


# -- a copy and its re-run ------------------------------------------------------------------

@pytest.mark.parametrize("use_journal", [True, False], ids=["journal", "no-journal"])
def test_everything_is_copied_once_and_a_rerun_copies_nothing(tmp_path: Path,
                                                              use_journal: bool) -> None:
    src, dst = FakeServer("source"), FakeServer("destination", special_use={"Sent": "\\Sent"})
    src.create("Sent", special_use="\\Sent")
    fill(src, "INBOX", 6, flags=("\\Seen",))
    fill(src, "Sent", 2, start=100, flags=("\\Seen", "$Label1"))
    fill(src, "Work/Projects", 3, start=200, flags=("\\Flagged",))

    first = migrate(src, dst, tmp_path, use_journal=use_journal)
    assert first.state == DONE, first.error
    assert (first.total, first.copied, first.already) == (11, 11, 0)
    assert contents(dst) == contents(src)

    seen = len(dst.log)
    again = migrate(src, dst, tmp_path, use_journal=use_journal)
    assert again.state == DONE, again.error
    assert (again.copied, again.already) == (0, 11)
    assert appends(dst, seen) == []
    assert contents(dst) == contents(src)
    # with the journal, every folder is known unchanged by one STATUS per side
    assert [f.unchanged for f in again.folders] == [use_journal] * 3
    assert again.rerun is use_journal


def test_batches_are_bounded_by_count_and_bytes() -> None:
    src, dst = servers()
    for n in range(40):
        src.add("INBOX", message(n, size=600 + (n % 5) * 250), (), internaldate(n))
    options = CopyOptions(batch_messages=6, batch_bytes=4000)

    result = copy_folder(src, dst, options)

    assert (result.copied, result.skipped) == (40, [])
    expected: list[list[int]] = [[]]  # greedy, in UID order, as the option says
    for m in src.messages("INBOX"):
        size = len(m.raw)
        if expected[-1] and (len(expected[-1]) == 6 or sum(expected[-1]) + size > 4000):
            expected.append([])
        expected[-1].append(size)
    assert len(expected) > 7  # both bounds bite
    assert appends(dst) == [tuple(b) for b in expected]
    assert contents(dst) == contents(src)

    seen = len(dst.log)
    again = copy_folder(src, dst, options)
    assert (again.copied, again.already) == (0, 40)
    assert appends(dst, seen) == []


@pytest.mark.parametrize("use_journal", [True, False], ids=["journal", "no-journal"])
def test_identical_messages_stay_as_many_as_on_the_source(tmp_path: Path,
                                                           use_journal: bool) -> None:
    src, dst = servers()
    for n in (1, 1, 1, 2, 2, 3):
        src.add("INBOX", message(n), (), internaldate(n))
    dst.add("INBOX", message(2), (), internaldate(2))  # one of the two is there already

    first = migrate(src, dst, tmp_path, use_journal=use_journal)
    assert (first.copied, first.already) == (5, 1)
    assert contents(dst) == contents(src)

    src.add("INBOX", message(1), (), internaldate(1))  # and a fourth one arrives
    again = migrate(src, dst, tmp_path, use_journal=use_journal)
    assert (again.copied, again.already) == (1, 6)
    assert contents(dst) == contents(src)


# -- refusals ------------------------------------------------------------------------------

def test_a_refused_message_is_skipped_alone_with_the_servers_words(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 7)
    virus = src.add("INBOX", message(99, subject="EICAR test file"), (), internaldate(9))
    words = "[LIMIT] Message refused: infected (Eicar-Test-Signature)"
    dst.refuse_append(lambda raw: b"EICAR" in raw, words)

    result = migrate(src, dst, tmp_path, copy=CopyOptions(batch_messages=4))

    assert result.state == PROBLEMS
    assert [(s.uid, s.subject, s.reason) for s in result.skipped] == [
        (virus, "EICAR test file", words)]
    assert (result.copied, result.missing) == (7, 1)
    kept = Counter(m.raw for m in src.messages("INBOX") if m.uid != virus)
    assert Counter(m.raw for m in dst.messages("INBOX")) == kept
    # batches of 4: the first goes whole, the one with the virus is refused whole and
    # then sent one message at a time
    assert [len(a) for a in appends(dst)] == [4, 4, 1, 1, 1, 1]


def test_a_server_refusing_every_multiappend_gets_the_messages_one_by_one(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 7)
    dst.refuse_multiappend = "Error in IMAP command APPEND: Too many messages"

    result = migrate(src, dst, tmp_path, copy=CopyOptions(batch_messages=3))

    assert result.state == DONE, result.error
    assert (result.copied, result.skipped) == (7, [])
    assert contents(dst) == contents(src)
    assert [len(a) for a in appends(dst)] == [3, 1, 1, 1, 3, 1, 1, 1, 1]


# LITERAL+ only changes how the wire sends a literal; the policy must not care
@pytest.mark.parametrize("missing", [
    {"multiappend": False}, {"uidplus": False}, {"literal_plus": False},
    {"multiappend": False, "uidplus": False, "literal_plus": False, "condstore": False},
], ids=["no-MULTIAPPEND", "no-UIDPLUS", "no-LITERAL+", "none-of-them"])
@pytest.mark.parametrize("use_journal", [True, False], ids=["journal", "no-journal"])
def test_a_plain_destination_gets_an_exact_copy_and_no_duplicates(
        tmp_path: Path, missing: dict[str, bool], use_journal: bool) -> None:
    src, dst = servers(**missing)
    fill(src, "INBOX", 9, flags=("\\Seen",))
    fill(src, "Archive", 4, start=50)
    options = CopyOptions(batch_messages=4)

    first = migrate(src, dst, tmp_path, copy=options, use_journal=use_journal)
    assert first.state == DONE, first.error
    assert (first.copied, first.altered) == (13, [])
    assert contents(dst) == contents(src)
    if not dst.multiappend:
        assert {len(a) for a in appends(dst)} == {1}

    fill(src, "INBOX", 2, start=9)  # new mail: the folder is listed again in full
    seen = len(dst.log)
    again = migrate(src, dst, tmp_path, copy=options, use_journal=use_journal)
    assert again.state == DONE, again.error
    assert (again.copied, again.already) == (2, 13)
    assert sum(len(a) for a in appends(dst, seen)) == 2
    assert contents(dst) == contents(src)


def test_a_folder_the_destination_will_not_create_is_reported_and_the_rest_copied(
        tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 2)
    fill(src, "Private", 3, start=10)
    fill(src, "Public", 1, start=20)
    dst.refuse_create(lambda name: name == "Private", "[NOPERM] Permission denied")

    result = migrate(src, dst, tmp_path)

    assert result.state == PROBLEMS
    assert result.folder_problems == [
        "folder 'Private' could not be created on the destination: "
        "[NOPERM] Permission denied"]
    folders = folders_of(result)
    assert (folders["Private"].total, folders["Private"].copied) == (3, 0)
    assert result.missing == 3
    assert set(contents(dst)) == {"INBOX", "Public"}
    assert contents(dst)["Public"] == contents(src)["Public"]


def test_a_message_over_appendlimit_is_skipped_with_the_reason(tmp_path: Path) -> None:
    src, dst = servers(append_limit=3000)
    src.add("INBOX", message(1, size=1000), (), internaldate(1))
    big = src.add("INBOX", message(2, size=5000), (), internaldate(2))
    src.add("INBOX", message(3, size=1000), (), internaldate(3))

    result = migrate(src, dst, tmp_path)

    assert result.state == PROBLEMS
    [skipped] = result.skipped
    assert (skipped.uid, skipped.size) == (big, 5000)
    assert skipped.reason.startswith("larger than the destination's limit of ")
    assert skipped.reason.endswith(" (APPENDLIMIT)")
    assert result.copied == 2
    assert sorted(by_message_id(dst)) == [1, 3]
    assert all(max(a) <= 3000 for a in appends(dst))  # never sent to be refused


# -- what the destination keeps and changes ------------------------------------------------

def test_keywords_the_destination_cannot_keep_are_dropped_and_named(tmp_path: Path) -> None:
    src, dst = servers(permanent_flags=SYSTEM_ONLY)
    src.add("INBOX", message(1), ("\\Seen", "$Label1"), internaldate(1))
    src.add("INBOX", message(2), ("Junk",), internaldate(2))
    src.add("INBOX", message(3), ("\\Flagged", "\\Answered"), internaldate(3))

    result = migrate(src, dst, tmp_path)

    assert result.state == DONE, result.error
    [folder] = result.folders
    assert folder.dropped_flags == {"$Label1", "Junk"}
    assert {n: flag_set(f) for n, (_, f) in by_message_id(dst).items()} == {
        1: {"\\seen"}, 2: set(), 3: {"\\flagged", "\\answered"}}

    src.add("INBOX", message(4), (), internaldate(4))  # the next run lists the folder again
    seen = len(dst.log)
    again = migrate(src, dst, tmp_path)
    assert (again.copied, again.already, again.flags_changed) == (1, 3, 0)
    assert [c.method for c in dst.log[seen:] if c.method == "store_flags"] == []


def test_a_destination_rewriting_header_bytes_is_reported_once_and_never_fed_again(
        tmp_path: Path) -> None:
    src, dst = servers()
    dst.rewrite = eight_bit_to_x  # as Cyrus does with munge8bit
    raw = message(1, subject="cafe").replace(b"Subject: cafe", "Subject: café".encode())
    src.add("INBOX", raw, ("\\Seen",), internaldate(1))
    fill(src, "INBOX", 2, start=2)

    first = migrate(src, dst, tmp_path)
    assert first.copied == 3
    assert [(a.uid, a.reason) for a in first.altered] == [
        (1, "stored differently by the destination (header bytes)")]
    assert b"Subject: cafXX\r\n" in dst.messages("INBOX")[0].raw

    fill(src, "INBOX", 1, start=5)  # new mail: INBOX is compared again, with the journal
    again = migrate(src, dst, tmp_path)
    assert (again.copied, again.already, again.altered) == (1, 3, [])
    assert again.altered_total == 1  # known from the journal, not reported anew

    without = migrate(src, dst, tmp_path, use_journal=False)
    assert (without.copied, without.already, without.altered) == (0, 4, [])
    assert [s.uid for s in without.loose] == [1]  # by its Message-ID
    assert len(dst.messages("INBOX")) == 4


def test_a_destination_replacing_dates_is_reported_once_and_never_fed_again(
        tmp_path: Path) -> None:
    src, dst = servers()
    dst.rewrite_date = lambda date: "01-Jan-2025 12:00:00 +0000"  # ignores the one sent
    fill(src, "INBOX", 3)

    first = migrate(src, dst, tmp_path)
    assert first.copied == 3
    assert [a.reason for a in first.altered] == [
        "stored differently by the destination (date)"] * 3

    fill(src, "INBOX", 1, start=3)
    again = migrate(src, dst, tmp_path)
    assert (again.copied, again.already) == (1, 3)
    assert [a.uid for a in again.altered] == [4]  # only the new one is news
    assert again.altered_total == 4
    assert len(dst.messages("INBOX")) == 4


def test_flags_follow_the_source_three_way(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 3)
    src.set_flags("INBOX", 3, ["\\Seen"])
    first = migrate(src, dst, tmp_path)
    assert first.state == DONE, first.error
    on_dst = {n: uid for n, (uid, _) in by_message_id(dst).items()}

    src.set_flags("INBOX", 1, ["\\Seen"])  # read on the old server: carried over
    src.set_flags("INBOX", 2, ["\\Seen"])  # ... but flagged on the new one: the user's wins
    dst.set_flags("INBOX", on_dst[1], ["\\Flagged"])
    dst.set_flags("INBOX", on_dst[2], ["\\Seen", "\\Answered"])  # changed on the new only

    again = migrate(src, dst, tmp_path)

    assert again.state == DONE, again.error
    assert (again.flags_changed, again.flags_kept, again.copied) == (1, 1, 0)
    assert {n: flag_set(f) for n, (_, f) in by_message_id(dst).items()} == {
        0: {"\\seen"}, 1: {"\\flagged"}, 2: {"\\seen", "\\answered"}}


# -- while it runs ----------------------------------------------------------------------------

def test_messages_deleted_on_the_source_meanwhile_are_counted_as_vanished(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 6)
    src.vanish_before_fetch("INBOX", [2, 5])

    result = migrate(src, dst, tmp_path, copy=CopyOptions(batch_messages=4))

    assert result.state == DONE, result.error
    [folder] = result.folders
    assert (folder.total, folder.copied, folder.vanished, folder.skipped) == (6, 4, 2, [])
    assert sorted(by_message_id(dst)) == [0, 2, 3, 5]


def _answer_lost(src: FakeServer, dst: FakeServer) -> None:
    dst.break_after_appends(12, commit=True)  # stored, but the OK never arrives


def _append_cut(src: FakeServer, dst: FakeServer) -> None:
    dst.break_after_appends(12)


def _fetch_cut(src: FakeServer, dst: FakeServer) -> None:
    src.break_on(3, method="fetch_bodies", kind="bye")


def _open_cut(src: FakeServer, dst: FakeServer) -> None:
    dst.break_on(1, method="open_folder", folder="INBOX")


@pytest.mark.parametrize("fault", [_answer_lost, _append_cut, _fetch_cut, _open_cut],
                         ids=["append-answer-lost", "append-cut", "fetch-cut", "select-cut"])
def test_a_broken_connection_is_reopened_and_every_message_lands_once(
        tmp_path: Path, fault: Callable[[FakeServer, FakeServer], None]) -> None:
    src, dst = servers()
    fill(src, "INBOX", 30)
    fill(src, "Archive", 3, start=100)
    fault(src, dst)
    events: list[Event] = []

    result = migrate(src, dst, tmp_path, copy=CopyOptions(batch_messages=5), events=events,
                     connections=1)  # one folder after the other: the fault hits INBOX

    assert result.state == DONE, result.error
    assert result.retries == 1
    assert [e.text for e in events if isinstance(e, Notice) and "reconnecting" in e.text]
    assert contents(dst) == contents(src)  # each message exactly once
    # a batch whose OK was lost is found on the destination by the retry: "already there"
    lost = 5 if fault is _answer_lost else 0
    assert (result.copied, result.already) == (33 - lost, lost)


def test_reconnects_used_up_give_up_that_folder_only(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 2)
    fill(src, "Alpha", 3, start=10)
    fill(src, "Beta", 4, start=20)
    dst.break_on(method="append", folder="Alpha", times=None)

    result = migrate(src, dst, tmp_path, max_retries=2, connections=1)

    assert result.state == PROBLEMS
    folders = folders_of(result)
    assert folders["Alpha"].error.startswith("gave up after 2 reconnects (folder 'Alpha'): "
                                             "connection lost")
    assert folders["Alpha"].copied == 0
    assert [f.folder for f in result.failed_folders] == ["Alpha"]
    assert (folders["Beta"].copied, folders["INBOX"].copied) == (4, 2)
    assert set(contents(dst)) == {"INBOX", "Beta"}

    dst.heal()  # the next run finishes it
    again = migrate(src, dst, tmp_path)
    assert again.state == DONE, again.error
    assert (again.copied, again.already) == (3, 6)
    assert contents(dst) == contents(src)


def test_an_answer_that_is_not_imap_fails_that_folder_without_retrying(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "Alpha", 2)
    fill(src, "Beta", 2, start=10)
    src.break_on(method="open_folder", folder="Alpha", kind="protocol")

    result = migrate(src, dst, tmp_path)

    folders = folders_of(result)
    assert "could not understand in folder 'Alpha'" in folders["Alpha"].error
    assert result.retries == 0
    assert folders["Beta"].copied == 2
    assert set(contents(dst)) == {"Beta"}


def test_a_refused_login_fails_the_mailbox_at_once(tmp_path: Path) -> None:
    src = FakeServer("source")
    dst = FakeServer("destination", passwords={USER: "not what the users file says"})
    fill(src, "INBOX", 2)

    result = migrate(src, dst, tmp_path)

    assert result.state == FAILED
    assert result.error.startswith(f"login failed for {USER} on {dst.address} (the new "
                                   "server): [AUTHENTICATIONFAILED]")
    assert result.retries == 0  # retrying would only lock the account
    assert "password" in result.advice
    assert dst.mailbox().folders["INBOX"].messages == {}


def test_a_destination_wanting_parents_first_gets_them(tmp_path: Path) -> None:
    src, dst = servers(implicit_parents=False)
    fill(src, "Work/2024/Q1", 2)

    result = migrate(src, dst, tmp_path)

    assert result.state == DONE, result.error
    assert {"Work", "Work/2024", "Work/2024/Q1"} <= set(dst.mailbox().folders)
    assert contents(dst) == contents(src)
    assert result.notes == [
        f"{parent}: the destination made this parent folder a real, empty folder (it has no "
        "mail on the old server)" for parent in ("Work", "Work/2024")]


# -- several folders, several connections -------------------------------------------------------

def test_folders_side_by_side_keep_the_source_order(tmp_path: Path) -> None:
    src, dst = servers()
    sizes = {"INBOX": 20, "Alpha": 5, "Beta": 45, "Gamma": 10, "Lists/Python": 30, "Zeta": 15}
    for i, (name, count) in enumerate(sizes.items()):
        fill(src, name, count, start=100 * i)

    result = migrate(src, dst, tmp_path, connections=3)

    assert result.state == DONE, result.error
    assert [f.folder for f in result.folders] == list(sizes)
    assert [f.copied for f in result.folders] == list(sizes.values())
    assert contents(dst) == contents(src)
    # the main pair holds its connections to the end: an extra lane's login is a second
    assert 2 <= dst.peak_connections <= 3


def test_a_little_mail_nearby_takes_one_connection_pair(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a fast network a second pair only pays with mail to share (SHARED_MESSAGES):
    49 messages in six folders are one pair's work; 50 are two pairs'."""
    # the fake answers at once, but a loaded machine may keep a thread waiting
    monkeypatch.setattr(mailbox, "FAST_ROUND_TRIP", 10.0)
    for messages, pairs in ((49, 1), (50, 2)):
        src, dst = servers()
        for i, name in enumerate(["INBOX", "Alpha", "Beta", "Gamma", "Delta", "Zeta"]):
            fill(src, name, messages // 6 + (i < messages % 6), start=100 * i)

        result = migrate(src, dst, tmp_path / str(messages), connections=4)

        assert result.state == DONE, result.error
        assert contents(dst) == contents(src)
        assert (src.peak_connections, dst.peak_connections) == (pairs, pairs), messages


def test_a_little_mail_over_a_slow_link_still_shares_the_folders(tmp_path: Path) -> None:
    # The folders' STATUS takes a round trip of 20 ms: the folders' round trips overlap.
    src, dst = servers()
    for i, name in enumerate(["INBOX", "Alpha", "Beta"]):
        fill(src, name, 2, start=100 * i)

    def far_away(wire: FakeWire, method: str) -> None:
        if method == "status_many":
            time.sleep(0.02)

    src.before_call = far_away
    result = migrate(src, dst, tmp_path, connections=2)

    assert result.state == DONE, result.error
    assert contents(dst) == contents(src)
    assert dst.peak_connections == 2


def test_a_connection_limit_lowers_the_connections_instead_of_failing(tmp_path: Path) -> None:
    # one connection per user: the main lane holds it all along, so every extra lane's
    # login is refused
    src, dst = (FakeServer(name, max_connections=1) for name in ("source", "destination"))
    for i, name in enumerate(["INBOX", "Alpha", "Beta", "Gamma", "Delta", "Epsilon"]):
        fill(src, name, 10, start=100 * i)  # mail enough for a second pair (nearby)

    def after_another_lane_tried(wire: FakeWire, method: str) -> None:
        if wire.number == 1 and method == "open_folder":  # the main lane's first folder
            dst.limit_reached.wait(timeout=5)

    dst.before_call = after_another_lane_tried

    result = migrate(src, dst, tmp_path, connections=2)

    assert result.state == DONE, result.error
    assert contents(dst) == contents(src)


def test_finish_migration_copies_only_the_new_mail(tmp_path: Path) -> None:
    src, dst = servers()
    fill(src, "INBOX", 5)
    fill(src, "Sent", 2, start=100)
    fill(src, "Work", 3, start=200)
    assert migrate(src, dst, tmp_path).state == DONE

    fill(src, "INBOX", 2, start=5)  # mail that arrived on the old server after the cut-over
    fill(src, "Work", 1, start=203)
    seen = len(dst.log)
    final = migrate(src, dst, tmp_path)

    assert final.state == DONE, final.error
    assert {f.folder: (f.copied, f.already, f.unchanged) for f in final.folders} == {
        "INBOX": (2, 5, False), "Sent": (0, 2, True), "Work": (1, 3, False)}
    assert sum(len(a) for a in appends(dst, seen)) == 3
    assert contents(dst) == contents(src)


def test_a_dot_separated_prefixed_source_lands_by_logical_names(tmp_path: Path) -> None:
    src = FakeServer("source", separator=".", prefix="INBOX.")
    dst = FakeServer("destination")
    fill(src, "INBOX", 1)
    fill(src, "Work/2024", 2, start=10)  # INBOX.Work.2024 on the source

    result = migrate(src, dst, tmp_path)

    assert result.state == DONE, result.error
    assert [f.folder for f in result.folders] == ["INBOX", "Work/2024"]
    assert contents(dst)["Work/2024"] == contents(src)["INBOX.Work.2024"]


def test_batches_wait_for_the_window_and_a_message_bigger_than_it_still_goes(
        tmp_path: Path) -> None:
    """A window of 2 KB, batches of one message: each lane fetches its next batch only
    when the one before is appended, and a 40 KB message (20 times the window) goes
    alone once its lane holds nothing."""
    src, dst = servers()
    fill(src, "INBOX", 6)
    src.add("INBOX", message(99) + b"x" * 40_000, (), internaldate(99))
    fill(src, "Work", 5, start=200)
    result = migrate(src, dst, tmp_path, copy=CopyOptions(batch_messages=1,
                                                           window_bytes=2_000))
    assert result.state == DONE, result.error
    assert contents(dst) == contents(src)
