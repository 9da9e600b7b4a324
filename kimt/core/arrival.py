"""What the destination made of what KIMT appended: find each message again, compare.

A server may store a message otherwise than it was sent (Cyrus turns 8-bit
header bytes into 'X', servers replace dates they don't like, add headers),
so after each batch KIMT reads the new messages back — in the same round
trip as the APPEND (`Wire.append(then_above=...)`) — and pairs them: by the
UIDs the APPEND answer named (UIDPLUS), or, without them, by the same header
bytes, then the same key, then loosely; mail delivered meanwhile stays
unmatched. `differences` says in words what the server changed; the copier
reports it and the journal remembers it. Pure: no server here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from imapclient.datetime_util import parse_to_datetime

from .identity import MessageInfo, loose_match
from .listing import message_info
from .wire import HeaderRecord


@dataclass
class Appended:
    """A message APPEND accepted, waiting to be found back on the destination."""

    msg: MessageInfo
    size: int  # bytes sent


def same_instant(a: str | None, b: str | None) -> bool:
    """Two INTERNALDATEs are the same moment (True when one side has none)."""
    if not a or not b or a == b:
        return True
    try:
        x, y = parse_to_datetime(a.encode()), parse_to_datetime(b.encode())
    except ValueError:
        return False
    try:
        return x == y
    except TypeError:  # one naive, one aware
        return x.replace(tzinfo=None) == y.replace(tzinfo=None)


def find_back(appended: Sequence[Appended], records: Sequence[HeaderRecord],
              uids: Sequence[int] | None) -> dict[int, MessageInfo]:
    """Source UID -> the destination message it became, among `records`."""
    out: dict[int, MessageInfo] = {}
    if uids is not None:  # APPENDUID named them
        by_uid = {r.uid: r for r in records}
        for a, uid in zip(appended, uids, strict=True):
            r = by_uid.get(uid)
            if r is not None:
                out[a.msg.uid] = message_info(r, like=a.msg)
        return out
    # The same header bytes first (no parsing), then the same key, then loosely.
    free: dict[bytes, list[HeaderRecord]] = {}
    for r in records:
        free.setdefault(hashlib.sha1(r.headers or b"").digest(), []).append(r)
    rest: list[Appended] = []
    for a in appended:
        same = free.get(a.msg.digest)
        if same:
            out[a.msg.uid] = message_info(same.pop(0), like=a.msg)
        else:
            rest.append(a)
    if not rest:
        return out
    others = [message_info(r) for group in free.values() for r in group]
    unmatched: list[MessageInfo] = []
    for a in rest:
        d = next((d for d in others if d.key == a.msg.key), None)
        if d is None:
            unmatched.append(a.msg)
        else:
            out[a.msg.uid] = d
            others.remove(d)
    by_uid = {d.uid: d for d in others}
    for s_uid, d_uid in loose_match(unmatched, others).items():
        out[s_uid] = by_uid[d_uid]
    return out


def differences(sent: MessageInfo, stored: MessageInfo) -> str:
    """What the destination changed of a message, in words ('' when nothing)."""
    what = []
    if sent.key != stored.key:
        what.append("header bytes")
    if not same_instant(sent.internaldate, stored.internaldate):
        what.append("date")
    if sent.size != stored.size:
        what.append("size")
    return ", ".join(what)
