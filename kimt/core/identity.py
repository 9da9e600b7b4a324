"""Which source messages are already on the destination.

A message's key is a hash of the headers that servers do not rewrite —
Message-ID, Date, From, Subject — each normalised (RFC 2047 decoded,
whitespace folded, dates as instants). Size and INTERNALDATE are left out
because servers change them. For every key, the messages to copy are the
multiset difference "source minus destination", so a re-run copies nothing
and two identical source messages give two copies. When a key is shared by
several messages on either side, their bodies (line endings normalised) are
hashed and the difference is taken per body, so two different drafts without
a Message-ID are never taken for each other.

Destinations rewrite what they store (Cyrus turns 8-bit header bytes into
'X', servers add headers), so an altered copy no longer has its source's
key. The migration journal (`journal`) remembers where each message went;
without it, `loose_match` pairs what the keys left over by Message-ID, else
by Date + sender + a size window, each destination message at most once.
Everything here is pure: no server, no state.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses, mktime_tz, parsedate_tz

KEY_HEADERS = ("MESSAGE-ID", "DATE", "FROM", "SUBJECT")
FETCH_KEY_ITEM = f"BODY.PEEK[HEADER.FIELDS ({' '.join(KEY_HEADERS)})]"

_WS = re.compile(r"\s+")


@dataclass(slots=True)
class MessageInfo:
    """What KIMT knows of one message before fetching its body."""

    uid: int
    key: str
    size: int
    flags: tuple[str, ...]
    internaldate: str | None  # as the source wrote it: APPEND sends it back unchanged
    subject: str = ""
    date: str = ""
    message_id: str = ""  # normalised, for the loose match
    sender: str = ""  # the From addresses, lower case
    instant: str = ""  # the Date header as a UNIX time, else as written
    digest: bytes = b""  # of the key headers' raw bytes: the same bytes need no parse


def _fold(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _decode(value: str) -> str:
    if "=?" not in value:  # no encoded-word: nothing to decode (most headers)
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # malformed encoded-words: keep the raw text
        return value


def _parse_headers(raw: bytes) -> dict[str, str]:
    """First occurrence of each header, unfolded; 8-bit bytes read as UTF-8."""
    out: dict[str, str] = {}
    current: str | None = None
    for line in raw.split(b"\n"):
        line = line.rstrip(b"\r")
        if not line:
            if out or current:
                break  # the blank line that ends the header block
            continue
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                out[current] += " " + line.strip().decode("utf-8", "surrogateescape")
            continue
        name, colon, value = line.partition(b":")
        current = None
        if not colon:
            continue
        key = name.strip().lower().decode("ascii", "replace")
        if key not in out:
            out[key] = value.strip().decode("utf-8", "surrogateescape")
            current = key
    return out


_KEY_NAMES = frozenset(h.lower().encode() for h in KEY_HEADERS)


def key_block(message: bytes) -> bytes:
    """The key headers of a whole message as `FETCH_KEY_ITEM` shows them (Dovecot's
    form: those lines and their continuations in the message's order, CRLF, a blank
    line), so a message listed without headers gets its key from its body."""
    end = message.find(b"\r\n\r\n")
    # A bare-LF blank line can only end the header before that one: search no further
    # (a body is up to megabytes; the header a few hundred bytes).
    lf_end = message.find(b"\n\n", 0, end if end >= 0 else len(message))
    if lf_end >= 0:
        end = lf_end
    head = message if end < 0 else message[:end]
    out: list[bytes] = []
    keep = False
    for line in head.split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line)
            continue
        name, colon, _ = line.partition(b":")
        keep = bool(colon) and name.strip().lower() in _KEY_NAMES
        if keep:
            out.append(line)
    return b"".join(x + b"\r\n" for x in out) + b"\r\n"


def header_fields(raw_headers: bytes) -> dict[str, str]:
    """Decoded, whitespace-folded Message-ID/Date/From/Subject of a header block."""
    headers = _parse_headers(raw_headers)
    return {
        "message-id": _fold(headers.get("message-id", "")),
        "date": _fold(headers.get("date", "")),
        "from": _fold(_decode(headers.get("from", ""))),
        "subject": _fold(_decode(headers.get("subject", ""))),
    }


# `Name <box@host>` or a bare `box@host` with nothing getaddresses would read otherwise
# (no quotes, comments, groups or second address): the same answer, without its parser.
_SIMPLE_FROM = re.compile(r"(?:[^\"(),:;<>@\\]*<([^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+)>"
                          r"|([^\s\"(),:;<>@\\]+@[^\s\"(),:;<>@\\]+))\s*")


def _simple_address(value: str) -> list[str] | None:
    m = _SIMPLE_FROM.fullmatch(value.strip())
    if m is None:
        return None
    return [(m.group(1) or m.group(2)).lower()]


def key_parts(fields: dict[str, str]) -> tuple[str, str, str, str]:
    """(message-id, date instant, sender, subject) normalised from `header_fields`."""
    msgid = fields["message-id"].replace(" ", "").strip("<>").lower()
    date = fields["date"]
    parsed = parsedate_tz(date) if date else None
    if parsed is not None:
        try:
            date = str(mktime_tz(parsed))
        except (OverflowError, ValueError):
            date = date.lower()
    else:
        date = date.lower()
    addresses = _simple_address(fields["from"]) or [
        a.lower() for _, a in getaddresses([fields["from"]]) if a]
    sender = ",".join(addresses) if addresses else fields["from"].lower()
    return msgid, date, sender, fields["subject"]


def message_key(fields: dict[str, str]) -> str:
    """Stable key from `header_fields`: equal for a message and its copy."""
    blob = "\x00".join(key_parts(fields)).encode("utf-8", "surrogatepass")
    return hashlib.sha1(blob).hexdigest()[:24]


def body_hash(raw: bytes) -> str:
    """Hash of a whole message, blind to CRLF/LF differences servers introduce."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


HashFetcher = Callable[[Sequence[int]], dict[int, str]]


@dataclass
class CopyPlan:
    to_copy: list[MessageInfo]  # source messages, in source UID order
    already_there: int  # source messages matched on the destination
    pairs: dict[int, int] = field(default_factory=dict)  # source UID -> destination UID


def plan_copy(
    source: Iterable[MessageInfo],
    destination: Iterable[MessageInfo],
    source_hashes: HashFetcher,
    destination_hashes: HashFetcher,
) -> CopyPlan:
    """Multiset difference of keys, refined by body hash where keys collide."""
    src_by_key: dict[str, list[MessageInfo]] = defaultdict(list)
    dst_by_key: dict[str, list[MessageInfo]] = defaultdict(list)
    for m in source:
        src_by_key[m.key].append(m)
    for m in destination:
        dst_by_key[m.key].append(m)

    to_copy: list[MessageInfo] = []
    ambiguous_src: list[MessageInfo] = []
    ambiguous_dst: list[MessageInfo] = []
    matched = 0
    pairs: dict[int, int] = {}
    for key, src in src_by_key.items():
        dst = dst_by_key.get(key, [])
        if len(src) == 1 and len(dst) <= 1:
            if dst:
                matched += 1
                pairs[src[0].uid] = dst[0].uid
            else:
                to_copy.append(src[0])
        elif not dst:
            to_copy.extend(src)
        else:
            ambiguous_src.extend(src)
            ambiguous_dst.extend(dst)

    if ambiguous_src:
        src_h = source_hashes([m.uid for m in ambiguous_src])
        dst_h = destination_hashes([m.uid for m in ambiguous_dst])
        dst_uids: dict[tuple[str, str], list[int]] = defaultdict(list)
        for m in ambiguous_dst:
            dst_uids[(m.key, dst_h.get(m.uid, ""))].append(m.uid)
        for m in ambiguous_src:
            free = dst_uids[(m.key, src_h.get(m.uid, ""))]
            if free:
                matched += 1
                pairs[m.uid] = free.pop(0)
            else:
                to_copy.append(m)

    to_copy.sort(key=lambda m: m.uid)
    return CopyPlan(to_copy, matched, pairs)


def size_window(size: int) -> int:
    """How far a destination's size may stray from the source's in a loose match:
    servers add a header or two (a few hundred bytes) or re-encode a little."""
    return max(4096, size // 20)


def loose_match(source: Iterable[MessageInfo], destination: Iterable[MessageInfo],
                ) -> dict[int, int]:
    """Source UID -> destination UID for messages whose full keys did not match.

    Only for messages a destination may have altered on arrival: the same
    Message-ID when the source has one (closest size wins), else the same
    Date and sender within `size_window`. A message whose Message-ID itself
    was altered (8-bit bytes in it) is paired by Date and sender only at the
    very same size. Each destination message is taken at most once, and only
    from `destination` (the ones no other source message claims).
    """
    by_id: dict[str, list[MessageInfo]] = defaultdict(list)
    by_date: dict[tuple[str, str], list[MessageInfo]] = defaultdict(list)
    for d in destination:
        if d.message_id:
            by_id[d.message_id].append(d)
        if d.instant or d.sender:
            by_date[(d.instant, d.sender)].append(d)
    taken: set[int] = set()
    pairs: dict[int, int] = {}

    def take(m: MessageInfo, candidates: list[MessageInfo]) -> None:
        free = [d for d in candidates if d.uid not in taken]
        if free:
            best = min(free, key=lambda d: (abs(d.size - m.size), d.uid))
            taken.add(best.uid)
            pairs[m.uid] = best.uid

    source = list(source)
    for m in source:
        if m.message_id:
            take(m, by_id.get(m.message_id, []))
        elif m.instant or m.sender:
            take(m, [d for d in by_date.get((m.instant, m.sender), [])
                     if not d.message_id and abs(d.size - m.size) <= size_window(m.size)])
    for m in source:
        if m.uid not in pairs and m.message_id and not m.message_id.isascii():
            take(m, [d for d in by_date.get((m.instant, m.sender), []) if d.size == m.size])
    return pairs  # the rest has nothing to go by: copied rather than guessed
