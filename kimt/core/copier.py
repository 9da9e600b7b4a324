"""Copy one folder: what the journal knows, what the keys match, append the rest.

The source folder is opened with EXAMINE and read with BODY.PEEK only.
Both sides are listed by UID and flags in one round trip each; a source
message the journal maps to a destination UID that still exists is there
already (and its flags follow the source where the destination's are still
what KIMT wrote: three-way); keys are fetched only for the others, matched
as a multiset, then loosely (`identity.loose_match`) for messages the
destination may have altered. What is left is copied in batches bounded by
count and bytes (MULTIAPPEND, LITERAL+), the next batch fetched while this
one is appended. After each batch the new destination UIDs (APPENDUID, or a
search above the highest known UID) are fetched back: a message stored with
other header bytes, date or size is reported as stored differently, never
appended again; then the batch goes into the journal. If the server refuses
a batch, its messages are retried one by one so that only the refused ones
are skipped, each with the server's words. A broken connection propagates
as `ConnectError`; the mailbox level reconnects and runs the folder again,
which is safe because the plan is always recomputed from the destination.
"""

from __future__ import annotations

import imaplib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from .append import Outgoing, append_raw, appended_uids
from .arrival import Appended, differences, find_back
from .errors import ConnectError, ProtocolError, ServerError, StoppedError
from .events import FolderResult, Skipped
from .flags import carry_flags, filter_flags
from .identity import CopyPlan, MessageInfo, loose_match, plan_copy
from .journal import ALTERED, COPIED, LOOSE, MATCHED, Entry, FolderJournal, flag_text
from .listing import (
    FolderStatus,
    fetch_bodies,
    fetch_hashes,
    list_messages,
    size_batches,
    status_many,
    text,
    uid_flags,
)
from .report import size
from .servers import server_words

log = logging.getLogger("kimt.copier")

CONNECTION_ERRORS = (imap_exc.IMAPClientAbortError, OSError, socket.timeout, ssl.SSLError)

# imaplib refuses answer lines over 1 MB, but the UID SEARCH answer of a folder of
# 150 000 messages is longer. Longer than this, a line is a protocol error.
MAX_LINE = 32 * 2**20
imaplib._MAXLINE = MAX_LINE  # no public setting


@dataclass(frozen=True)
class CopyOptions:
    batch_messages: int = 200
    batch_bytes: int = 16 * 1024 * 1024
    key_batch: int = 1000
    multiappend: bool = True


T = TypeVar("T")
Progress = Callable[[int, int, int], None]  # (messages done, total, bytes copied)

# Tests only: a file named here is created after a batch's APPEND and before its journal
# entries are written, and the worker then waits, so a test can kill it right there.
PAUSE_BEFORE_JOURNAL = "KIMT_TEST_PAUSE_BEFORE_JOURNAL"




class FolderCopier:
    """Copies one source folder into one destination folder."""

    def __init__(
        self,
        source: IMAPClient,
        destination: IMAPClient,
        source_name: str,
        destination_name: str,
        display: tuple[str, str],
        options: CopyOptions,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        verify: bool = False,
        journal: FolderJournal | None = None,
        result: FolderResult | None = None,
        src_status: FolderStatus | None = None,
    ):
        self.src, self.dst = source, destination
        self.src_name, self.dst_name = source_name, destination_name
        self.options = options
        self.progress = progress or (lambda done, total, nbytes: None)
        self.should_stop = should_stop
        self.verify = verify  # only compare: what `kimt verify` does
        self.journal = journal
        self.src_status = src_status  # STATUS before this pass (with HIGHESTMODSEQ)
        # A retried folder goes on with the result of the attempt before.
        self.result = result if result is not None else FolderResult(*display)
        self._permanent: set[str] | None = None  # None: the server did not say
        self._src_sizes: dict[int, int] = {}
        self._uidvalidity = (0, 0)
        self._dst_high = 0  # the highest destination UID KIMT has seen in this folder
        self._append_limit = self._read_append_limit()

    def _read_append_limit(self) -> int | None:
        for cap in self.dst.capabilities():
            if cap.startswith(b"APPENDLIMIT="):
                try:
                    return int(cap.split(b"=", 1)[1])
                except ValueError:
                    return None
        return None

    def run(self) -> FolderResult:
        self._guarded(self._run)
        return self.result

    def _guarded(self, action: Callable[[], T]) -> T:
        started = time.monotonic()
        try:
            return action()
        except TimeoutError:  # the read timeout fired: a stall, not a refusal
            raise ConnectError(f"the server stopped answering in folder "
                               f"'{self.result.folder}' (read timeout)") from None
        except imap_exc.IMAPClientAbortError as e:  # imaplib ends the session
            words = server_words(e)
            what = ("connection lost" if "socket error" in words else
                    "protocol error (an answer that is not valid IMAP)"
                    if "unexpected response" in words else "the server ended the session")
            raise ConnectError(f"{what} in folder '{self.result.folder}': {words}") from None
        except CONNECTION_ERRORS as e:
            raise ConnectError(f"connection lost in folder '{self.result.folder}': "
                               f"{server_words(e)}") from None
        except imap_exc.IMAPClientError as e:
            words = server_words(e)
            if "got more than" in words:
                raise ProtocolError(f"protocol error in folder '{self.result.folder}': the "
                                    f"server sent an answer line longer than "
                                    f"{MAX_LINE // 2**20} MB") from None
            raise ServerError(f"folder '{self.result.folder}': {words}") from None
        finally:
            self.result.seconds += time.monotonic() - started

    # -- what to copy ------------------------------------------------------------------

    def _run(self) -> None:
        src_state = self.src.select_folder(self.src_name, readonly=True)  # EXAMINE
        # SELECT for PERMANENTFLAGS and STORE when writing; a comparison only looks.
        dst_state = self.dst.select_folder(self.dst_name, readonly=self.verify)
        permanent = dst_state.get(b"PERMANENTFLAGS")
        self._permanent = None if permanent is None else {text(f) for f in permanent}
        self._uidvalidity = (int(src_state.get(b"UIDVALIDITY") or 0),
                             int(dst_state.get(b"UIDVALIDITY") or 0))
        src_status = self.src_status
        if src_status is None and self.journal is not None and not self.verify:
            # A first run: STATUS has HIGHESTMODSEQ, which EXAMINE only shows once
            # CONDSTORE is enabled; the next run compares against it.
            src_status = status_many(self.src, [self.src_name]).get(self.src_name)
        if src_status is None or src_status.uidvalidity != self._uidvalidity[0]:
            src_status = FolderStatus(self._uidvalidity[0],
                                      int(src_state.get(b"UIDNEXT") or 0),
                                      int(src_state.get(b"EXISTS") or 0), _modseq(src_state))
        src_flags = uid_flags(self.src) if src_state.get(b"EXISTS") else {}
        dst_flags = uid_flags(self.dst) if dst_state.get(b"EXISTS") else {}
        self._dst_high = max(dst_flags, default=0)
        log.debug("folder %r: EXAMINE %r on the source: %d messages, UIDVALIDITY %s; "
                  "%s %r on the destination: %d messages, PERMANENTFLAGS %s",
                  self.result.folder, self.src_name, len(src_flags), self._uidvalidity[0],
                  "EXAMINE" if self.verify else "SELECT", self.dst_name, len(dst_flags),
                  " ".join(sorted(self._permanent or ())) or "-")

        to_copy = self._plan(src_flags, dst_flags)
        res = self.result
        self.progress(res.already + res.copied, res.total, res.bytes_copied)
        if self.verify:
            res.missing_messages = [Skipped(res.folder, m.uid, m.subject, m.date, m.size,
                                            "not on the destination") for m in to_copy]
            return
        self._copy(to_copy)
        if self.journal is not None:
            if res.complete and not self.should_stop():
                # The destination as this pass leaves it; the source as it was at the
                # start, so whatever arrived meanwhile is seen next time.
                dst_status = self.dst.folder_status(self.dst_name,
                                                    ["UIDVALIDITY", "UIDNEXT", "MESSAGES"])
                self.journal.passed(src_status, FolderStatus(
                    int(dst_status[b"UIDVALIDITY"]), int(dst_status[b"UIDNEXT"]),
                    int(dst_status[b"MESSAGES"])), self.dst_name)
            else:
                self.journal.incomplete()

    def _plan(self, src_flags: dict[int, tuple[str, ...]],
              dst_flags: dict[int, tuple[str, ...]]) -> list[MessageInfo]:
        """Count what is there already (journal, keys, loosely); return what to copy."""
        res = self.result
        res.total = len(src_flags)
        # A retried folder counts afresh, but keeps what it copied, changed and found.
        res.already = res.altered_before = res.vanished = 0
        res.skipped, res.missing_messages = [], []
        entries = (self.journal.entries(*self._uidvalidity, self.dst_name)
                   if self.journal is not None else {})
        known: dict[int, Entry] = {}
        gone_on_source: list[int] = []
        gone_on_destination: list[int] = []
        claimed: set[int] = set()  # destination UIDs the journal accounts for
        for uid, e in entries.items():
            if e.dst_uid in dst_flags:
                claimed.add(e.dst_uid)
            if uid not in src_flags:
                if not e.src_gone:
                    gone_on_source.append(uid)
            elif e.dst_uid in dst_flags:
                known[uid] = e
            else:
                gone_on_destination.append(uid)
        if gone_on_source and not self.verify:  # listed once: the journal marks them
            res.source_deleted += [
                Skipped(res.folder, u, entries[u].subject, entries[u].date, entries[u].size,
                        "deleted on the old server, left on the new one")
                for u in gone_on_source]
        res.altered_before = sum(1 for e in known.values() if e.differs
                                 and e.src_uid not in res.copied_uids)
        if self.verify:
            res.altered = [Skipped(res.folder, e.src_uid, e.subject, e.date, e.size,
                                   f"stored differently by the destination ({e.differs})")
                           for e in known.values() if e.differs]
            res.altered_before = 0
        elif self.journal is not None:
            self.journal.mark_gone(gone_on_source)
            self.journal.forget(gone_on_destination)
        if gone_on_destination:
            log.info("folder %r: %d messages KIMT copied earlier are gone from the "
                     "destination; copying them again", res.folder, len(gone_on_destination))

        source = list_messages(self.src, [u for u in src_flags if u not in known],
                               self.options.key_batch)
        on_destination = list_messages(self.dst, [u for u in dst_flags if u not in claimed],
                                       self.options.key_batch)
        log.debug("folder %r: %d known from the journal; keys fetched for %d source and "
                  "%d destination messages", res.folder, len(known), len(source),
                  len(on_destination))
        self._src_sizes = {m.uid: m.size for m in source}
        plan = self._match(source, on_destination)
        paired = set(plan.pairs.values())
        loose = loose_match(plan.to_copy, [d for d in on_destination if d.uid not in paired])
        found = {**plan.pairs, **loose}
        by_uid = {d.uid: d for d in on_destination}
        src_by_uid = {m.uid: m for m in source}
        differs = {s_uid: differences(src_by_uid[s_uid], by_uid[d_uid])
                   for s_uid, d_uid in found.items()}
        listed = {x.uid for x in res.loose}
        for s_uid, d_uid in loose.items():
            if s_uid in listed:
                continue
            m = src_by_uid[s_uid]
            res.loose.append(Skipped(res.folder, s_uid, m.subject, m.date, m.size,
                                     f"matched loosely to destination UID {d_uid} "
                                     f"({differs[s_uid] or 'same size'})"))
        res.already = sum(1 for u in [*known, *found] if u not in res.copied_uids)
        if not self.verify:
            self._sync_flags(known, src_flags, dst_flags)
            if self.journal is not None and found:
                self.journal.record(self._uidvalidity, self.dst_name, [
                    Entry(s_uid, d_uid, src_by_uid[s_uid].key, src_by_uid[s_uid].size,
                          src_by_uid[s_uid].subject, src_by_uid[s_uid].date,
                          flag_text(src_flags[s_uid]), flag_text(by_uid[d_uid].flags),
                          LOOSE if s_uid in loose else MATCHED, differs[s_uid])
                    for s_uid, d_uid in found.items()])
        to_copy = [m for m in plan.to_copy if m.uid not in loose]
        log.debug("folder %r: %d already there (%d loosely), %d to copy", res.folder,
                  res.already, len(loose), len(to_copy))
        return to_copy

    def _match(self, source: list[MessageInfo], on_destination: list[MessageInfo]) -> CopyPlan:
        dst_sizes = {m.uid: m.size for m in on_destination}
        return plan_copy(
            source, on_destination,
            lambda uids: fetch_hashes(self.src, uids, self.options.batch_bytes, self._src_sizes),
            lambda uids: fetch_hashes(self.dst, uids, self.options.batch_bytes, dst_sizes),
        )

    def _sync_flags(self, known: dict[int, Entry], src_flags: dict[int, tuple[str, ...]],
                    dst_flags: dict[int, tuple[str, ...]]) -> None:
        res = self.result
        outcome = carry_flags(self.dst, known, src_flags, dst_flags, self._flags_for)
        res.flags_changed += outcome.changed
        res.flags_kept += outcome.kept
        if outcome.entries and self.journal is not None:
            self.journal.record(self._uidvalidity, self.dst_name, outcome.entries)
        if outcome.changed or outcome.kept:
            log.info("folder %r: flags changed on the source carried over for %d messages; "
                     "%d left as the user changed them on the destination", res.folder,
                     outcome.changed, outcome.kept)

    # -- copying -----------------------------------------------------------------------

    def _copy(self, to_copy: list[MessageInfo]) -> None:
        res = self.result
        by_uid = {m.uid: m for m in to_copy}
        batches = [[by_uid[u] for u in batch] for batch in size_batches(
            [m.uid for m in to_copy], self._src_sizes, self.options.batch_messages,
            self.options.batch_bytes)]
        # The next batch is fetched from the source while this one is appended to the
        # destination: each connection is used by one thread at a time, and at most two
        # batches are in memory.
        with ThreadPoolExecutor(1, thread_name_prefix="fetch") as prefetch:
            pending = prefetch.submit(self._fetch_batch, batches[0]) if batches else None
            for number in range(len(batches)):
                assert pending is not None
                items = pending.result()
                pending = None
                if self.should_stop():
                    raise StoppedError("stopped by the user")
                if number + 1 < len(batches):
                    pending = prefetch.submit(self._fetch_batch, batches[number + 1])
                appended = self._append_batch(items)
                del items
                self._settle(appended)
                self.progress(res.already + res.copied + len(res.skipped) + res.vanished,
                              res.total, res.bytes_copied)

    def _flags_for(self, flags: Iterable[str]) -> list[str]:
        keep, dropped = filter_flags(flags, self._permanent)
        for f in dropped:
            if f not in self.result.dropped_flags:
                self.result.dropped_flags.add(f)
                log.info("folder %r: the destination does not keep the flag %s; dropped",
                         self.result.folder, f)
        return keep

    def _skip(self, msg: MessageInfo, reason: str) -> None:
        self.result.skipped.append(Skipped(self.result.folder, msg.uid, msg.subject, msg.date,
                                           msg.size, reason))
        log.info("folder %r: message uid %d (%d bytes) skipped: %s", self.result.folder,
                 msg.uid, msg.size, reason)

    def _fetch_batch(self, batch: list[MessageInfo]) -> list[tuple[MessageInfo, bytes]]:
        if self._append_limit is not None:
            fits = []
            for m in batch:
                if m.size > self._append_limit:
                    self._skip(m, f"larger than the destination's limit of "
                                  f"{size(self._append_limit)} (APPENDLIMIT)")
                else:
                    fits.append(m)
            batch = fits
        if not batch:
            return []
        bodies = fetch_bodies(self.src, [m.uid for m in batch])
        log.debug("folder %r: UID FETCH BODY.PEEK[] of %d messages (uids %d..%d), %d bytes",
                  self.result.folder, len(batch), batch[0].uid, batch[-1].uid,
                  sum(len(b) for b in bodies.values()))
        items: list[tuple[MessageInfo, bytes]] = []
        for m in batch:
            raw = bodies.pop(m.uid, None)
            if raw is None:
                self.result.vanished += 1
                log.info("folder %r: uid %d was deleted on the source meanwhile",
                         self.result.folder, m.uid)
            else:
                items.append((m, raw))
        return items

    def _append_batch(self, items: list[tuple[MessageInfo, bytes]]) -> list[Appended]:
        if not items:
            return []
        use_multi = (self.options.multiappend and len(items) > 1
                     and self.dst.has_capability("MULTIAPPEND"))
        if use_multi:
            try:
                answer = self._append(items)
            except CONNECTION_ERRORS:
                raise
            except imap_exc.IMAPClientError as e:
                log.debug("folder %r: MULTIAPPEND of %d refused (%s); one by one",
                          self.result.folder, len(items), server_words(e))
            else:
                log.debug("folder %r: MULTIAPPEND %d messages, %d bytes", self.result.folder,
                          len(items), sum(len(r) for _, r in items))
                return self._accepted(items, answer)
        appended: list[Appended] = []
        for m, raw in items:
            try:
                answer = self._append_one(m, raw)
            except CONNECTION_ERRORS:
                raise
            except imap_exc.IMAPClientError as e:
                self._skip(m, server_words(e, "refused without a reason"))
            else:
                log.debug("folder %r: APPEND uid %d (%d bytes) OK", self.result.folder, m.uid,
                          len(raw))
                appended += self._accepted([(m, raw)], answer)
        return appended

    def _append_one(self, m: MessageInfo, raw: bytes) -> str:
        return self._append([(m, raw)])

    def _append(self, items: list[tuple[MessageInfo, bytes]]) -> str:
        return append_raw(self.dst, self.dst_name, [
            Outgoing(self._flags_for(m.flags), m.internaldate, raw) for m, raw in items])

    def _accepted(self, items: list[tuple[MessageInfo, bytes]], answer: str,
                  ) -> list[Appended]:
        res = self.result
        res.copied += len(items)
        res.bytes_copied += sum(len(raw) for _, raw in items)
        res.copied_uids.update(m.uid for m, _ in items)
        uids = appended_uids(answer, len(items))
        if uids is not None and uids[0] != self._uidvalidity[1]:
            uids = None  # the folder was recreated under us: find them by searching
        return [Appended(m, len(raw), uids[1][i] if uids else None)
                for i, (m, raw) in enumerate(items)]

    # -- after a batch: find it back, compare, write the journal -------------------------

    def _settle(self, appended: list[Appended]) -> None:
        """Fetch the appended messages back; report what the destination changed; journal."""
        if not appended:
            return
        res = self.result
        found, self._dst_high = find_back(self.dst, appended, self._dst_high,
                                          self.options.key_batch, self.result.folder)
        entries: list[Entry] = []
        for a in appended:
            m = a.msg
            d = found.get(m.uid)
            if d is None:
                res.copied -= 1
                res.bytes_copied -= a.size
                res.copied_uids.discard(m.uid)
                self._skip(m, "the destination accepted it but does not show it afterwards")
                continue
            differs = differences(m, d)
            if differs:
                res.altered.append(Skipped(res.folder, m.uid, m.subject, m.date, m.size,
                                           f"stored differently by the destination "
                                           f"({differs})"))
                log.info("folder %r: uid %d stored differently by the destination as uid "
                         "%d (%s)", res.folder, m.uid, d.uid, differs)
            entries.append(Entry(m.uid, d.uid, m.key, m.size, m.subject, m.date,
                                 flag_text(m.flags), flag_text(d.flags),
                                 ALTERED if differs else COPIED, differs))
        _pause_for_tests()
        if self.journal is not None and entries:
            self.journal.record(self._uidvalidity, self.dst_name, entries)


def _modseq(state: dict) -> int | None:
    value = state.get(b"HIGHESTMODSEQ")
    return int(value) if value is not None else None


def _pause_for_tests() -> None:
    path = os.environ.get(PAUSE_BEFORE_JOURNAL)
    if path:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
