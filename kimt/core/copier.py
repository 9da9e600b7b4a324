"""Copy one folder: list keys on both sides, fetch and append what is missing.

The source folder is opened with EXAMINE and read with BODY.PEEK only. Keys
and bodies are fetched by explicit UID lists in batches bounded by message
count and bytes, so memory stays near one batch plus the largest message.
Batches go to the destination with MULTIAPPEND (and LITERAL+ when offered),
each literal sent from the fetched bytes without a copy; if the server
refuses a batch, its messages are retried one by one so that only the
refused ones are skipped, each with the server's words. A broken connection
is not handled here: it propagates as `ConnectError`, and the mailbox level
reconnects and runs the folder again, which is safe because the plan is
always recomputed from the destination.
"""

from __future__ import annotations

import imaplib
import logging
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc
from imapclient.datetime_util import datetime_to_INTERNALDATE

from .errors import ConnectError, ProtocolError, ServerError, StoppedError
from .identity import (
    FETCH_KEY_ITEM,
    CopyPlan,
    MessageInfo,
    body_hash,
    header_fields,
    message_key,
    plan_copy,
)

log = logging.getLogger("kimt.copier")

CONNECTION_ERRORS = (imap_exc.IMAPClientAbortError, OSError, socket.timeout, ssl.SSLError)

# imaplib refuses answer lines over 1 MB, but the UID SEARCH answer of a folder of
# 150 000 messages is longer. Longer than this, a line is a protocol error.
MAX_LINE = 32 * 2**20
_SEND_SLICE = 2**20
imaplib._MAXLINE = MAX_LINE  # no public setting


@dataclass(frozen=True)
class CopyOptions:
    batch_messages: int = 200
    batch_bytes: int = 16 * 1024 * 1024
    key_batch: int = 1000
    multiappend: bool = True


@dataclass
class Skipped:
    """A message KIMT did not copy, and why (for the Report)."""

    folder: str
    uid: int
    subject: str
    date: str
    size: int
    reason: str


@dataclass
class FolderResult:
    folder: str  # source, logical
    target: str  # destination, logical
    total: int = 0
    copied: int = 0
    already: int = 0
    bytes_copied: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    vanished: int = 0  # deleted on the source while KIMT worked
    dropped_flags: set[str] = field(default_factory=set)
    missing: list[Skipped] = field(default_factory=list)  # a comparison's findings
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.copied + self.already + self.vanished >= self.total and not self.skipped


T = TypeVar("T")
Progress = Callable[[int, int, int], None]  # (messages done, total, bytes copied)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _batches(uids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(uids), size):
        yield uids[i : i + size]


def _header_blob(data: dict) -> bytes:
    for k, v in data.items():
        if isinstance(k, bytes) and k.startswith(b"BODY[HEADER"):
            return v or b""
    return b""


def list_messages(client: IMAPClient, batch: int = 1000) -> list[MessageInfo]:
    """Key, size, flags and date of every message in the selected folder."""
    uids = sorted(client.search("ALL"))
    infos: list[MessageInfo] = []
    for chunk in _batches(uids, batch):
        resp = client.fetch(list(chunk), ["UID", "RFC822.SIZE", "FLAGS", "INTERNALDATE",
                                          FETCH_KEY_ITEM])
        for uid, data in resp.items():
            if b"RFC822.SIZE" not in data:  # an unsolicited FETCH (flag change), not ours
                continue
            fields = header_fields(_header_blob(data))
            infos.append(MessageInfo(
                uid=uid,
                key=message_key(fields),
                size=int(data.get(b"RFC822.SIZE") or 0),
                flags=tuple(_text(f) for f in data.get(b"FLAGS", ())),
                internaldate=data.get(b"INTERNALDATE"),
                subject=fields["subject"][:120],
                date=fields["date"][:60],
            ))
    infos.sort(key=lambda m: m.uid)
    return infos


def fetch_bodies(client: IMAPClient, uids: Sequence[int]) -> dict[int, bytes]:
    resp = client.fetch(list(uids), ["BODY.PEEK[]"])
    return {uid: data[b"BODY[]"] for uid, data in resp.items() if b"BODY[]" in data}


def fetch_hashes(client: IMAPClient, uids: Sequence[int], batch_bytes: int,
                 sizes: dict[int, int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for group in size_batches(uids, sizes, 200, batch_bytes):
        for uid, raw in fetch_bodies(client, group).items():
            out[uid] = body_hash(raw)
    return out


def size_batches(uids: Sequence[int], sizes: dict[int, int], max_count: int,
                 max_bytes: int) -> Iterator[list[int]]:
    """Split UIDs into batches of at most max_count messages and ~max_bytes."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


_TIMING = re.compile(r"\s*\([\d.+ ]+ secs\)\.?$")  # Dovecot's "(0.001 + 0.002 secs)."


def filter_flags(flags: Iterable[str], permanent: set[str] | None,
                 ) -> tuple[list[str], list[str]]:
    """(kept, dropped) flags for APPEND: never \\Recent; the rest as PERMANENTFLAGS allows.

    A server that sends no PERMANENTFLAGS keeps every flag (RFC 3501 7.1); `\\*` in it
    means any keyword may be created.
    """
    kept: list[str] = []
    dropped: list[str] = []
    allowed = None if permanent is None else {f.lower() for f in permanent}
    for f in flags:
        if f.lower() == "\\recent":
            continue
        if allowed is None or f.lower() in allowed or (
                not f.startswith("\\") and "\\*" in allowed):
            kept.append(f)
        else:
            dropped.append(f)
    return kept, dropped


def server_words(e: Exception) -> str:
    text = str(e)
    if text.startswith(("b'", 'b"')):
        text = text[2:-1]
    return _TIMING.sub(".", text.strip()) or "refused without a reason"


class FolderCopier:
    """Copies one source folder into one destination folder."""

    def __init__(
        self,
        source: IMAPClient,
        target: IMAPClient,
        source_name: str,
        target_name: str,
        display: tuple[str, str],
        options: CopyOptions,
        progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        dry_run: bool = False,
    ):
        self.src, self.dst = source, target
        self.src_name, self.dst_name = source_name, target_name
        self.options = options
        self.progress = progress or (lambda done, total, nbytes: None)
        self.should_stop = should_stop
        self.dry_run = dry_run  # only compare: what `kimt verify` and the final check do
        self.result = FolderResult(*display)
        self._permanent: set[str] | None = None  # None: the server did not say
        self._source: list[MessageInfo] = []
        self._src_sizes: dict[int, int] = {}
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

    def recheck(self) -> int:
        """After copying: how many source messages a fresh destination listing still lacks."""
        return self._guarded(self._recheck)

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

    def _recheck(self) -> int:
        state = self.dst.select_folder(self.dst_name, readonly=True)
        target = list_messages(self.dst, self.options.key_batch) if state.get(b"EXISTS") else []
        return len(self._plan(target).to_copy)

    def _plan(self, target: list[MessageInfo]) -> CopyPlan:
        dst_sizes = {m.uid: m.size for m in target}
        return plan_copy(
            self._source, target,
            lambda uids: fetch_hashes(self.src, uids, self.options.batch_bytes, self._src_sizes),
            lambda uids: fetch_hashes(self.dst, uids, self.options.batch_bytes, dst_sizes),
        )

    def _run(self) -> None:
        src_state = self.src.select_folder(self.src_name, readonly=True)  # EXAMINE
        source = list_messages(self.src, self.options.key_batch) if src_state.get(
            b"EXISTS") else []
        # SELECT for PERMANENTFLAGS when appending; a comparison only looks (EXAMINE).
        dst_state = self.dst.select_folder(self.dst_name, readonly=self.dry_run)
        permanent = dst_state.get(b"PERMANENTFLAGS")
        self._permanent = None if permanent is None else {_text(f) for f in permanent}
        target = list_messages(self.dst, self.options.key_batch) if dst_state.get(
            b"EXISTS") else []
        log.debug("folder %r: EXAMINE %r on the source: %d messages, UIDVALIDITY %s; "
                  "%s %r on the destination: %d messages, PERMANENTFLAGS %s",
                  self.result.folder, self.src_name, len(source),
                  src_state.get(b"UIDVALIDITY"), "EXAMINE" if self.dry_run else "SELECT",
                  self.dst_name, len(target), " ".join(sorted(self._permanent or ())) or "-")

        self._source = source  # kept for recheck()
        self._src_sizes = {m.uid: m.size for m in source}
        plan = self._plan(target)
        res = self.result
        res.total = len(source)
        res.already = plan.already_there
        log.debug("folder %r: %d already there, %d to copy", res.folder, plan.already_there,
                  len(plan.to_copy))
        self.progress(res.already, res.total, 0)
        if self.dry_run:
            res.missing = [Skipped(res.folder, m.uid, m.subject, m.date, m.size,
                                   "not on the destination") for m in plan.to_copy]
            return
        by_uid = {m.uid: m for m in plan.to_copy}
        batches = [[by_uid[u] for u in batch] for batch in size_batches(
            [m.uid for m in plan.to_copy], self._src_sizes, self.options.batch_messages,
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
                self._append_batch(items)
                del items
                self.progress(res.already + res.copied + len(res.skipped) + res.vanished,
                              res.total, res.bytes_copied)

    # -- one batch ---------------------------------------------------------------------

    def _flags(self, msg: MessageInfo) -> list[str]:
        keep, dropped = filter_flags(msg.flags, self._permanent)
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
                                  f"{self._append_limit} bytes (APPENDLIMIT)")
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

    def _append_batch(self, items: list[tuple[MessageInfo, bytes]]) -> None:
        if not items:
            return
        use_multi = (self.options.multiappend and len(items) > 1
                     and self.dst.has_capability("MULTIAPPEND"))
        if use_multi:
            try:
                self._append(items)
            except CONNECTION_ERRORS:
                raise
            except imap_exc.IMAPClientError as e:
                log.debug("folder %r: MULTIAPPEND of %d refused (%s); one by one",
                          self.result.folder, len(items), server_words(e))
            else:
                self._count(items)
                log.debug("folder %r: MULTIAPPEND %d messages, %d bytes", self.result.folder,
                          len(items), sum(len(r) for _, r in items))
                return
        for m, raw in items:
            try:
                self._append_one(m, raw)
            except CONNECTION_ERRORS:
                raise
            except imap_exc.IMAPClientError as e:
                self._skip(m, server_words(e))
            else:
                self._count([(m, raw)])
                log.debug("folder %r: APPEND uid %d (%d bytes) OK", self.result.folder, m.uid,
                          len(raw))

    def _append_one(self, m: MessageInfo, raw: bytes) -> None:
        self._append([(m, raw)])

    def _append(self, items: list[tuple[MessageInfo, bytes]]) -> None:
        """One APPEND (MULTIAPPEND for several), each literal sent from the fetched bytes.

        imapclient's `multiappend` copies every message twice on its way into a literal
        (three times the batch in memory); this sends the bytes as fetched, so a
        100 MB message is held once. In slices: a socket timeout bounds each send, so
        it catches a stall without limiting how long a big message may take.
        """
        imap = self.dst._imap  # imapclient has no streaming APPEND
        literal_plus = self.dst.has_capability("LITERAL+")
        tag = imap._new_tag()
        line = tag + b" APPEND " + self.dst._normalise_folder(self.dst_name)
        for m, raw in items:
            line += b" (" + " ".join(self._flags(m)).encode("ascii", "replace") + b")"
            if isinstance(m.internaldate, datetime):
                line += b' "' + datetime_to_INTERNALDATE(m.internaldate).encode() + b'"'
            line += b" {%d%s}\r\n" % (len(raw), b"+" if literal_plus else b"")
            imap.send(line)
            if not literal_plus:
                while imap._get_response():  # None: the server's "+" continuation
                    if imap.tagged_commands.get(tag):
                        raise imap_exc.IMAPClientError(
                            _text(imap.tagged_commands[tag][1][-1] or b"APPEND refused"))
            view = memoryview(raw)
            for offset in range(0, len(raw), _SEND_SLICE):
                imap.send(view[offset:offset + _SEND_SLICE])
            line = b""
        imap.send(b"\r\n")
        typ, data = imap._command_complete("APPEND", tag)
        if _text(typ).upper() != "OK":  # a tagged NO comes back as a value, not raised
            words = " ".join(_text(d) for d in data if d) if isinstance(data, list) else data
            raise imap_exc.IMAPClientError(_text(words) or f"APPEND answered {_text(typ)}")

    def _count(self, items: list[tuple[MessageInfo, bytes]]) -> None:
        self.result.copied += len(items)
        self.result.bytes_copied += sum(len(raw) for _, raw in items)
