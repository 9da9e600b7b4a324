"""APPEND on the wire: literals sent from the fetched bytes, and what the server answered.

imapclient's `multiappend` copies every message twice on its way into a
literal (three times the batch in memory) and drops the tagged answer's
response code; `append_raw` sends the bytes as fetched, so a 100 MB message
is held once, and returns the destination UIDs from APPENDUID (RFC 4315)
when the server has UIDPLUS. The journal needs exactly those UIDs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc
from imapclient.datetime_util import datetime_to_INTERNALDATE

from .listing import text

_SEND_SLICE = 2**20
_APPENDUID = re.compile(r"\[APPENDUID (\d+) ([\d:,]+)\]", re.IGNORECASE)


@dataclass
class Outgoing:
    """One message as APPEND sends it."""

    flags: Sequence[str]
    internaldate: datetime | None
    raw: bytes


def uid_set(value: str) -> list[int]:
    """'5:7,9' -> [5, 6, 7, 9] (a range may be written high:low)."""
    out: list[int] = []
    for part in value.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out


def appended_uids(answer: str, count: int) -> tuple[int, list[int]] | None:
    """(UIDVALIDITY, UIDs) from a tagged OK's APPENDUID code, when it names `count` UIDs."""
    m = _APPENDUID.search(answer)
    if not m:
        return None
    try:
        uids = uid_set(m.group(2))
    except ValueError:
        return None
    return (int(m.group(1)), uids) if len(uids) == count else None


def append_raw(client: IMAPClient, folder: str, items: Sequence[Outgoing]) -> str:
    """One APPEND (MULTIAPPEND for several); the tagged OK's text, or IMAPClientError.

    Sent in slices: a socket timeout bounds each send, so it catches a stall
    without limiting how long a big message may take.
    """
    imap = client._imap  # imapclient has no streaming APPEND
    literal_plus = client.has_capability("LITERAL+")
    tag = imap._new_tag()
    line = tag + b" APPEND " + client._normalise_folder(folder)
    for item in items:
        line += b" (" + " ".join(item.flags).encode("ascii", "replace") + b")"
        if isinstance(item.internaldate, datetime):
            line += b' "' + datetime_to_INTERNALDATE(item.internaldate).encode() + b'"'
        line += b" {%d%s}\r\n" % (len(item.raw), b"+" if literal_plus else b"")
        imap.send(line)
        if not literal_plus:
            while imap._get_response():  # None: the server's "+" continuation
                if imap.tagged_commands.get(tag):
                    raise imap_exc.IMAPClientError(
                        text(imap.tagged_commands[tag][1][-1] or b"APPEND refused"))
        view = memoryview(item.raw)
        for offset in range(0, len(item.raw), _SEND_SLICE):
            imap.send(view[offset:offset + _SEND_SLICE])
        line = b""
    imap.send(b"\r\n")
    typ, data = imap._command_complete("APPEND", tag)
    words = " ".join(text(d) for d in data if d) if isinstance(data, list) else text(data)
    if text(typ).upper() != "OK":  # a tagged NO comes back as a value, not raised
        raise imap_exc.IMAPClientError(words or f"APPEND answered {text(typ)}")
    return words
