"""The migration journal: KIMT's memory of what it put where on the destination.

One SQLite database per destination server, in the user's state folder
(`--state-dir` moves it). For each source folder it keeps both sides'
UIDVALIDITY, the STATUS of both at the end of the last complete pass, and
for each source UID the destination UID it became (APPENDUID, or found right
after the append), its key, the flags on each side when KIMT last wrote them,
and how the destination stored it.

It is an accelerator and a memory, never the only truth:
- a destination UID that is gone means copy again; a changed UIDVALIDITY on
  either side (or another destination folder) forgets that folder;
- an entry is written after the APPEND it records, in the same batch rhythm,
  so a crash in between leaves a message the next run finds by its key (or
  loosely, when the destination altered it) — never a duplicate;
- deleting the file is always safe: the next run compares in full.
Workers of one run write to the same file at once (WAL, busy timeout); the
mailbox lock keeps two writers off the same mailbox.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from filelock import FileLock, Timeout

from .listing import FolderStatus

APP_NAME = "KIMT"

# How the destination holds a message: what KIMT appended and found as sent,
# appended and found altered, or found there already by key or loosely.
COPIED, ALTERED, MATCHED, LOOSE = "copied", "altered", "matched", "loose"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS folder (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,            -- source server host:port
    mailbox TEXT NOT NULL,           -- the account's address, lower case
    src_folder TEXT NOT NULL,        -- source folder, server name
    dst_folder TEXT NOT NULL,        -- destination folder, server name
    src_uidvalidity INTEGER, dst_uidvalidity INTEGER,
    -- STATUS at the end of the last complete pass (NULL: none yet)
    src_uidnext INTEGER, src_messages INTEGER, src_modseq INTEGER,
    dst_uidnext INTEGER, dst_messages INTEGER, passed_at REAL,
    UNIQUE (source, mailbox, src_folder)
);
CREATE TABLE IF NOT EXISTS message (
    folder INTEGER NOT NULL REFERENCES folder(id) ON DELETE CASCADE,
    src_uid INTEGER NOT NULL,
    dst_uid INTEGER NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    subject TEXT NOT NULL, date TEXT NOT NULL,
    src_flags TEXT NOT NULL,         -- source flags when KIMT last wrote the destination's
    dst_flags TEXT NOT NULL,         -- destination flags as KIMT left them
    how TEXT NOT NULL,               -- copied / altered / matched / loose
    differs TEXT NOT NULL DEFAULT '',-- what the destination changed (altered)
    src_gone INTEGER NOT NULL DEFAULT 0,  -- deleted on the source since (counted once)
    PRIMARY KEY (folder, src_uid)
) WITHOUT ROWID;
"""


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def journal_path(state_dir: str | os.PathLike | None, destination: str) -> Path:
    """The journal file of one destination server ('host:port')."""
    base = Path(state_dir) if state_dir else default_state_dir()
    slug = re.sub(r"[^A-Za-z0-9.-]+", "_", destination.lower())[:60]
    digest = hashlib.sha256(destination.lower().encode()).hexdigest()[:8]
    return base / f"journal-{slug}-{digest}.sqlite3"


def flag_text(flags: Iterable[str]) -> str:
    """Flags as one comparable string: sorted, system flags case-folded, no \\Recent."""
    out = set()
    for f in flags:
        low = f.lower()
        if low == "\\recent":
            continue
        out.add(low if f.startswith("\\") else f)
    return " ".join(sorted(out))


def _storable(value: str) -> str:
    """Header text read with surrogateescape (8-bit bytes that are not UTF-8) as SQLite
    can store it."""
    return value.encode("utf-8", "replace").decode("utf-8")


@dataclass
class Entry:
    src_uid: int
    dst_uid: int
    key: str
    size: int
    subject: str
    date: str
    src_flags: str  # flag_text
    dst_flags: str  # flag_text
    how: str
    differs: str = ""
    src_gone: bool = False


_ENTRY_COLUMNS = ("src_uid, dst_uid, key, size, subject, date, src_flags, dst_flags, how, "
                  "differs, src_gone")


class JournalError(Exception):
    """The journal file can't be opened or written (the text says which and why)."""


class Journal:
    """One destination server's journal; `readonly` for `kimt verify`."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = path
        self.readonly = readonly
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60,
                                          check_same_thread=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                # The workers of a run open it at the same moment, and switching a new
                # file to WAL answers "database is locked" at once, without waiting:
                # the first one sets it up while the others wait for this lock.
                with FileLock(f"{path}.lock", timeout=60):
                    new = not path.exists()
                    # A mailbox's lanes each open their own; one thread at a time uses it.
                    self.db = sqlite3.connect(path, timeout=60, check_same_thread=False)
                    if new and os.name == "posix":
                        os.chmod(path, 0o600)  # subjects and addresses: the owner's only
                    if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        self.db.execute("PRAGMA journal_mode=WAL")
                    self.db.execute("PRAGMA synchronous=NORMAL")
                    self.db.executescript(_SCHEMA)
            self.db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError, Timeout) as e:
            raise JournalError(f"the migration journal {path} can't be opened: {e}") from None

    @classmethod
    def open(cls, state_dir: str | None, destination: str,
             readonly: bool = False) -> Journal | None:
        """The journal of `destination`; None when read-only and there is none yet."""
        path = journal_path(state_dir, destination)
        if readonly and not path.exists():
            return None
        return cls(path, readonly)

    def close(self) -> None:
        self.db.close()

    def knows(self, source: str, mailbox: str) -> bool:
        """True when an earlier run left anything of this mailbox here."""
        return self.db.execute("SELECT 1 FROM folder WHERE source=? AND mailbox=? LIMIT 1",
                               (source, mailbox.lower())).fetchone() is not None

    def folder(self, source: str, mailbox: str, src_folder: str) -> FolderJournal:
        return FolderJournal(self, source, mailbox.lower(), src_folder)


class FolderJournal:
    """The journal of one source folder of one mailbox."""

    def __init__(self, journal: Journal, source: str, mailbox: str, src_folder: str):
        self.j = journal
        self.db = journal.db
        self.where = (source, mailbox, src_folder)
        row = self.db.execute(
            "SELECT id, dst_folder, src_uidvalidity, dst_uidvalidity, src_uidnext, "
            "src_messages, src_modseq, dst_uidnext, dst_messages FROM folder WHERE source=? "
            "AND mailbox=? AND src_folder=?", self.where).fetchone()
        self.id: int | None = None
        self.dst_folder = ""
        self.uidvalidity: tuple[int | None, int | None] = (None, None)
        self.last_pass: tuple[FolderStatus, FolderStatus] | None = None
        if row:
            self.id, self.dst_folder = row[0], row[1]
            self.uidvalidity = (row[2], row[3])
            if row[4] is not None:
                self.last_pass = (FolderStatus(row[2], row[4], row[5], row[6]),
                                  FolderStatus(row[3], row[7], row[8], None))

    def unchanged(self, src: FolderStatus, dst: FolderStatus, dst_folder: str) -> bool:
        """True when both sides are as the last complete pass left them."""
        if self.last_pass is None or dst_folder != self.dst_folder or src.modseq is None:
            return False  # without HIGHESTMODSEQ a flag change would go unseen
        s, d = self.last_pass
        return (s.uidvalidity, s.uidnext, s.messages, s.modseq) == (
            src.uidvalidity, src.uidnext, src.messages, src.modseq) and (
            d.uidvalidity, d.uidnext, d.messages) == (dst.uidvalidity, dst.uidnext, dst.messages)

    def entries(self, src_uidvalidity: int, dst_uidvalidity: int,
                dst_folder: str) -> dict[int, Entry]:
        """The entries still valid for these UIDVALIDITYs; a changed folder is forgotten."""
        if self.id is None:
            return {}
        if (src_uidvalidity, dst_uidvalidity) != self.uidvalidity or (
                dst_folder != self.dst_folder):
            if not self.j.readonly:
                with self.db:
                    self.db.execute("DELETE FROM message WHERE folder=?", (self.id,))
                    self.db.execute("UPDATE folder SET src_uidnext=NULL WHERE id=?", (self.id,))
            self.last_pass = None
            return {}
        rows = self.db.execute(f"SELECT {_ENTRY_COLUMNS} FROM message WHERE folder=?",
                               (self.id,))
        return {r[0]: Entry(*r[:10], bool(r[10])) for r in rows}

    def _ensure(self, src_uidvalidity: int, dst_uidvalidity: int, dst_folder: str) -> int:
        if self.id is not None and (src_uidvalidity, dst_uidvalidity) == self.uidvalidity \
                and dst_folder == self.dst_folder:
            return self.id
        if self.id is None:
            cur = self.db.execute(
                "INSERT INTO folder (source, mailbox, src_folder, dst_folder, src_uidvalidity,"
                " dst_uidvalidity) VALUES (?, ?, ?, ?, ?, ?)",
                (*self.where, dst_folder, src_uidvalidity, dst_uidvalidity))
            self.id = cur.lastrowid
        else:
            self.db.execute("DELETE FROM message WHERE folder=?", (self.id,))
            self.db.execute(
                "UPDATE folder SET dst_folder=?, src_uidvalidity=?, dst_uidvalidity=?, "
                "src_uidnext=NULL WHERE id=?",
                (dst_folder, src_uidvalidity, dst_uidvalidity, self.id))
        self.dst_folder = dst_folder
        self.uidvalidity = (src_uidvalidity, dst_uidvalidity)
        assert self.id is not None
        return self.id

    def record(self, uidvalidity: tuple[int, int], dst_folder: str,
               entries: Iterable[Entry]) -> None:
        """Write (or replace) entries, in one transaction."""
        with self.db:
            fid = self._ensure(*uidvalidity, dst_folder)
            self.db.executemany(
                f"INSERT OR REPLACE INTO message (folder, {_ENTRY_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(fid, e.src_uid, e.dst_uid, e.key, e.size, _storable(e.subject),
                  _storable(e.date), _storable(e.src_flags), _storable(e.dst_flags), e.how,
                  e.differs, int(e.src_gone)) for e in entries])

    def mark_gone(self, src_uids: Iterable[int]) -> None:
        """Deleted on the source since the last run: counted once, left on the destination."""
        uids = [(self.id, u) for u in src_uids]
        if uids and self.id is not None:
            with self.db:
                self.db.executemany("UPDATE message SET src_gone=1 WHERE folder=? AND "
                                    "src_uid=?", uids)

    def forget(self, src_uids: Iterable[int]) -> None:
        """Entries whose destination message is gone: copy those again."""
        uids = [(self.id, u) for u in src_uids]
        if uids and self.id is not None:
            with self.db:
                self.db.executemany("DELETE FROM message WHERE folder=? AND src_uid=?", uids)

    def passed(self, src: FolderStatus, dst: FolderStatus, dst_folder: str) -> None:
        """A complete pass: the next run may skip this folder while both sides stay so."""
        with self.db:
            self._ensure(src.uidvalidity, dst.uidvalidity, dst_folder)
            self.db.execute(
                "UPDATE folder SET src_uidnext=?, src_messages=?, src_modseq=?, "
                "dst_uidnext=?, dst_messages=?, passed_at=? WHERE id=?",
                (src.uidnext, src.messages, src.modseq, dst.uidnext, dst.messages,
                 time.time(), self.id))
        self.last_pass = (src, dst)

    def incomplete(self) -> None:
        """This pass left something out: the next run lists the folder in full."""
        if self.id is not None and self.last_pass is not None:
            with self.db:
                self.db.execute("UPDATE folder SET src_uidnext=NULL WHERE id=?", (self.id,))
            self.last_pass = None

    def altered_count(self) -> int:
        """Messages still on the source that the destination stored differently."""
        if self.id is None:
            return 0
        return self.db.execute("SELECT count(*) FROM message WHERE folder=? AND src_gone=0 "
                               "AND differs != ''", (self.id,)).fetchone()[0]
