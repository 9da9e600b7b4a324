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

import contextvars
import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from .arrival import Appended, differences, find_back
from .errors import StoppedError
from .events import FolderResult, Skipped
from .flags import carry_flags, filter_flags
from .identity import CopyPlan, MessageInfo, body_hash, key_block, loose_match, plan_copy
from .journal import ALTERED, COPIED, LOOSE, MATCHED, Entry, FolderJournal, flag_text
from .listing import FolderStatus, message_info, size_batches
from .report import size
from .window import ByteWindow, process_window
from .wire import FolderView, HeaderRecord, Outgoing, Refused, Wire

log = logging.getLogger("kimt.copier")


@dataclass(frozen=True)
class CopyOptions:
    batch_messages: int = 200
    batch_bytes: int = 8 * 1024 * 1024
    key_batch: int = 1000
    multiappend: bool = True
    window_bytes: int = 16 * 1024 * 1024  # message bytes a worker process holds at most
    # The largest message the destination takes, where it says so only by refusing
    # (Microsoft 365): bigger ones are skipped before they are fetched, `size_reason` why.
    max_message_bytes: int | None = None
    size_reason: str = ""


T = TypeVar("T")
S = TypeVar("S")
D = TypeVar("D")
Progress = Callable[[int, int, int], None]  # (messages done, total, bytes copied)
Both = Callable[[Callable[[], S], Callable[[], D]], tuple[S, D]]

# Tests only: a file named here is created after a batch's APPEND and before its journal
# entries are written, and the worker then waits, so a test can kill it right there.
PAUSE_BEFORE_JOURNAL = "KIMT_TEST_PAUSE_BEFORE_JOURNAL"


def _one_then_other(on_source: Callable[[], S], on_destination: Callable[[], D],
                    ) -> tuple[S, D]:
    return on_source(), on_destination()


class FolderCopier:
    """Copies one source folder into one destination folder."""

    def __init__(
        self,
        source: Wire,
        destination: Wire,
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
        both: Both = _one_then_other,
        pace: Callable[[int, int], None] | None = None,
        timing: Callable[[str, int, int, float], None] | None = None,
    ):
        self.src, self.dst = source, destination
        self.src_name, self.dst_name = source_name, destination_name
        self.options = options
        self.progress = progress or (lambda done, total, nbytes: None)
        self.should_stop = should_stop
        self.verify = verify  # only compare: what `kimt verify` does
        self.journal = journal
        self.src_status = src_status  # STATUS before this pass (with HIGHESTMODSEQ)
        self.both = both  # one step on each server at once
        self.pace = pace  # waits for the run's rates: (messages, bytes) about to be fetched
        # told how long each body fetch and append took: (side, messages, bytes, seconds)
        self.timing = timing or (lambda side, messages, nbytes, seconds: None)
        # A retried folder goes on with the result of the attempt before.
        self.result = result if result is not None else FolderResult(*display)
        self.passed: tuple[FolderStatus, str] | None = None  # for the journal, when complete
        self._permanent: set[str] | None = None  # None: the server did not say
        self._src_sizes: dict[int, int] = {}
        self._uidvalidity = (0, 0)
        self._dst_high = 0  # the highest destination UID KIMT has seen in this folder
        self._append_limit = destination.append_limit()
        self._limit_words = "the destination's limit"
        self._limit_source = "APPENDLIMIT"
        if options.max_message_bytes and (self._append_limit is None
                                          or options.max_message_bytes < self._append_limit):
            self._append_limit = options.max_message_bytes
            self._limit_words, self._limit_source = "the limit", options.size_reason
        self._owed: tuple[list[Appended], list[int]] | None = None  # appended, not settled
        self._pending: Future | None = None  # the next batch being fetched
        self._storable: dict[tuple[str, ...], tuple[str, ...]] = {}  # flags -> as APPENDed

    def run(self) -> FolderResult:
        started = time.monotonic()
        try:
            self._run()
        finally:
            self.result.seconds += time.monotonic() - started
        return self.result

    # -- what to copy ------------------------------------------------------------------

    def _run(self) -> None:
        label = self.result.folder
        # Nothing known of this folder: the destination's keys come with the folder's
        # opening (one round trip), the source's sizes and dates only: into an empty
        # folder a message's key is read from its body when it is copied, so the source
        # server never reads a header twice. Otherwise flags only, keys for the others.
        fresh = self.journal is None or self.journal.id is None
        # A first run: STATUS has HIGHESTMODSEQ, which EXAMINE only shows once CONDSTORE
        # is enabled; the next run compares against it.
        want_status = self.src_status is None and self.journal is not None and not self.verify
        src_view, dst_view = self.both(
            lambda: self.src.open_folder(self.src_name, readonly=True, label=label,
                                         status=want_status,
                                         listing="sizes" if fresh else "flags"),
            # SELECT for PERMANENTFLAGS and STORE when writing; a comparison only looks.
            lambda: self.dst.open_folder(self.dst_name, readonly=self.verify, label=label,
                                         listing="keys" if fresh else "flags"))
        permanent = dst_view.permanent_flags
        self._permanent = None if permanent is None else set(permanent)
        self._storable = {}
        self._uidvalidity = (src_view.uidvalidity, dst_view.uidvalidity)
        src_status = self.src_status or src_view.status
        if src_status is None or src_status.uidvalidity != self._uidvalidity[0]:
            src_status = FolderStatus(src_view.uidvalidity, src_view.uidnext, src_view.exists,
                                      src_view.modseq)
        self._dst_high = max(dst_view.flags, default=0)
        log.debug("folder %r: EXAMINE %r on the source: %d messages, UIDVALIDITY %s; "
                  "%s %r on the destination: %d messages, PERMANENTFLAGS %s",
                  label, self.src_name, len(src_view.flags), self._uidvalidity[0],
                  "EXAMINE" if self.verify else "SELECT", self.dst_name, len(dst_view.flags),
                  " ".join(sorted(self._permanent or ())) or "-")

        to_copy = self._plan(src_view, dst_view)
        res = self.result
        self.progress(res.already + res.copied, res.total, res.bytes_copied)
        if self.verify:
            res.missing_messages = [Skipped(res.folder, m.uid, m.subject, m.date, m.size,
                                            "not on the destination") for m in to_copy]
            return
        self._copy(to_copy)
        if self.journal is not None:
            if res.complete and not self.should_stop():
                # The source as it was at the start, so whatever arrived meanwhile is seen
                # next time; the destination's STATUS is asked by the mailbox, for every
                # folder at once, when its folders are done.
                self.passed = (src_status, self.dst_name)
            else:
                self.journal.incomplete()

    def _keys(self, side: Wire, view: FolderView, uids: list[int],
              needed: Callable[[], bool] = lambda: True) -> list[MessageInfo]:
        """The keys of these UIDs: from the opening's listing, or fetched now; a listing
        without headers stays so (keys read from the bodies) unless `needed()`."""
        records: list[HeaderRecord]
        if view.records is not None and (
                not view.records or view.records[0].headers is not None or not needed()):
            wanted = set(uids)
            records = [r for r in view.records if r.uid in wanted]
        else:
            records = side.fetch_keys(uids, self.options.key_batch)
        return [message_info(r) for r in records]

    def _plan(self, src_view: FolderView, dst_view: FolderView) -> list[MessageInfo]:
        """Count what is there already (journal, keys, loosely); return what to copy."""
        src_flags, dst_flags = src_view.flags, dst_view.flags
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

        unclaimed = [u for u in dst_flags if u not in claimed]
        source, on_destination = self.both(
            lambda: self._keys(self.src, src_view, [u for u in src_flags if u not in known],
                               lambda: bool(unclaimed) or self.verify),
            lambda: self._keys(self.dst, dst_view, unclaimed))
        log.debug("folder %r: %d known from the journal; keys of %d source and %d "
                  "destination messages", res.folder, len(known), len(source),
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
            lambda uids: self._hashes(self.src, uids, self._src_sizes),
            lambda uids: self._hashes(self.dst, uids, dst_sizes),
        )

    def _hashes(self, side: Wire, uids: Iterable[int], sizes: dict[int, int],
                ) -> dict[int, str]:
        out: dict[int, str] = {}
        for group in size_batches(list(uids), sizes, 200, self.options.batch_bytes):
            for uid, raw in side.fetch_bodies(group).items():
                out[uid] = body_hash(raw)
        return out

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
        by_uid = {m.uid: m for m in to_copy}
        batches = [[by_uid[u] for u in batch] for batch in size_batches(
            [m.uid for m in to_copy], self._src_sizes, self.options.batch_messages,
            self.options.batch_bytes)]
        if not batches:
            return
        # The next batch is fetched from the source while this one is appended to the
        # destination: each connection is used by one thread at a time, and the bytes in
        # flight fit the process's window (`window`).
        window = process_window(self.options.window_bytes)
        with ThreadPoolExecutor(1, thread_name_prefix="fetch") as prefetch:
            self._pending = prefetch.submit(contextvars.copy_context().run,
                                            self._fetch_batch, batches[0], window)
            try:
                self._copy_batches(batches, prefetch, window)
            finally:  # a batch fetched for nothing gives its bytes back
                if self._pending is not None and not self._pending.cancel():
                    try:
                        window.give(self._pending.result()[1], self)
                    except BaseException:
                        pass  # its fetch failed: it gave them back itself

    def _copy_batches(self, batches: list[list[MessageInfo]], prefetch: ThreadPoolExecutor,
                      window: ByteWindow) -> None:
        res = self.result
        for number in range(len(batches)):
            assert self._pending is not None
            items, held = self._pending.result()
            self._pending = None
            try:
                if self.should_stop():
                    self._settle_owed(None)  # what is on the destination: journal
                    raise StoppedError("stopped by the user")
                if number + 1 < len(batches):
                    self._pending = prefetch.submit(
                        contextvars.copy_context().run, self._fetch_batch,
                        batches[number + 1], window)
                started = time.monotonic()
                self._append_batch(items)
                self.timing("destination", len(items), sum(len(raw) for _, raw in items),
                            time.monotonic() - started)
                del items
            finally:
                window.give(held, self)
            if number + 1 == len(batches):
                self._settle_owed(None)
            self.progress(res.already + res.copied + len(res.skipped) + res.vanished,
                          res.total, res.bytes_copied)

    def _flags_for(self, flags: Iterable[str]) -> list[str]:
        flags = tuple(flags)
        known = self._storable.get(flags)  # a folder has few sets of flags: filter each once
        if known is not None:
            return list(known)
        keep, dropped = filter_flags(flags, self._permanent)
        self._storable[flags] = tuple(keep)
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

    def _fetch_batch(self, batch: list[MessageInfo], window: ByteWindow,
                     ) -> tuple[list[tuple[MessageInfo, bytes]], int]:
        """(the batch's messages with their bodies, the window bytes taken for them);
        the window and the run's rates count the messages fetched (a message over the
        size limit is not)."""
        fits = [m.size for m in batch
                if self._append_limit is None or m.size <= self._append_limit]
        nbytes = sum(fits)
        window.take(nbytes, self, self.should_stop)
        try:
            if self.pace is not None:
                self.pace(len(fits), nbytes)
            return self._fetch_bodies(batch), nbytes
        except BaseException:
            window.give(nbytes, self)
            raise

    def _fetch_bodies(self, batch: list[MessageInfo]) -> list[tuple[MessageInfo, bytes]]:
        if self._append_limit is not None:
            fits = []
            too_big = [m for m in batch if m.size > self._append_limit]
            self._read_keys([m for m in too_big if not m.key])  # the Report names them
            for m in batch:
                if m.size > self._append_limit:
                    self._skip(m, f"larger than {self._limit_words} of "
                                  f"{size(self._append_limit)} ({self._limit_source})")
                else:
                    fits.append(m)
            batch = fits
        if not batch:
            return []
        started = time.monotonic()
        bodies = self.src.fetch_bodies([m.uid for m in batch])
        nbytes = sum(len(b) for b in bodies.values())
        self.timing("source", len(batch), nbytes, time.monotonic() - started)
        log.debug("folder %r: UID FETCH BODY.PEEK[] of %d messages (uids %d..%d), %d bytes",
                  self.result.folder, len(batch), batch[0].uid, batch[-1].uid, nbytes)
        items: list[tuple[MessageInfo, bytes]] = []
        for m in batch:
            raw = bodies.pop(m.uid, None)
            if raw is None:
                self.result.vanished += 1
                log.info("folder %r: uid %d was deleted on the source meanwhile",
                         self.result.folder, m.uid)
            else:
                if not m.key:
                    _take_key(m, raw)
                items.append((m, raw))
        return items

    def _read_keys(self, messages: list[MessageInfo]) -> None:
        if messages:
            records = {r.uid: r for r in self.src.fetch_keys([m.uid for m in messages])}
            for m in messages:
                if m.uid in records:
                    _copy_key(m, message_info(records[m.uid]))

    def _outgoing(self, items: list[tuple[MessageInfo, bytes]]) -> list[Outgoing]:
        return [Outgoing(self._flags_for(m.flags), m.internaldate, raw) for m, raw in items]

    def _append_batch(self, items: list[tuple[MessageInfo, bytes]]) -> None:
        """APPEND a batch (MULTIAPPEND where the server has it). The batch before is
        fetched back with it, in the same round trip, and settled."""
        if not items:
            return
        if (self.options.multiappend and len(items) > 1
                and self.dst.has("MULTIAPPEND")):
            owed = self._owed[1] if self._owed else []
            try:
                answer = self.dst.append(self.dst_name, self._outgoing(items), fetch=owed)
            except Refused as e:
                log.debug("folder %r: MULTIAPPEND of %d refused (%s); one by one",
                          self.result.folder, len(items), e)
            else:
                log.debug("folder %r: MULTIAPPEND %d messages, %d bytes", self.result.folder,
                          len(items), sum(len(r) for _, r in items))
                self._settle_owed(answer.fetched)
                self._owe(self._accepted(items), answer.uids
                          if answer.uidvalidity == self._uidvalidity[1] else None)
                return
        appended: list[Appended] = []
        uids: list[int] | None = []
        for m, raw in items:
            try:
                answer = self.dst.append(self.dst_name, self._outgoing([(m, raw)]))
            except Refused as e:
                self._skip(m, str(e) or "refused without a reason")
                continue
            log.debug("folder %r: APPEND uid %d (%d bytes) OK", self.result.folder, m.uid,
                      len(raw))
            appended += self._accepted([(m, raw)])
            if uids is not None and answer.uids and (
                    answer.uidvalidity == self._uidvalidity[1]):
                uids += answer.uids
            else:
                uids = None  # one without: find them all by what they are
        self._settle_owed(None)
        self._owe(appended, uids)

    def _owe(self, appended: list[Appended], uids: list[int] | None) -> None:
        """A batch to settle: with its UIDs, when the next APPEND fetches them; without
        (no UIDPLUS), now, by looking above the highest UID known."""
        if not appended:
            return
        _pause_for_tests()
        if uids:
            self._owed = (appended, uids)
            return
        log.debug("folder %r: no APPENDUID; looking for %d messages above UID %d",
                  self.result.folder, len(appended), self._dst_high)
        self._settle(appended, self.dst.fetch_above(self._dst_high), None)

    def _settle_owed(self, records: list[HeaderRecord] | None) -> None:
        if self._owed is None:
            return
        appended, uids = self._owed
        self._owed = None
        if records is None:
            records = self.dst.fetch_keys(uids, self.options.key_batch)
        self._settle(appended, records, uids)

    def _accepted(self, items: list[tuple[MessageInfo, bytes]]) -> list[Appended]:
        res = self.result
        res.copied += len(items)
        res.bytes_copied += sum(len(raw) for _, raw in items)
        res.copied_uids.update(m.uid for m, _ in items)
        return [Appended(m, len(raw)) for m, raw in items]

    # -- after a batch: find it back, compare, write the journal -------------------------

    def _settle(self, appended: list[Appended], records: list[HeaderRecord],
                uids: list[int] | None) -> None:
        """Pair the appended messages with what the destination shows; report what it
        changed; journal."""
        res = self.result
        self._dst_high = max([self._dst_high, *(r.uid for r in records), *(uids or ())])
        found = find_back(appended, records, uids)
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
        if self.journal is not None and entries:
            self.journal.record(self._uidvalidity, self.dst_name, entries)


def _take_key(m: MessageInfo, raw: bytes) -> None:
    """A message listed without headers gets its key from its body."""
    _copy_key(m, message_info(HeaderRecord(m.uid, m.size, m.flags, m.internaldate,
                                           key_block(raw))))


def _copy_key(m: MessageInfo, info: MessageInfo) -> None:
    m.key, m.subject, m.date = info.key, info.subject, info.date
    m.message_id, m.sender, m.instant, m.digest = (info.message_id, info.sender,
                                                   info.instant, info.digest)


def _pause_for_tests() -> None:
    path = os.environ.get(PAUSE_BEFORE_JOURNAL)
    if path:
        with open(path, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(600)
