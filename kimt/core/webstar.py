"""4D WebSTAR's Mailbox Server configuration: post offices, their domains, their users.

Kerio's 4D migration read `WSMailboxServer.prefs.xml` (in
/Applications/4DWebSTAR/MailboxServer unless told otherwise). Its schema
was never published, so this module is the one place that knows what the
file looks like; docs/4d.md states the structure it supports as an
assumption, and a real file from the field that differs is supported by
changing this module alone.

Tolerant by design: plain XML or an Apple property list (XML or binary,
read by `plistlib`); names compared without case, namespace, '-', '_' or
spaces, and several spellings accepted for each (`_NAMES`); a value read
from an attribute or from a child element; a post office written inline or
in a file of its own that the main file references. Every file is read
before anything else happens: a missing or damaged one raises
`WebstarError` naming that file. Users that can't be migrated (no
password, login disabled, a password that looks hashed, no usable address)
are kept with their reason in `WebstarConfig.left_out`, never dropped
silently. No password is in a repr() or an error text.
"""

from __future__ import annotations

import os
import plistlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers.expat import ExpatError

from .accounts import Account, address_problem
from .errors import InputError
from .report import plural

DEFAULT_FOLDER = "/Applications/4DWebSTAR/MailboxServer"
MAIN_FILE = "WSMailboxServer.prefs.xml"
DEFAULT_IMAP_PORT = 143
_MAX_BYTES = 64 * 2**20
_MAX_DEPTH = 4  # a post office file may reference another; a cycle stops here

# Every spelling accepted for a name, after `_key` (lower case, letters and digits only).
_NAMES = {
    "post office": ("postoffice", "postoffices", "po", "pos", "mailpostoffice"),
    "user": ("user", "users", "account", "accounts", "mailuser", "mailusers", "mailbox",
             "mailboxes", "mailaccount", "mailaccounts", "useraccount", "useraccounts"),
    "domain": ("domain", "domains", "domainname", "domainnames", "localmaildomain",
               "localmaildomains", "maildomain", "maildomains", "smtpdomain", "smtpdomains",
               "localdomain", "localdomains"),
    "login": ("login", "loginname", "username", "accountname", "shortname", "uid", "name"),
    "full name": ("fullname", "realname", "displayname", "commonname", "longname", "cn"),
    "password": ("password", "passwd", "pass", "pwd", "userpassword", "mailpassword"),
    "enabled": ("enabled", "loginenabled", "allowlogin", "loginallowed", "canlogin",
                "isenabled", "active"),
    "disabled": ("disabled", "logindisabled", "isdisabled", "locked", "suspended", "inactive"),
    "address": ("address", "addresses", "email", "emails", "emailaddress", "emailaddresses",
                "mailaddress", "mailaddresses", "alias", "aliases"),
    "file": ("file", "filename", "path", "filepath", "config", "configfile", "configuration",
             "prefs", "prefsfile", "preferences", "href", "src", "location", "ref"),
    "name": ("name", "title", "postofficename", "label", "id"),
    "value": ("name", "domainname", "value"),  # of a domain written as an element
    # say that the stored value is not the password itself: on the password element...
    "hash flag": ("encrypted", "hashed", "ishashed", "isencrypted"),
    "hash scheme": ("scheme", "encoding", "format", "type", "algorithm", "hash"),
    # ... or on its user, where a plain "type" would mean something else
    "user hash flag": ("passwordencrypted", "passwordhashed", "encryptedpassword",
                       "hashedpassword"),
    "user hash scheme": ("passwordscheme", "passwordformat", "passwordtype",
                         "passwordencoding", "passwordhash", "passwordalgorithm"),
}
_TRUE = {"true", "yes", "1", "on", "y", "enabled", "allowed"}
_FALSE = {"false", "no", "0", "off", "n", "disabled", "denied", ""}
_PLAIN_SCHEMES = {"plain", "clear", "cleartext", "text", "none", "plaintext"}
_CRYPT = re.compile(r"\$(1|2[abxy]?|5|6|apr1|argon2[a-z]*|sha1|md5|P|H|y|gy|7)\$")
_SCHEME = re.compile(r"\{([A-Za-z0-9._-]+)\}(.*)", re.S)
_HEX_DIGESTS = {32: "MD5", 40: "SHA-1", 56: "SHA-224", 64: "SHA-256", 96: "SHA-384",
                128: "SHA-512"}
_BASE64_DIGEST = re.compile(r"[A-Za-z0-9+/]{20,}={1,2}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}")
_SPLIT = re.compile(r"[\s,;]+")


class WebstarError(InputError):
    """The 4D configuration can't be used: a file is missing, unreadable or damaged."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None):
        self.path = os.fspath(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


@dataclass(frozen=True)
class WebstarUser:
    """One user as the configuration has it; the password never shows in repr()."""

    login: str
    password: str | None = field(repr=False)  # None: the file has none
    full_name: str = ""
    enabled: bool | None = True  # None: the flag is there but unreadable
    hashed: str = ""  # why the stored password looks hashed; "" when it does not
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class PostOffice:
    name: str
    domains: tuple[str, ...]  # as written: the first names the Kerio domain
    users: tuple[WebstarUser, ...]
    file: str  # the file it was read from
    notes: tuple[str, ...] = ()  # what was dropped while reading it (a bad domain name)

    @property
    def domain(self) -> str:
        return self.domains[0] if self.domains else ""

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.domains[1:]


@dataclass(frozen=True)
class LeftOut:
    """A user who is not migrated, and why (for the console, the wizard, the Report)."""

    who: str  # the address it would have had, else the login name
    post_office: str
    reason: str


@dataclass(repr=False)
class WebstarConfig:
    path: str  # the main file
    post_offices: list[PostOffice]
    accounts: list[Account]  # to migrate: address login@first domain, the 4D password
    left_out: list[LeftOut]
    post_office_of: dict[str, str]  # address (casefolded) -> post office name

    def __repr__(self) -> str:
        return (f"WebstarConfig(path={self.path!r}, post_offices=<{len(self.post_offices)}>, "
                f"accounts=<{len(self.accounts)}>, left_out=<{len(self.left_out)}>)")

    @property
    def users(self) -> int:
        return sum(len(po.users) for po in self.post_offices)

    @property
    def domains(self) -> int:
        return sum(len(po.domains) for po in self.post_offices)

    def counts(self) -> str:
        """'3 post offices, 7 domains, 12 users (9 to migrate, 3 left out)'."""
        return (f"{plural(len(self.post_offices), 'post office')}, "
                f"{plural(self.domains, 'domain')}, "
                f"{plural(self.users, 'user')} ({len(self.accounts)} to migrate, "
                f"{len(self.left_out)} left out)")

    def post_office_lines(self) -> list[str]:
        """One line per post office: its Kerio domain, its aliases, its users."""
        lines = []
        for po in self.post_offices:
            aliases = f" (aliases {', '.join(po.aliases)})" if po.aliases else ""
            domain = po.domain or "no mail domain"
            lines.append(f"{po.name}: {domain}{aliases} — {plural(len(po.users), 'user')}"
                         + "".join(f"; {note}" for note in po.notes))
        return lines

    def left_out_lines(self) -> list[str]:
        return [f"{x.who} (post office {x.post_office}): {x.reason}" for x in self.left_out]

    def describe(self) -> str:
        """The configuration as the Report's header names it, with the users left out."""
        text = f"4D WebSTAR configuration {self.path}: {self.counts()}"
        if self.left_out:
            text += "; not migrated: " + "; ".join(self.left_out_lines())
        return text


# ----------------------------------------------------------------------------- reading

def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """The main file: `path` itself, or WSMailboxServer.prefs.xml in the folder `path`."""
    where = Path(path) if path else Path(DEFAULT_FOLDER)
    if where.is_file():
        return where
    if where.is_dir():
        exact = where / MAIN_FILE
        if exact.is_file():
            return exact
        for entry in sorted(where.iterdir()):  # a copy from another file system may differ
            if entry.name.casefold() == MAIN_FILE.casefold() and entry.is_file():
                return entry
        raise WebstarError(f"there is no {MAIN_FILE} in this folder (4D WebSTAR's Mailbox "
                           "Server keeps it there)", where)
    raise WebstarError("no such file or folder", where)


def load(path: str | os.PathLike[str] | None = None) -> WebstarConfig:
    """Read the whole configuration; only WebstarError escapes."""
    main = find_config(path)
    root = _read_tree(main)
    post_offices = [_post_office(node, main, n, 0)
                    for n, node in enumerate(_post_office_nodes(root), 1)]
    if not post_offices and _user_nodes(root):  # one post office, written at the top
        post_offices = [_post_office(root, main, 1, 0)]
    if not post_offices:
        raise WebstarError("no post office found in it (the structure KIMT reads is "
                           "described in docs/4d.md)", main)
    return _select(str(main), post_offices)


@dataclass
class _Node:
    """An element of either form: XML, or a property list's dictionary."""

    name: str  # `_key` of the element or dictionary key
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[_Node] = field(default_factory=list)


def _key(name: str) -> str:
    local = name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
    return re.sub(r"[^a-z0-9]", "", local.lower())


def _read_tree(path: Path) -> _Node:
    try:
        if path.stat().st_size > _MAX_BYTES:
            raise WebstarError("the file is too large to be a configuration file", path)
        data = path.read_bytes()
    except FileNotFoundError:
        raise WebstarError("the file does not exist", path) from None
    except IsADirectoryError:
        raise WebstarError("this is a folder, not a file", path) from None
    except PermissionError:
        raise WebstarError("permission denied: run KIMT as a user who may read 4D's "
                           "configuration (an administrator)", path) from None
    except OSError as e:
        raise WebstarError(f"the file can't be read ({e.strerror or e})", path) from None
    if not data.strip():
        raise WebstarError("the file is empty: it is damaged", path)
    head = data[:2048].lower()
    if data.startswith(b"bplist") or b"<plist" in head or b"<!doctype plist" in head:
        try:
            value = plistlib.loads(data)
        except (plistlib.InvalidFileException, ExpatError, ValueError, TypeError,
                OverflowError) as e:
            raise WebstarError(f"the file is damaged: it is not a readable property list "
                               f"({_first_line(e)})", path) from None
        nodes = _from_plist("plist", value)
        return nodes[0] if isinstance(value, dict) else _Node("plist", children=nodes)
    try:
        return _from_xml(ElementTree.fromstring(data))
    except ElementTree.ParseError as e:
        line, column = getattr(e, "position", (0, 0))
        reason = _first_line(e).split(":")[0]
        raise WebstarError(f"the file is damaged: it is not readable as XML ({reason} at "
                           f"line {line}, column {column + 1})", path) from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _from_xml(element: ElementTree.Element) -> _Node:
    return _Node(_key(str(element.tag)),
                 {_key(k): v.strip() for k, v in element.attrib.items()},
                 (element.text or "").strip(), [_from_xml(c) for c in element
                                                if isinstance(c.tag, str)])


def _from_plist(name: str, value: object) -> list[_Node]:
    """A property list value as nodes: a list gives one node per item, like XML repeats."""
    if isinstance(value, dict):
        return [_Node(_key(name), children=[n for k, v in value.items()
                                            for n in _from_plist(str(k), v)])]
    if isinstance(value, list | tuple):
        return [n for item in value for n in _from_plist(name, item)]
    if isinstance(value, bool):
        return [_Node(_key(name), text="true" if value else "false")]
    if isinstance(value, bytes):  # binary data: nothing KIMT reads
        return []
    return [_Node(_key(name), text=str(value).strip())]


# ----------------------------------------------------------------------------- the tree

def _is(node: _Node, what: str) -> bool:
    return node.name in _NAMES[what]


def _value(node: _Node, what: str) -> str | None:
    """The first value named like `what`: an attribute, or a child element's text."""
    for name in _NAMES[what]:
        if name in node.attrs:
            return node.attrs[name]
        for child in node.children:  # (an empty element with attributes is no value)
            if child.name == name and not child.children and (child.text or not child.attrs):
                return child.text
    return None


def _child(node: _Node, what: str) -> _Node | None:
    return next((c for c in node.children if _is(c, what)), None)


def _post_office_nodes(node: _Node) -> list[_Node]:
    """Post offices in document order; one found is not searched for more inside."""
    if _is(node, "post office") and (_value(node, "file") or _domains(node)[0]
                                     or _user_nodes(node)):
        return [node]
    return [po for child in node.children for po in _post_office_nodes(child)]


def _user_nodes(node: _Node) -> list[_Node]:
    """The users below `node`, not crossing into another post office."""
    found = []
    for child in node.children:
        if _is(child, "post office"):
            continue
        if _is(child, "user") and any(_value(child, what) is not None
                                      for what in ("login", "password", "full name")):
            found.append(child)
        elif child.children:
            found += _user_nodes(child)
    return found


def _domains(node: _Node) -> tuple[list[str], list[str]]:
    """(domain names as written, notes on the ones dropped) of a post office node."""
    raw: list[str] = []
    for name, value in node.attrs.items():
        if name in _NAMES["domain"]:
            raw += _SPLIT.split(value)
    for child in node.children:
        if _is(child, "domain"):
            raw += _domain_values(child)
    names: list[str] = []
    notes: list[str] = []
    for text in raw:
        name = text.strip().rstrip(".").lower()
        if not name:
            continue
        try:
            ascii_name = name.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_name = ""
        if not _DOMAIN.fullmatch(ascii_name):
            notes.append(f"'{name}' is not a domain name: left out")
        elif name not in names:
            names.append(name)
    return names, notes


def _domain_values(node: _Node) -> list[str]:
    value = _value(node, "value")
    if value:
        return _SPLIT.split(value)
    if node.text and not node.children:
        return _SPLIT.split(node.text)
    return [v for child in node.children for v in _domain_values(child)]


# ----------------------------------------------------------------------------- post offices

def _post_office(node: _Node, file: Path, number: int, depth: int) -> PostOffice:
    domains, notes = _domains(node)
    users = [_user(u) for u in _user_nodes(node)]
    name = _value(node, "name") or ""
    source = str(file)
    reference = _value(node, "file")
    if reference:
        if depth >= _MAX_DEPTH:
            raise WebstarError(f"post office files reference each other too deeply "
                               f"({reference})", file)
        target = _referenced(reference, file)
        tree = _read_tree(target)
        inner = (_post_office_nodes(tree) or [tree])[0]
        other = _post_office(inner, target, number, depth + 1)
        domains += [d for d in other.domains if d not in domains]
        notes += other.notes
        users += other.users
        name = name or other.name
        source = other.file
    return PostOffice(name or (domains[0] if domains else f"post office {number}"),
                      tuple(domains), tuple(users), source, tuple(notes))


def _referenced(reference: str, main: Path) -> Path:
    text = reference.strip()
    if text.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse
        text = unquote(urlparse(text).path)
    path = Path(text)
    return path if path.is_absolute() else main.parent / path


def _user(node: _Node) -> WebstarUser:
    login = (_value(node, "login") or "").strip()
    password_node = _child(node, "password")
    password = _value(node, "password")
    hashed = ""
    if password is not None and password != "":
        password, hashed = _clear_password(password, password_node, node)
    else:
        password = None
    enabled: bool | None = True
    flag = _value(node, "enabled")
    if flag is not None:
        enabled = _boolean(flag)
    else:
        flag = _value(node, "disabled")
        if flag is not None:
            off = _boolean(flag)
            enabled = None if off is None else not off
    addresses = []
    for child in node.children:
        if _is(child, "address"):
            addresses += [a for a in _domain_values(child) if "@" in a]
    for name, value in node.attrs.items():
        if name in _NAMES["address"]:
            addresses += [a for a in _SPLIT.split(value) if "@" in a]
    return WebstarUser(login, password, (_value(node, "full name") or "").strip(), enabled,
                       hashed, tuple(dict.fromkeys(addresses)))


def _boolean(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def _clear_password(stored: str, password_node: _Node | None, user: _Node) -> tuple[str, str]:
    """(the password, why it looks hashed or ''): a {PLAIN} prefix is taken off."""
    marks = [(_value(user, "user hash flag"), _value(user, "user hash scheme"))]
    if password_node is not None:
        marks.append((next((password_node.attrs[n] for n in _NAMES["hash flag"]
                            if n in password_node.attrs), None),
                      next((password_node.attrs[n] for n in _NAMES["hash scheme"]
                            if n in password_node.attrs), None)))
    for flag, scheme in marks:
        if flag is not None and _boolean(flag):
            return stored, "marked as encrypted in the file"
        if scheme is not None and scheme.strip().lower() not in _PLAIN_SCHEMES:
            return stored, f"scheme '{scheme.strip()}' in the file"
    match = _SCHEME.fullmatch(stored)
    if match:
        if match.group(1).lower() in _PLAIN_SCHEMES:
            return match.group(2), ""
        return stored, f"scheme {{{match.group(1)}}}"
    if _CRYPT.match(stored):
        return stored, "a crypt() hash"
    digest = _HEX_DIGESTS.get(len(stored))
    if digest and re.fullmatch(r"[0-9a-fA-F]+", stored):
        return stored, f"{len(stored)} hexadecimal digits, like an {digest} hash"
    if _BASE64_DIGEST.fullmatch(stored) and len(stored) >= 24:
        return stored, "base64, like a hash"
    return stored, ""


# ----------------------------------------------------------------------------- who migrates

def _select(path: str, post_offices: list[PostOffice]) -> WebstarConfig:
    accounts: list[Account] = []
    left_out: list[LeftOut] = []
    domain_owner: dict[str, str] = {}  # domain -> the post office that has it first
    login_owner: dict[str, str] = {}  # login name (casefolded) -> its post office
    post_office_of: dict[str, str] = {}
    for po in post_offices:
        clash = next((d for d in po.domains if d in domain_owner), None)
        for d in po.domains:
            domain_owner.setdefault(d, po.name)
        for user in po.users:
            email = (f"{user.login}@{po.domain}" if po.domain and user.login
                     and "@" not in user.login else "")
            if clash:
                reason = (f"the domain {clash} of its post office is also in the post office "
                          f"{domain_owner[clash]}")
            else:
                reason = _why_not(user, po, email, login_owner.get(user.login.casefold()))
            if user.login:  # 4D's IMAP service knows the name, migrated or not
                login_owner.setdefault(user.login.casefold(), po.name)
            if reason:
                who = email or user.login or "(a user without a login name)"
                left_out.append(LeftOut(who, po.name, reason))
            else:
                assert user.password is not None
                post_office_of[email.casefold()] = po.name
                accounts.append(Account(email, user.password, user.full_name))
    return WebstarConfig(path, post_offices, accounts, left_out, post_office_of)


def _why_not(user: WebstarUser, po: PostOffice, email: str, login_owner: str | None
             ) -> str | None:
    """Why this user can't be migrated, in the admin's words; None when it can."""
    if not po.domain:
        return "its post office has no mail domain"
    if not user.login:
        return "no login name"
    if login_owner is not None:
        return (f"the login name {user.login} is also used in the post office {login_owner}: "
                "4D's IMAP service can't tell them apart")
    if "@" in user.login or address_problem(email):
        return f"the login name {user.login!r} can't be the first part of an address"
    if user.enabled is None:
        return "the file's enabled flag is unreadable: check the user in 4D"
    if not user.enabled:
        return "login is disabled in 4D"
    if user.password is None:
        return "no password in 4D: it can't log in to 4D's IMAP service"
    if user.hashed:
        return (f"the password is stored hashed ({user.hashed}), which can't log in to 4D's "
                "IMAP service: set a readable one in 4D, or migrate this user with a users file")
    if any(ord(c) < 32 for c in user.password):
        return "the password contains control characters"
    return None
