"""What a listing means: key records become `MessageInfo`, folders' STATUS, batches.

Pure: the wire (`wire`) fetches the raw records, this module reads them.
Parsing a key costs most of a re-run's and a find-back's CPU (RFC 2047,
dates, addresses), so a record whose header bytes are the same as a message
already parsed (`like`: the source message a destination copy came from)
takes that message's key without parsing again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .identity import FETCH_KEY_ITEM, MessageInfo, header_fields, key_parts, message_key

if TYPE_CHECKING:
    from .wire import HeaderRecord

KEY_ITEMS = ["UID", "RFC822.SIZE", "FLAGS", "INTERNALDATE", FETCH_KEY_ITEM]


def text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def message_info(record: HeaderRecord, like: MessageInfo | None = None) -> MessageInfo:
    """A `MessageInfo` from a key record; `like` lends its parsed key when the header
    bytes are the same."""
    if record.headers is None:  # listed without its headers: the body will tell
        return MessageInfo(record.uid, "", record.size, record.flags, record.internaldate)
    digest = hashlib.sha1(record.headers).digest()
    if like is not None and like.digest == digest:
        return MessageInfo(record.uid, like.key, record.size, record.flags,
                           record.internaldate, like.subject, like.date, like.message_id,
                           like.sender, like.instant, digest)
    fields = header_fields(record.headers)
    msgid, instant, sender, _ = key_parts(fields)
    return MessageInfo(
        uid=record.uid,
        key=message_key(fields),
        size=record.size,
        flags=record.flags,
        internaldate=record.internaldate,
        subject=fields["subject"][:120],
        date=fields["date"][:60],
        message_id=msgid,
        sender=sender,
        instant=instant,
        digest=digest,
    )


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


@dataclass(frozen=True)
class FolderStatus:
    """What STATUS says of a folder: enough to tell that nothing changed."""

    uidvalidity: int
    uidnext: int
    messages: int
    modseq: int | None = None  # HIGHESTMODSEQ, where the server has CONDSTORE
