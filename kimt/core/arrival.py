"""What the destination made of what KIMT appended: find each message again, compare.

A server may store a message otherwise than it was sent (Cyrus turns 8-bit
header bytes into 'X', servers replace dates they don't like, add headers),
so after each batch KIMT fetches the new messages back: by the UIDs the
APPEND answer named (UIDPLUS), or, without them, by what appeared above the
highest UID it knew, matched by key, then loosely, then not at all (mail
delivered meanwhile stays unmatched). `differences` says in words what the
server changed; the copier reports it and the journal remembers it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc
from imapclient.response_parser import parse_fetch_response

from .identity import MessageInfo, loose_match
from .listing import KEY_ITEMS, list_messages, message_info, text

log = logging.getLogger("kimt.copier")


@dataclass
class Appended:
    """A message APPEND accepted, waiting to be found back on the destination."""

    msg: MessageInfo
    size: int  # bytes sent
    dst_uid: int | None  # from APPENDUID, when the server has UIDPLUS


def same_instant(a: object, b: object) -> bool:
    """Two INTERNALDATEs are the same moment (True when one side has none)."""
    if not isinstance(a, datetime) or not isinstance(b, datetime):
        return True  # nothing sent, or nothing to compare with
    try:
        return a == b
    except TypeError:  # one naive, one aware
        return a.replace(tzinfo=None) == b.replace(tzinfo=None)


def find_back(client: IMAPClient, appended: list[Appended], high: int, key_batch: int,
              folder: str) -> tuple[dict[int, MessageInfo], int]:
    """(source UID -> the destination message it became, the new highest UID seen)."""
    known = [a.dst_uid for a in appended if a.dst_uid is not None]
    if len(known) == len(appended):
        infos = {d.uid: d for d in list_messages(client, known, key_batch)}
        return {a.msg.uid: infos[a.dst_uid] for a in appended
                if a.dst_uid is not None and a.dst_uid in infos}, max([high, *infos])
    # No APPENDUID: what appeared above the highest UID seen, matched by key, then
    # loosely; other mail may arrive meanwhile: it stays unmatched.
    log.debug("folder %r: no APPENDUID; looking for %d messages above UID %d",
              folder, len(appended), high)
    new = list_above(client, high)
    out: dict[int, MessageInfo] = {}
    free = list(new)
    for a in appended:
        d = next((d for d in free if d.key == a.msg.key), None)
        if d is not None:
            out[a.msg.uid] = d
            free.remove(d)
    rest = [a.msg for a in appended if a.msg.uid not in out]
    for s_uid, d_uid in loose_match(rest, free).items():
        d = next(d for d in free if d.uid == d_uid)
        out[s_uid] = d
        free.remove(d)
    return out, max([high, *(d.uid for d in new)])


def list_above(client: IMAPClient, uid: int) -> list[MessageInfo]:
    """Key, size, flags and date of every message above `uid` in the selected folder."""
    typ, data = client._imap.uid("FETCH", f"{uid + 1}:*", "(" + " ".join(KEY_ITEMS) + ")")
    if text(typ).upper() != "OK":
        raise imap_exc.IMAPClientError(" ".join(text(d) for d in data if d))
    lines = [d for d in data if d is not None]
    if not lines:
        return []
    parsed = parse_fetch_response(lines, False, True)
    return sorted((message_info(u, d) for u, d in parsed.items()
                   if isinstance(u, int) and u > uid and b"RFC822.SIZE" in d),
                  key=lambda m: m.uid)


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
