"""One logged-in IMAP connection, spoken to in pipelines.

imapclient logs in and lists folders; everything a copy does per folder and
per message is sent here by KIMT itself, several commands at once where RFC
3501 §5.5 allows it (STATUS + EXAMINE + UID FETCH of a folder, key fetches
in chunks, STOREs, CREATEs, an APPEND with LITERAL+ and the fetch that finds
its messages back), so a link's round trip is paid once per step, not per
command. Answers are read straight from the socket: a body literal goes from
the socket's buffer into the bytes the APPEND sends, with no parser over it.
Each connection is used by one thread at a time.
"""

from __future__ import annotations

import imaplib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from imapclient import IMAPClient

from ..listing import KEY_ITEMS, FolderStatus
from ._errors import Refused, Throttled, throttling, translate, words
from ._protocol import (
    Literal,
    Malformed,
    NotImap,
    Piece,
    fetch_items,
    flag_names,
    folder_name,
    literal_size,
    number,
    parse_uid_set,
    quoted,
    response_codes,
    status_items,
    uid_set,
)

log = logging.getLogger("kimt.wire")

_SEND_SLICE = 2**20
_FETCH_KEYS = b"(" + " ".join(KEY_ITEMS).encode() + b")"
_LISTINGS = {"flags": b"(UID FLAGS)", "sizes": b"(UID FLAGS RFC822.SIZE INTERNALDATE)",
             "keys": _FETCH_KEYS}
_STATUS_ITEMS = (b"MESSAGES", b"UIDNEXT", b"UIDVALIDITY")


@dataclass(slots=True)
class HeaderRecord:
    """A message as a key listing shows it: raw, parsed into meaning by `listing`."""

    uid: int
    size: int
    flags: tuple[str, ...]
    internaldate: str | None  # as the server wrote it: sent back unchanged on APPEND
    headers: bytes | None  # the key headers' block; None when not asked for


@dataclass
class FolderView:
    """What opening a folder told: its state, and the listing asked for with it."""

    uidvalidity: int
    uidnext: int
    exists: int
    permanent_flags: frozenset[str] | None  # None: the server did not say
    modseq: int | None
    status: FolderStatus | None = None  # STATUS before the SELECT, when asked
    flags: dict[int, tuple[str, ...]] = field(default_factory=dict)
    records: list[HeaderRecord] | None = None  # every message's key headers, when asked


@dataclass
class Outgoing:
    """One message as APPEND sends it."""

    flags: Sequence[str]
    internaldate: str | None
    raw: bytes


@dataclass
class AppendAnswer:
    uidvalidity: int | None  # with the UIDs, from APPENDUID (RFC 4315), where UIDPLUS is
    uids: list[int] | None
    fetched: list[HeaderRecord] | None  # the records asked for with it


@dataclass
class _Done:
    ok: bool
    text: bytes
    codes: dict[bytes, bytes]


class Wire:
    """A logged-in connection: the operations a migration needs, pipelined."""

    def __init__(self, client: IMAPClient, role: str, address: str):
        self.client = client
        self._imap = client._imap  # the socket and its buffered reader
        self.role, self.address = role, address
        self._tag = 0
        self._where = ""
        self._caps: frozenset[str] | None = None
        self.selected: str | None = None

    # -- capabilities and folders, through imapclient -----------------------------------

    def capabilities(self) -> frozenset[str]:
        if self._caps is None:
            with translate():
                self._caps = frozenset(c.decode("ascii", "replace").upper()
                                       for c in self.client.capabilities())
        return self._caps

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities()

    def append_limit(self) -> int | None:
        for cap in self.capabilities():
            if cap.startswith("APPENDLIMIT="):
                value = cap.split("=", 1)[1]
                return int(value) if value.isdigit() else None
        return None

    def namespace(self):  # imapclient's Namespace tuple
        with translate():
            return self.client.namespace()

    def list_folders(self, reference: str = "", pattern: str = "*",
                     ) -> list[tuple[tuple[bytes, ...], bytes | None, str]]:
        with translate():
            return self.client.list_folders(reference, pattern)

    def list_subscribed(self) -> list[tuple[tuple[bytes, ...], bytes | None, str]]:
        with translate():
            return self.client.list_sub_folders()

    def close(self) -> None:
        """LOGOUT, or just drop the connection when the server can't take it any more."""
        try:
            self.client.logout()
        except Exception:
            try:
                self.client.shutdown()
            except Exception:
                pass

    # -- the pipeline --------------------------------------------------------------------

    def _new_tag(self) -> bytes:
        self._tag += 1
        return b"K%d" % self._tag

    def _send(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        # A socket timeout bounds each slice: a stall is caught without limiting how
        # long a big message may take.
        for offset in range(0, len(view), _SEND_SLICE):
            self._imap.send(view[offset:offset + _SEND_SLICE])

    def _read_response(self) -> list[Piece]:
        """One response: its text pieces (without CRLF) and the literals between them."""
        parts: list[Piece] = []
        while True:
            line = self._imap.readline()
            if not line.endswith(b"\n"):
                raise OSError("the server closed the connection")
            line = line.rstrip(b"\r\n")
            parts.append(line)
            size = literal_size(line)
            if size is None:
                return parts
            data = self._imap.read(size)
            if len(data) < size:
                raise OSError("the server closed the connection in the middle of an answer")
            parts.append(Literal(data))

    def _pipeline(self, commands: Sequence[bytes],
                  on_untagged: Callable[[list[Piece]], None] | None = None) -> list[_Done]:
        """Send every command at once, then read until each is answered; untagged
        responses go to `on_untagged`. Refusals are returned, not raised."""
        tags = [self._new_tag() for _ in commands]
        self._send(b"".join(t + b" " + c + b"\r\n" for t, c in zip(tags, commands, strict=True)))
        return self._collect(tags, on_untagged)

    def _collect(self, tags: Sequence[bytes],
                 on_untagged: Callable[[list[Piece]], None] | None) -> list[_Done]:
        done: dict[bytes, _Done] = {}
        last = tags[-1]
        while last not in done:
            parts = self._read_response()
            first = parts[0]
            assert isinstance(first, bytes)
            if first.startswith(b"* "):
                self._untagged(parts, on_untagged)
                continue
            tag, _, rest = first.partition(b" ")
            if tag in tags:
                status, _, text = rest.partition(b" ")
                done[tag] = _Done(status.upper() == b"OK", text, response_codes(text))
            elif first.startswith(b"+"):
                continue  # a continuation nobody waits for: nothing to send
            else:
                raise NotImap(f"a line that is not an IMAP response: {first[:60]!r}")
        return [done.get(t) or _Done(False, b"no answer", {}) for t in tags]

    def _untagged(self, parts: list[Piece], on_untagged: Callable | None) -> None:
        first = parts[0]
        assert isinstance(first, bytes)
        if first[2:5].upper() == b"BYE":
            said = words(first[6:]) or "BYE"
            limit = throttling(said, self._where)
            if limit is not None:
                raise limit
            raise imaplib.IMAP4.abort(said)
        if on_untagged is not None:
            on_untagged(parts)

    def _refused(self, done: _Done, what: str) -> Refused | Throttled:
        said = words(done.text)
        return throttling(said, self._where) or Refused(said or f"{what} refused "
                                                               "without a reason")

    # -- a folder ------------------------------------------------------------------------

    def open_folder(self, name: str, *, readonly: bool, label: str, status: bool = False,
                    listing: str = "flags") -> FolderView:
        """[STATUS], SELECT or EXAMINE, and every message's listing at once: its flags
        ("flags"), also its size and date ("sizes": records without headers) or also its
        key headers ("keys")."""
        keys = listing != "flags"
        self._where = f" in folder '{label}'"
        encoded = folder_name(name)
        commands = []
        if status:
            commands.append(b"STATUS " + encoded + b" (" + b" ".join(self._status_items())
                            + b")")
        commands.append((b"EXAMINE " if readonly else b"SELECT ") + encoded)
        commands.append(b"UID FETCH 1:* " + _LISTINGS[listing])
        view = FolderView(0, 0, 0, None, None, records=[] if keys else None)
        statuses: dict[bytes, dict[bytes, int]] = {}
        codes: dict[bytes, bytes] = {}
        records: list[HeaderRecord] = []
        selecting = True

        def untagged(parts: list[Piece]) -> None:
            nonlocal selecting
            first = parts[0]
            assert isinstance(first, bytes)
            head = first[2:12].upper()
            if head.startswith(b"STATUS"):
                got, values = status_items(parts)
                statuses[got] = values
            elif head.startswith((b"OK [", b"NO [")):
                codes.update(response_codes(first))
            elif first.endswith((b" EXISTS", b" exists")) and selecting:
                view.exists = number(first[2:-7], "EXISTS")
            elif b" FETCH " in first[:30].upper():
                selecting = False
                if keys:
                    record = _record(parts)
                    if record is not None:
                        records.append(record)
                else:
                    _, items = fetch_items(parts)
                    if b"UID" in items and b"FLAGS" in items:
                        view.flags[number(items[b"UID"], "UID")] = flag_names(items[b"FLAGS"])

        with translate(self._where):
            answers = self._pipeline(commands, untagged)
            selected = answers[-2]
            if not selected.ok:
                self.selected = None
                raise self._refused(selected, "SELECT")
            if not answers[-1].ok and view.exists:  # some refuse 1:* in an empty folder
                raise self._refused(answers[-1], "UID FETCH")
        self.selected = name
        codes.update(selected.codes)
        view.uidvalidity = _int(codes.get(b"UIDVALIDITY"))
        view.uidnext = _int(codes.get(b"UIDNEXT"))
        if b"HIGHESTMODSEQ" in codes:
            view.modseq = _int(codes[b"HIGHESTMODSEQ"])
        if b"PERMANENTFLAGS" in codes:
            view.permanent_flags = frozenset(
                f.decode("utf-8", "replace") for f in codes[b"PERMANENTFLAGS"].strip(b"()").split())
        if status and statuses:
            values = next(iter(statuses.values()))
            view.status = _folder_status(values)
        if keys:
            view.records = records
            view.flags = {r.uid: r.flags for r in records}
        return view

    def _status_items(self) -> list[bytes]:
        return [*_STATUS_ITEMS, *([b"HIGHESTMODSEQ"] if self.has("CONDSTORE") else [])]

    def status_many(self, names: Sequence[str]) -> dict[str, FolderStatus]:
        """STATUS of every folder in `names`, pipelined: one round trip. A folder whose
        answer can't be read is left out (the caller then lists it in full)."""
        out = {}
        for name, values in self._status(names, self._status_items()).items():
            status = _folder_status(values)
            if status is not None:
                out[name] = status
        return out

    def status_sizes(self, names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """{name: (messages, bytes)} by STATUS (MESSAGES SIZE) (RFC 8438), pipelined."""
        return {name: (values.get(b"MESSAGES", 0), values.get(b"SIZE", 0))
                for name, values in self._status(names, [b"MESSAGES", b"SIZE"]).items()}

    def _status(self, names: Sequence[str], items: list[bytes],
                ) -> dict[str, dict[bytes, int]]:
        if not names:
            return {}
        wanted = {}
        commands = []
        asked = b" (" + b" ".join(items) + b")"
        for name in names:
            encoded = folder_name(name)
            wanted[encoded[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")] = name
            commands.append(b"STATUS " + encoded + asked)
        out: dict[str, dict[bytes, int]] = {}

        def untagged(parts: list[Piece]) -> None:
            first = parts[0]
            if isinstance(first, bytes) and first[2:9].upper() == b"STATUS ":
                try:
                    got, values = status_items(parts)
                except Malformed:
                    return
                name = wanted.get(got)
                if name is not None:
                    out[name] = values

        with translate(self._where):
            answers = self._pipeline(commands, untagged)
        refused = sum(1 for a in answers if not a.ok)
        if refused:
            log.debug("STATUS refused for %d of %d folders", refused, len(names))
        return out

    # -- listing -------------------------------------------------------------------------

    def fetch_keys(self, uids: Sequence[int], batch: int = 1000) -> list[HeaderRecord]:
        """Key headers, size, flags and date of the given UIDs, all chunks pipelined."""
        ordered = sorted(uids)
        commands = [b"UID FETCH " + uid_set(ordered[i:i + batch]) + b" " + _FETCH_KEYS
                    for i in range(0, len(ordered), batch)]
        return self._fetch_records(commands, set(ordered))

    def fetch_above(self, uid: int) -> list[HeaderRecord]:
        """Key records of every message above `uid` in the selected folder."""
        records = self._fetch_records([b"UID FETCH %d:* " % (uid + 1) + _FETCH_KEYS], None)
        return [r for r in records if r.uid > uid]

    def _fetch_records(self, commands: list[bytes], wanted: set[int] | None,
                       ) -> list[HeaderRecord]:
        if not commands:
            return []
        records: list[HeaderRecord] = []

        def untagged(parts: list[Piece]) -> None:
            record = _record(parts)
            if record is not None and (wanted is None or record.uid in wanted):
                records.append(record)

        with translate(self._where):
            for answer in self._pipeline(commands, untagged):
                if not answer.ok:
                    raise self._refused(answer, "UID FETCH")
        records.sort(key=lambda r: r.uid)
        return records

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        """{uid: the whole message} of the given UIDs (BODY.PEEK: the source is left
        unread); a UID deleted meanwhile is simply absent."""
        if not uids:
            return {}
        out: dict[int, bytes] = {}
        wanted = set(uids)

        def untagged(parts: list[Piece]) -> None:
            if len(parts) < 2 or b" FETCH " not in parts[0][:30].upper():  # type: ignore[index]
                return
            _, items = fetch_items(parts)
            body = items.get(b"BODY[]")
            uid = items.get(b"UID")
            if isinstance(body, bytes) and uid is not None:
                u = number(uid, "UID")
                if u in wanted:
                    out[u] = body

        with translate(self._where):
            answer, = self._pipeline([b"UID FETCH " + uid_set(uids) + b" (UID BODY.PEEK[])"],
                                     untagged)
            if not answer.ok:
                raise self._refused(answer, "UID FETCH")
        return out

    # -- writing -------------------------------------------------------------------------

    def append(self, folder: str, items: Sequence[Outgoing], *,
               fetch: Sequence[int] = ()) -> AppendAnswer:
        """One APPEND (MULTIAPPEND for several); with `fetch`, the key records of those
        UIDs of the selected folder, read in the same round trip. A refusal raises
        `Refused` with the server's words.

        Only UIDs that exist before this APPEND can be fetched with it: Dovecot
        evaluates a pipelined FETCH's UID set while the APPEND is still running.
        """
        literal_plus = self.has("LITERAL+")
        tag = self._new_tag()
        line = tag + b" APPEND " + folder_name(folder)
        records: list[HeaderRecord] = []
        with translate(self._where):
            for item in items:
                line += b" (" + " ".join(item.flags).encode("ascii", "replace") + b")"
                if item.internaldate:
                    line += b" " + quoted(item.internaldate.encode("ascii", "replace"))
                line += b" {%d%s}\r\n" % (len(item.raw), b"+" if literal_plus else b"")
                self._send(line)
                if not literal_plus:
                    done = self._wait_continuation(tag)
                    if done is not None:
                        raise self._refused(done, "APPEND")
                self._send(item.raw)
                line = b""
            tags = [tag]
            tail = b"\r\n"
            if fetch:
                tags.append(self._new_tag())
                tail += tags[1] + b" UID FETCH " + uid_set(fetch) + b" " + _FETCH_KEYS + b"\r\n"
            self._send(tail)
            wanted = set(fetch)

            def untagged(parts: list[Piece]) -> None:
                record = _record(parts)
                if record is not None and record.uid in wanted:
                    records.append(record)

            answers = self._collect(tags, untagged)
        if not answers[0].ok:
            raise self._refused(answers[0], "APPEND")
        validity, uids = None, None
        code = answers[0].codes.get(b"APPENDUID")
        if code:
            first, _, uid_text = code.decode("ascii", "replace").partition(" ")
            try:
                found = parse_uid_set(uid_text)
                if len(found) == len(items):
                    validity, uids = int(first), found
            except ValueError:
                pass
        fetched = records if fetch and answers[-1].ok else None
        return AppendAnswer(validity, uids, fetched)

    def _wait_continuation(self, tag: bytes) -> _Done | None:
        """Wait for the '+' that lets a synchronising literal go; the tagged answer if
        the server refused instead."""
        while True:
            parts = self._read_response()
            first = parts[0]
            assert isinstance(first, bytes)
            if first.startswith(b"+"):
                return None
            if first.startswith(b"* "):
                self._untagged(parts, None)
                continue
            got, _, rest = first.partition(b" ")
            if got == tag:
                status, _, text = rest.partition(b" ")
                return _Done(status.upper() == b"OK", text, response_codes(text))
            raise NotImap(f"a line that is not an IMAP response: {first[:60]!r}")

    def store_flags(self, groups: Sequence[tuple[Sequence[int], Sequence[str]]],
                    ) -> dict[int, tuple[str, ...]]:
        """Set these flags on these UIDs (one UID STORE per group, pipelined); the flags
        the server says it stored, per UID."""
        if not groups:
            return {}
        stored: dict[int, tuple[str, ...]] = {}

        def untagged(parts: list[Piece]) -> None:
            first = parts[0]
            if isinstance(first, bytes) and b" FETCH " in first[:30].upper():
                _, items = fetch_items(parts)
                if b"UID" in items and b"FLAGS" in items:
                    stored[number(items[b"UID"], "UID")] = flag_names(items[b"FLAGS"])

        commands = [b"UID STORE " + uid_set(uids) + b" FLAGS ("
                    + " ".join(flags).encode("ascii", "replace") + b")"
                    for uids, flags in groups]
        with translate(self._where):
            for answer in self._pipeline(commands, untagged):
                if not answer.ok:
                    raise self._refused(answer, "STORE")
        return stored

    def create_folders(self, folders: Iterable[tuple[str, str | None]],
                       ) -> list[str | None]:
        """CREATE each (name, special use) in order, pipelined (a parent before its
        children); per folder None when it is there now, else the server's words."""
        commands = []
        for name, special_use in folders:
            command = b"CREATE " + folder_name(name)
            if special_use:  # CREATE-SPECIAL-USE (RFC 6154)
                command += b" (USE (" + special_use.encode("ascii") + b"))"
            commands.append(command)
        if not commands:
            return []
        with translate():
            answers = self._pipeline(commands)
        return [None if a.ok or b"ALREADYEXISTS" in a.codes else
                (words(a.text) or "refused without a reason") for a in answers]

    def subscribe(self, names: Sequence[str]) -> list[str | None]:
        """SUBSCRIBE each, pipelined; per folder None or the server's words."""
        if not names:
            return []
        with translate():
            answers = self._pipeline([b"SUBSCRIBE " + folder_name(n) for n in names])
        return [None if a.ok else words(a.text) for a in answers]

    def sizes(self, name: str) -> list[int]:
        """The size of every message of a folder (EXAMINE, one UID FETCH)."""
        sizes: list[int] = []
        self._where = f" in folder '{name}'"

        def untagged(parts: list[Piece]) -> None:
            first = parts[0]
            if isinstance(first, bytes) and b" FETCH " in first[:30].upper():
                _, items = fetch_items(parts)
                if b"RFC822.SIZE" in items:
                    sizes.append(number(items[b"RFC822.SIZE"], "RFC822.SIZE"))

        with translate(self._where):
            answers = self._pipeline([b"EXAMINE " + folder_name(name),
                                      b"UID FETCH 1:* (UID RFC822.SIZE)"], untagged)
            for answer in answers:
                if not answer.ok:
                    raise self._refused(answer, "EXAMINE")
        return sizes


def _int(value: bytes | None) -> int:
    if not value:
        return 0
    try:
        return int(value.split()[0])
    except ValueError:
        raise Malformed(f"{value!r} is not a number") from None


def _folder_status(values: dict[bytes, int]) -> FolderStatus | None:
    try:
        return FolderStatus(values[b"UIDVALIDITY"], values[b"UIDNEXT"], values[b"MESSAGES"],
                            values.get(b"HIGHESTMODSEQ"))
    except KeyError:
        return None


def _record(parts: list[Piece]) -> HeaderRecord | None:
    """A key listing's FETCH answer as a record; None for an unsolicited FETCH."""
    first = parts[0]
    if not isinstance(first, bytes) or b" FETCH " not in first[:30].upper():
        return None
    _, items = fetch_items(parts)
    if b"RFC822.SIZE" not in items or b"UID" not in items:
        return None  # a flag change the server reports on its own, not our answer
    headers = None
    for key, value in items.items():
        if key.startswith(b"BODY[HEADER"):
            headers = value if isinstance(value, bytes) else b""
            break
    date = items.get(b"INTERNALDATE")
    return HeaderRecord(
        uid=number(items[b"UID"], "UID"),
        size=number(items[b"RFC822.SIZE"], "RFC822.SIZE"),
        flags=flag_names(items.get(b"FLAGS", ())),
        internaldate=date.decode("ascii", "replace") if isinstance(date, bytes) else None,
        headers=headers,
    )
