"""An in-memory stand-in for `kimt.core.wire.Wire`: the copy policy tested without a server.

The seam is the wire, as httpx's `MockTransport` is the seam under its
`Client`: `FolderCopier`, `MailboxRun` (through its `connector`), folders,
hierarchy and flags call only a `Wire`'s public methods, so a `FakeWire`
with the same methods, records (`FolderView`, `HeaderRecord`,
`AppendAnswer`, `FolderStatus`) and errors (`Refused` for a NO/BAD,
`ConnectError`/`SessionEnded` for a broken connection, `ProtocolError`)
runs the real policy in milliseconds on any system. Behind the connections
is one `FakeServer`: per user, folders with UIDVALIDITY, UIDNEXT,
HIGHESTMODSEQ and messages (raw bytes, flags, INTERNALDATE), subscriptions,
a namespace; capability switches (LITERAL+, MULTIAPPEND, UIDPLUS, CONDSTORE,
APPENDLIMIT, CREATE-SPECIAL-USE); and injected faults and rewrites (refusals,
broken connections, Cyrus's 8-bit header munging, vanishing messages, a
connection limit). Answers are built the way Dovecot 2.3 builds them (key
headers: the chosen lines in the message's order and a blank line; CRLF
line ends; EXAMINE's empty PERMANENTFLAGS). The Dovecot tests stay: they are
the truth this fake imitates.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from imapclient.imapclient import Namespace

from kimt.core.errors import ConnectError, LoginError, ProtocolError
from kimt.core.listing import FolderStatus
from kimt.core.servers import ServerConfig
from kimt.core.wire import AppendAnswer, FolderView, HeaderRecord, Outgoing, Refused, SessionEnded

USER = "jdoe@example.com"
KEY_FIELDS = (b"message-id", b"date", b"from", b"subject")  # identity.KEY_HEADERS
DEFAULT_PERMANENT = frozenset({"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft",
                               "\\*"})
SYSTEM_FLAGS = frozenset({"\\answered", "\\flagged", "\\deleted", "\\seen", "\\draft"})
NOW = "01-Jan-2025 12:00:00 +0000"  # INTERNALDATE of an APPEND that gives none


def crlf(raw: bytes) -> bytes:
    """Line ends as a server returns them: CRLF (Dovecot converts bare LFs)."""
    return re.sub(rb"\r?\n", b"\r\n", raw)


def header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[:end + 2]


def key_headers(raw: bytes) -> bytes:
    """What BODY.PEEK[HEADER.FIELDS (MESSAGE-ID DATE FROM SUBJECT)] returns: every line of
    those fields, continuations and repeats included, in the message's order, then a
    blank line (checked against Dovecot 2.3)."""
    out: list[bytes] = []
    keep = False
    for line in header_block(raw).split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                out.append(line + b"\r\n")
            continue
        name, colon, _ = line.partition(b":")
        keep = bool(colon) and name.strip().lower() in KEY_FIELDS
        if keep:
            out.append(line + b"\r\n")
    return b"".join(out) + b"\r\n"


def eight_bit_to_x(raw: bytes) -> bytes:
    """Cyrus's munge8bit: every 8-bit byte of the header turned into 'X'."""
    head = header_block(raw)
    return re.sub(rb"[\x80-\xff]", b"X", head) + raw[len(head):]


@dataclass
class StoredMessage:
    uid: int
    raw: bytes
    flags: tuple[str, ...]
    internaldate: str

    def record(self) -> HeaderRecord:
        return HeaderRecord(self.uid, len(self.raw), self.flags, self.internaldate,
                            key_headers(self.raw))


@dataclass
class FakeFolder:
    name: str
    uidvalidity: int
    special_use: str | None = None
    uidnext: int = 1
    highestmodseq: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)  # by UID, ascending

    def status(self, condstore: bool) -> FolderStatus:
        return FolderStatus(self.uidvalidity, self.uidnext, len(self.messages),
                            self.highestmodseq if condstore else None)

    def changed(self) -> int:
        self.highestmodseq += 1
        return self.highestmodseq


@dataclass
class Mailbox:
    folders: dict[str, FakeFolder] = field(default_factory=dict)  # by server name
    subscribed: set[str] = field(default_factory=set)


@dataclass
class Command:
    """One wire call as the server saw it (for tests to count round trips and batches)."""

    user: str
    method: str
    folder: str | None
    sizes: tuple[int, ...] = ()  # append: each message's size


@dataclass
class _Fault:
    """A connection that breaks on a matching call: after `after` matching calls pass,
    `times` times (None: always)."""

    method: str | None
    folder: str | None
    after: int
    times: int | None
    kind: str  # "connect", "bye" or "protocol"
    seen: int = 0
    fired: int = 0

    def fires(self, method: str, folder: str | None) -> bool:
        if self.method not in (None, method) or self.folder not in (None, folder):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class _AppendBreak:
    limit: int  # messages stored (from when it was set) before the break
    commit: bool  # the breaking APPEND is stored first: its answer is what gets lost
    stored: int = 0
    fired: bool = False


class _Broken(Exception):
    def __init__(self, kind: str):
        self.kind = kind


class FakeServer:
    """A mail store shared by every `FakeWire` connected to it; thread-safe."""

    def __init__(self, name: str = "fake", *, separator: str = "/", prefix: str = "",
                 literal_plus: bool = True, multiappend: bool = True, uidplus: bool = True,
                 condstore: bool = True, append_limit: int | None = None,
                 create_special_use: bool = True, status_size: bool = True,
                 special_use: dict[str, str] | None = None,
                 permanent_flags: frozenset[str] | None = DEFAULT_PERMANENT,
                 implicit_parents: bool = True, max_connections: int | None = None,
                 passwords: dict[str, str] | None = None):
        self.name = name
        # unique, as the rig's free ports are: KIMT's mailbox lock and journal are keyed
        # by the address, and other test runs may be going on at the same time
        self.host = f"{name}-{uuid.uuid4().hex[:8]}.test"
        self.separator, self.prefix = separator, prefix
        # LITERAL+ changes only how the real wire sends a literal, not what comes back
        self.literal_plus, self.multiappend, self.uidplus = literal_plus, multiappend, uidplus
        self.condstore, self.append_limit = condstore, append_limit
        self.create_special_use, self.status_size = create_special_use, status_size
        self.special_use = dict(special_use or {})  # {logical name: flag}, made for every user
        self.permanent_flags = permanent_flags  # None: SELECT does not say
        self.implicit_parents = implicit_parents  # False: CREATE a/b is refused without a
        self.max_connections = max_connections  # per user, as mail_max_userip_connections
        self.passwords = passwords  # None: any password
        # faults and rewrites
        self.rewrite: Callable[[bytes], bytes] | None = None  # what APPEND stores
        self.rewrite_date: Callable[[str], str] | None = None  # the INTERNALDATE it keeps
        self.refuse_multiappend: str | None = None  # words answering every MULTIAPPEND
        self._refusals: list[tuple[Callable[[bytes], bool], str]] = []
        self._create_refusals: list[tuple[Callable[[str], bool], str]] = []
        self._faults: list[_Fault] = []
        self._append_breaks: list[_AppendBreak] = []
        self._vanish: list[tuple[str, str, set[int]]] = []  # (user, folder, uids)
        # called (without the server's lock) before every wire call: a test may hold one
        # connection there until another thread has got somewhere
        self.before_call: Callable[[FakeWire, str], None] | None = None
        self.limit_reached = threading.Event()  # a login was refused for max_connections
        # state
        self.lock = threading.RLock()
        self.mailboxes: dict[str, Mailbox] = {}
        self.log: list[Command] = []
        self.open_connections: dict[str, int] = {}
        self.peak_connections = 0
        self.connections_made = 0
        self._next_validity = 1000

    def __repr__(self) -> str:
        return f"FakeServer({self.name!r})"

    # -- identity and connections -------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.host}:143"

    def config(self, role: str) -> ServerConfig:
        """A `ServerConfig` that `connector` maps back to this server."""
        return ServerConfig(self.host, 143, security="none", role=role)

    def capabilities(self) -> frozenset[str]:
        caps = {"IMAP4REV1", "NAMESPACE", "SPECIAL-USE", "UNSELECT"}
        for on, cap in ((self.literal_plus, "LITERAL+"), (self.multiappend, "MULTIAPPEND"),
                        (self.uidplus, "UIDPLUS"), (self.condstore, "CONDSTORE"),
                        (self.create_special_use, "CREATE-SPECIAL-USE"),
                        (self.status_size, "STATUS=SIZE")):
            if on:
                caps.add(cap)
        if self.append_limit is not None:
            caps.add(f"APPENDLIMIT={self.append_limit}")
        return frozenset(caps)

    def connect(self, user: str = USER, password: str | None = None,
                role: str = "server") -> FakeWire:
        """A logged-in connection, or `LoginError` as `servers.connect` raises it."""
        with self.lock:
            side = {"source": "old", "destination": "new"}.get(role, role)
            where = f"login failed for {user} on {self.address} (the {side} server): "
            if self.passwords is not None and self.passwords.get(user) != password:
                raise LoginError(where + "[AUTHENTICATIONFAILED] Authentication failed.")
            now = self.open_connections.get(user, 0)
            if self.max_connections is not None and now >= self.max_connections:
                self.limit_reached.set()
                raise LoginError(where + "[LIMIT] Maximum number of connections from user+IP "
                                 f"exceeded (mail_max_userip_connections={self.max_connections})")
            self.open_connections[user] = now + 1
            self.peak_connections = max(self.peak_connections, now + 1)
            self.mailbox(user)
            self.connections_made += 1
            return FakeWire(self, user, role, self.connections_made)

    def _disconnected(self, user: str) -> None:
        with self.lock:
            self.open_connections[user] -= 1

    # -- names and the store -------------------------------------------------------------

    def server_name(self, logical: str) -> str:
        """'Work/Projects' as this server names it (prefix, separator)."""
        if logical.upper() == "INBOX":
            return "INBOX"
        return self.prefix + logical.replace("/", self.separator)

    def mailbox(self, user: str = USER) -> Mailbox:
        with self.lock:
            box = self.mailboxes.get(user)
            if box is None:
                box = self.mailboxes[user] = Mailbox()
                self._new_folder(box, "INBOX")
                box.subscribed.add("INBOX")
                for logical, flag in self.special_use.items():
                    name = self.server_name(logical)
                    self._new_folder(box, name, flag)
                    box.subscribed.add(name)
            return box

    def _new_folder(self, box: Mailbox, name: str, special_use: str | None = None) -> FakeFolder:
        self._next_validity += 1
        folder = box.folders[name] = FakeFolder(name, self._next_validity, special_use)
        return folder

    def folder(self, logical: str, user: str = USER) -> FakeFolder:
        return self.mailbox(user).folders[self.server_name(logical)]

    def create(self, logical: str, user: str = USER, special_use: str | None = None,
               subscribe: bool = True) -> FakeFolder:
        with self.lock:
            box = self.mailbox(user)
            name = self.server_name(logical)
            folder = box.folders.get(name) or self._new_folder(box, name, special_use)
            if subscribe:
                box.subscribed.add(name)
            return folder

    def add(self, logical: str, raw: bytes, flags: Iterable[str] = (),
            internaldate: str = NOW, user: str = USER) -> int:
        """Deliver a message (creating the folder); its UID."""
        with self.lock:
            folder = self.create(logical, user)
            return self._store(folder, crlf(raw), tuple(flags), internaldate).uid

    def _store(self, folder: FakeFolder, raw: bytes, flags: tuple[str, ...],
               internaldate: str) -> StoredMessage:
        folder.changed()
        m = StoredMessage(folder.uidnext, raw, flags, internaldate)
        folder.messages[m.uid] = m
        folder.uidnext += 1
        return m

    def messages(self, logical: str, user: str = USER) -> list[StoredMessage]:
        with self.lock:
            return list(self.folder(logical, user).messages.values())

    def set_flags(self, logical: str, uid: int, flags: Iterable[str], user: str = USER) -> None:
        """A user changing a message's flags in their mail program."""
        with self.lock:
            folder = self.folder(logical, user)
            folder.messages[uid].flags = tuple(flags)
            folder.changed()

    def expunge(self, logical: str, uids: Iterable[int], user: str = USER) -> None:
        with self.lock:
            folder = self.folder(logical, user)
            for uid in uids:
                if folder.messages.pop(uid, None) is not None:
                    folder.changed()

    def keeps(self, flags: Iterable[str]) -> tuple[str, ...]:
        """The flags this server stores of those asked (PERMANENTFLAGS; never \\Recent)."""
        out = []
        allowed = None if self.permanent_flags is None else {
            f.lower() for f in self.permanent_flags}
        for f in flags:
            low = f.lower()
            if low == "\\recent" or (low.startswith("\\") and low not in SYSTEM_FLAGS):
                continue
            if allowed is None or low in allowed or (not f.startswith("\\")
                                                      and "\\*" in allowed):
                out.append(f)
        return tuple(out)

    # -- faults ----------------------------------------------------------------------------

    def refuse_append(self, matches: Callable[[bytes], bool], words: str) -> None:
        """APPEND of a message for which `matches(raw)` is true is answered NO `words`
        (a whole MULTIAPPEND with it, atomically: RFC 3502)."""
        self._refusals.append((matches, words))

    def refuse_create(self, matches: Callable[[str], bool], words: str) -> None:
        """CREATE of a server name for which `matches(name)` is true is refused."""
        self._create_refusals.append((matches, words))

    def break_on(self, nth: int = 1, *, method: str | None = None, folder: str | None = None,
                 times: int | None = 1, kind: str = "connect") -> None:
        """The connection breaks on the `nth` matching wire call (any connection of this
        server; `method` a Wire method name, `folder` a logical name selected or appended
        to), `times` times (None: every time after). `kind`: "connect" (ConnectError),
        "bye" (SessionEnded), "protocol" (ProtocolError). Nothing of that call is done."""
        name = None if folder is None else self.server_name(folder)
        self._faults.append(_Fault(method, name, nth - 1, times, kind))

    def break_after_appends(self, count: int, *, commit: bool = False) -> None:
        """Once: the APPEND that would store more than `count` messages (counted from now)
        breaks the connection; with `commit`, after storing them (the answer is lost)."""
        self._append_breaks.append(_AppendBreak(count, commit))

    def vanish_before_fetch(self, logical: str, uids: Iterable[int], user: str = USER) -> None:
        """Once: these messages are expunged just before the next body fetch in that folder,
        after they were listed (deleted by the user while KIMT works)."""
        self._vanish.append((user, self.server_name(logical), set(uids)))

    def heal(self) -> None:
        """Every fault and rewrite removed: the server behaves from now on."""
        self.rewrite = self.rewrite_date = self.refuse_multiappend = None
        for faults in (self._refusals, self._create_refusals, self._faults,
                       self._append_breaks, self._vanish):
            faults.clear()

    def _check_faults(self, method: str, folder: str | None) -> None:
        for fault in self._faults:
            if fault.fires(method, folder):
                raise _Broken(fault.kind)


def connector(*servers: FakeServer) -> Callable[[ServerConfig, str, str | None], FakeWire]:
    """A `MailboxRun(..., connector=...)`: each `ServerConfig` (from `FakeServer.config`)
    reaches the server of the same address."""
    by_address = {s.address: s for s in servers}

    def connect(config: ServerConfig, email: str, password: str | None = None) -> FakeWire:
        return by_address[config.address].connect(email, password, config.role)

    return connect


def _pattern(reference: str, pattern: str, separator: str) -> re.Pattern[str]:
    text = "".join(".*" if c == "*" else f"[^{re.escape(separator)}]*" if c == "%"
                   else re.escape(c) for c in reference + pattern)
    return re.compile(text + r"\Z")


class FakeWire:
    """One logged-in connection to a `FakeServer`, with `Wire`'s public methods."""

    def __init__(self, server: FakeServer, user: str, role: str = "server", number: int = 0):
        self.server, self.user, self.role = server, user, role
        self.number = number  # 1 for the server's first connection, and so on
        self.address = server.address
        self.selected: str | None = None
        self._readonly = True
        self._where = ""
        self._alive = True

    # -- the connection ------------------------------------------------------------------

    @contextmanager
    def _call(self, method: str, folder: str | None = None, where: str | None = None,
              ) -> Iterator[Mailbox]:
        """One round trip: the server's lock held, faults checked, errors as `translate`
        words them."""
        where = self._where if where is None else where
        server = self.server
        if server.before_call is not None:
            server.before_call(self, method)
        with server.lock:
            try:
                if not self._alive:
                    raise _Broken("connect")
                server._check_faults(method, folder or self.selected)
                server.log.append(Command(self.user, method, folder or self.selected))
                yield server.mailbox(self.user)
            except _Broken as e:
                self._drop()
                if e.kind == "bye":
                    raise SessionEnded(f"the server ended the session{where}: Server "
                                       "shutting down.") from None
                if e.kind == "protocol":
                    raise ProtocolError(f"the server sent an answer KIMT could not "
                                        f"understand{where}: unexpected b'(('") from None
                raise ConnectError(f"connection lost{where}: the server closed the "
                                   "connection") from None

    def _drop(self) -> None:
        if self._alive:
            self._alive = False
            self.server._disconnected(self.user)

    def close(self) -> None:
        with self.server.lock:
            self._drop()

    def _selected(self, box: Mailbox) -> FakeFolder:
        folder = box.folders.get(self.selected or "")
        if folder is None:
            raise Refused("No mailbox selected")
        return folder

    # -- capabilities and folders --------------------------------------------------------

    def capabilities(self) -> frozenset[str]:
        return self.server.capabilities()

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities()

    def append_limit(self) -> int | None:
        return self.server.append_limit

    def namespace(self) -> Namespace:
        with self._call("namespace", where=""):
            return Namespace(((self.server.prefix, self.server.separator),), None, None)

    def list_folders(self, reference: str = "", pattern: str = "*",
                     ) -> list[tuple[tuple[bytes, ...], bytes | None, str]]:
        sep = self.server.separator
        with self._call("list_folders", where="") as box:
            if not reference and not pattern:
                return [((b"\\Noselect",), sep.encode(), "")]
            listed: dict[str, list[bytes]] = {}
            for name, folder in box.folders.items():
                listed[name] = [folder.special_use.encode()] if folder.special_use else []
                parts = name.split(sep)
                for depth in range(1, len(parts)):
                    parent = sep.join(parts[:depth])
                    if parent not in box.folders and parent + sep != self.server.prefix:
                        listed[parent] = [b"\\Noselect"]
            wanted = _pattern(reference, pattern, sep)
            out = []
            for name in sorted(listed):
                inbox = name == "INBOX" and (reference + pattern).upper() == "INBOX"
                if not (wanted.match(name) or inbox):
                    continue
                children = any(n.startswith(name + sep) for n in listed)
                out.append(((b"\\HasChildren" if children else b"\\HasNoChildren",
                             *listed[name]), sep.encode(), name))
            return out

    def list_subscribed(self) -> list[tuple[tuple[bytes, ...], bytes | None, str]]:
        with self._call("list_subscribed", where="") as box:
            return [((), self.server.separator.encode(), n) for n in sorted(box.subscribed)]

    # -- a folder --------------------------------------------------------------------------

    def open_folder(self, name: str, *, readonly: bool, label: str, status: bool = False,
                    listing: str = "flags") -> FolderView:
        self._where = f" in folder '{label}'"
        with self._call("open_folder", name) as box:
            folder = box.folders.get(name)
            if folder is None:
                self.selected = None  # a failed SELECT leaves none selected (Dovecot)
                raise Refused(f"Mailbox doesn't exist: {name}")
            self.selected, self._readonly = name, readonly
            permanent = frozenset() if readonly else self.server.permanent_flags
            view = FolderView(folder.uidvalidity, folder.uidnext, len(folder.messages),
                              permanent, None)
            if status:
                view.status = folder.status(self.server.condstore)
            if listing == "keys":
                view.records = [m.record() for m in folder.messages.values()]
            elif listing == "sizes":  # as the real one: records without their headers
                view.records = [replace(m.record(), headers=None)
                                for m in folder.messages.values()]
            view.flags = {m.uid: m.flags for m in folder.messages.values()}
            return view

    def status_many(self, names: Sequence[str]) -> dict[str, FolderStatus]:
        with self._call("status_many") as box:
            return {n: box.folders[n].status(self.server.condstore)
                    for n in names if n in box.folders}

    def status_sizes(self, names: Sequence[str]) -> dict[str, tuple[int, int]]:
        with self._call("status_sizes") as box:
            if not self.server.status_size:
                return {}
            return {n: (len(f.messages), sum(len(m.raw) for m in f.messages.values()))
                    for n in names if (f := box.folders.get(n)) is not None}

    # -- listing ---------------------------------------------------------------------------

    def fetch_keys(self, uids: Sequence[int], batch: int = 1000) -> list[HeaderRecord]:
        with self._call("fetch_keys") as box:
            messages = self._selected(box).messages
            return [messages[u].record() for u in sorted(set(uids)) if u in messages]

    def fetch_above(self, uid: int) -> list[HeaderRecord]:
        with self._call("fetch_above") as box:
            return [m.record() for m in self._selected(box).messages.values() if m.uid > uid]

    def fetch_bodies(self, uids: Sequence[int]) -> dict[int, bytes]:
        with self._call("fetch_bodies") as box:
            folder = self._selected(box)
            for vanish in list(self.server._vanish):
                if vanish[:2] == (self.user, folder.name):
                    self.server._vanish.remove(vanish)
                    for u in vanish[2]:
                        if folder.messages.pop(u, None) is not None:
                            folder.changed()
            return {u: folder.messages[u].raw for u in uids if u in folder.messages}

    # -- writing ---------------------------------------------------------------------------

    def append(self, folder: str, items: Sequence[Outgoing], *,
               fetch: Sequence[int] = ()) -> AppendAnswer:
        server = self.server
        with self._call("append", folder) as box:
            server.log[-1].sizes = tuple(len(i.raw) for i in items)
            target = box.folders.get(folder)
            if target is None:
                raise Refused(f"[TRYCREATE] Mailbox doesn't exist: {folder}")
            # a pipelined FETCH is answered before the APPEND's messages exist (Dovecot)
            fetched = None
            if fetch and self.selected in box.folders:
                have = box.folders[self.selected].messages
                fetched = [have[u].record() for u in sorted(set(fetch)) if u in have]
            if len(items) > 1 and not server.multiappend:
                raise Refused("Error in IMAP command APPEND: Invalid arguments.")
            if len(items) > 1 and server.refuse_multiappend is not None:
                raise Refused(server.refuse_multiappend)
            for item in items:
                if server.append_limit is not None and len(item.raw) > server.append_limit:
                    raise Refused("[TOOBIG] Mail size is too large")
                for matches, words in server._refusals:
                    if matches(item.raw):
                        raise Refused(words)
            commit_then_break = False
            for brk in server._append_breaks:
                if not brk.fired and brk.stored + len(items) > brk.limit:
                    brk.fired = True
                    if not brk.commit:
                        raise _Broken("connect")
                    commit_then_break = True
                brk.stored += len(items)
            uids = []
            for item in items:
                raw = crlf(item.raw)
                if server.rewrite is not None:
                    raw = server.rewrite(raw)
                date = item.internaldate or NOW
                if server.rewrite_date is not None:
                    date = server.rewrite_date(date)
                uids.append(server._store(target, raw, server.keeps(item.flags), date).uid)
            if commit_then_break:
                raise _Broken("connect")
            if not server.uidplus:
                return AppendAnswer(None, None, fetched)
            return AppendAnswer(target.uidvalidity, uids, fetched)

    def store_flags(self, groups: Sequence[tuple[Sequence[int], Sequence[str]]],
                    ) -> dict[int, tuple[str, ...]]:
        if not groups:
            return {}
        with self._call("store_flags") as box:
            folder = self._selected(box)
            if self._readonly:
                raise Refused("Mailbox is read-only.")
            stored = {}
            for uids, flags in groups:
                for uid in uids:
                    m = folder.messages.get(uid)
                    if m is not None:
                        m.flags = stored[uid] = self.server.keeps(flags)
                        folder.changed()
            return stored

    def create_folders(self, folders: Iterable[tuple[str, str | None]],
                       ) -> list[str | None]:
        folders = list(folders)
        if not folders:
            return []
        server, sep = self.server, self.server.separator
        with self._call("create_folders", where="") as box:
            out: list[str | None] = []
            for name, special_use in folders:
                parent = name.rpartition(sep)[0]
                if name in box.folders or name.upper() == "INBOX":
                    out.append(None)  # [ALREADYEXISTS]
                elif special_use and not server.create_special_use:
                    out.append("Error in IMAP command CREATE: Unknown CREATE parameters")
                elif any(matches(name) for matches, _ in server._create_refusals):
                    out.append(next(w for m, w in server._create_refusals if m(name)))
                elif (parent and not server.implicit_parents and parent not in box.folders
                      and parent + sep != server.prefix):
                    out.append("[NONEXISTENT] Parent folder doesn't exist")
                else:
                    server._new_folder(box, name, special_use)
                    out.append(None)
            return out

    def subscribe(self, names: Sequence[str]) -> list[str | None]:
        if not names:
            return []
        with self._call("subscribe", where="") as box:
            box.subscribed.update(names)
            return [None for _ in names]

    def sizes(self, name: str) -> list[int]:
        self._where = f" in folder '{name}'"
        with self._call("sizes", name) as box:
            folder = box.folders.get(name)
            if folder is None:
                self.selected = None
                raise Refused(f"Mailbox doesn't exist: {name}")
            self.selected, self._readonly = name, True
            return [len(m.raw) for m in folder.messages.values()]
