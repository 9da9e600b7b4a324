"""IMAP answers as bytes in, Python values out: no socket, no state.

A response arrives as its text pieces and the literals between them (the
reader in `_connection` splits it there), so a 20 MB body is never scanned
by a regular expression: only the few bytes around it are. `fetch_items`
reads the item list of a `* n FETCH (...)` answer; `response_codes` and
`status_items` read what SELECT and STATUS say. Anything that does not
parse raises `Malformed`, which the wire turns into a `ProtocolError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from imapclient import imap_utf7


class Malformed(ValueError):
    """An answer that is not the IMAP KIMT asked for."""


class NotImap(Malformed):
    """A line that is no IMAP response at all (say, a literal's bytes read as lines)."""


# One token of a FETCH item list: ( ) "quoted" NIL or an atom; an atom may carry a
# section in brackets with spaces and parentheses inside, and a partial <n>.
_TOKEN = re.compile(
    rb'[ ]*(?:(\()|(\))|"((?:[^"\\\r\n]|\\.)*)"|([^\s()"\[\]{]+(?:\[[^\]]*\](?:<\d+>)?)?))')
_LITERAL_END = re.compile(rb"\{(\d+)\+?\}$")
_FETCH_HEAD = re.compile(rb"\* (\d+) FETCH \(", re.IGNORECASE)
_CODE = re.compile(rb"\[([A-Z0-9.-]+)(?: ([^\]]*))?\]", re.IGNORECASE)
_NUMBER = re.compile(rb"\d+")


class Literal:
    """A literal's bytes, kept apart from the text pieces (and never copied)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes):
        self.data = data


def literal_size(line: bytes) -> int | None:
    """The size announced by a `{n}` at the end of a line (without CRLF), else None."""
    if not line.endswith(b"}"):
        return None
    m = _LITERAL_END.search(line)
    return int(m.group(1)) if m else None


Piece = bytes | Literal
Token = bytes | Literal | int


def _tokens(parts: Sequence[Piece]) -> Iterator[Token]:
    """Tokens of a response's pieces; -1 for '(' and -2 for ')', literals as `Literal`."""
    for i, part in enumerate(parts):
        if isinstance(part, Literal):
            yield part
            continue
        if i + 1 < len(parts):  # the text before a literal ends with its {n}
            part = part[:part.rindex(b"{")]
        pos, end = 0, len(part)
        while pos < end:
            m = _TOKEN.match(part, pos)
            if m is None or m.end() == pos:
                if part[pos:].strip() == b"":
                    break
                raise Malformed(f"unexpected {part[pos:pos + 40]!r}")
            pos = m.end()
            if m.group(1):
                yield -1
            elif m.group(2):
                yield -2
            elif m.group(3) is not None:
                yield re.sub(rb"\\(.)", rb"\1", m.group(3)) if b"\\" in m.group(3) \
                    else m.group(3)
            elif m.group(4):
                yield m.group(4)


def _value(tokens: Iterator[Token]) -> object:
    t = next(tokens)
    if t == -1:
        return tuple(_list(tokens))
    if t == -2:
        raise Malformed("unexpected ')'")
    if isinstance(t, Literal):
        return t.data
    return None if t == b"NIL" else t


def _list(tokens: Iterator[Token]) -> Iterator[object]:
    while True:
        t = next(tokens, None)
        if t is None:
            raise Malformed("a list that is never closed")
        if t == -2:
            return
        if t == -1:
            yield tuple(_list(tokens))
        elif isinstance(t, Literal):
            yield t.data
        else:
            yield t


def fetch_items(parts: Sequence[Piece]) -> tuple[int, dict[bytes, object]]:
    """(message sequence number, {ITEM: value}) of one `* n FETCH (...)` response.

    Item names are upper-cased (`BODY[]`, `RFC822.SIZE`, `FLAGS`); values are
    bytes (atoms, quoted strings, literals), None for NIL, tuples for lists.
    """
    first = parts[0]
    assert isinstance(first, bytes)
    head = _FETCH_HEAD.match(first)
    if head is None:
        raise Malformed("not a FETCH response")
    rest = [first[head.end():], *parts[1:]]
    tokens = _tokens(rest)
    items: dict[bytes, object] = {}
    try:
        while True:
            name = next(tokens)
            if name == -2:
                break
            if not isinstance(name, bytes):
                raise Malformed("a FETCH item name that is not an atom")
            items[name.upper()] = _value(tokens)
    except StopIteration:
        raise Malformed("a FETCH response that ends early") from None
    return int(head.group(1)), items


def number(value: object, what: str) -> int:
    """An item's value as a number, or `Malformed` naming the item."""
    if isinstance(value, bytes) and _NUMBER.fullmatch(value):
        return int(value)
    raise Malformed(f"{what} {value!r} is not a number")


def flag_names(value: object) -> tuple[str, ...]:
    if not isinstance(value, tuple):
        raise Malformed(f"FLAGS {value!r} is not a list")
    return tuple(f.decode("utf-8", "replace") for f in value if isinstance(f, bytes))


def response_codes(text: bytes) -> dict[bytes, bytes]:
    """{CODE: argument} of the `[CODE arg]` in a status response's text."""
    return {m.group(1).upper(): (m.group(2) or b"") for m in _CODE.finditer(text)}


def status_items(parts: Sequence[Piece]) -> tuple[bytes, dict[bytes, int]]:
    """(encoded folder name, {ITEM: number}) of a `* STATUS name (...)` response."""
    first = parts[0]
    assert isinstance(first, bytes)
    if not first[:9].upper() == b"* STATUS ":
        raise Malformed("not a STATUS response")
    text = first[9:]
    try:
        if len(parts) == 1 and text[:1] != b'"':
            # an atom name may hold '[' and ']' (Gmail's "[Gmail]/Spam"), which the
            # tokens take for a FETCH section: it ends at the space before the list
            name, _, text = text.partition(b" ")
            tokens = _tokens([text])
        else:
            tokens = _tokens([text, *parts[1:]])
            name = _value(tokens)
        values = _value(tokens)
    except StopIteration:
        raise Malformed("a STATUS response that ends early") from None
    if not isinstance(name, bytes) or not isinstance(values, tuple):
        raise Malformed("a STATUS response without its list")
    out = {}
    for i in range(0, len(values) - 1, 2):
        key, val = values[i], values[i + 1]
        if isinstance(key, bytes) and isinstance(val, bytes) and val.isdigit():
            out[key.upper()] = int(val)
    return name, out


def folder_name(name: str) -> bytes:
    """A folder name as a command argument: modified UTF-7, quoted."""
    return quoted(imap_utf7.encode(name))


def quoted(value: bytes) -> bytes:
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def uid_set(uids: Sequence[int]) -> bytes:
    """Sorted UIDs as a compact set: 1:3,7,9:12."""
    out: list[bytes] = []
    ordered = sorted(uids)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(b"%d" % ordered[i] if i == j else b"%d:%d" % (ordered[i], ordered[j]))
        i = j + 1
    return b",".join(out)


def parse_uid_set(value: str) -> list[int]:
    """'5:7,9' -> [5, 6, 7, 9] (a range may be written high:low)."""
    out: list[int] = []
    for part in value.split(","):
        lo, _, hi = part.partition(":")
        a, b = int(lo), int(hi or lo)
        out.extend(range(min(a, b), max(a, b) + 1))
    return out
