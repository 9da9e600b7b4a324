"""The users file: CSV rows ``address;password;full name[;destination password]``.

Encoding detection, in this order (``detect_encoding``):

1. a byte-order mark: UTF-8 (``utf-8-sig``), UTF-32, UTF-16 (``utf-16``);
2. UTF-16 without a BOM, recognised by its NUL bytes in every other position;
3. strict UTF-8 (plain ASCII is reported as ``utf-8``);
4. a legacy code page: every candidate in ``_LEGACY`` that decodes the file is
   scored on how much its decoding looks like names (characters that are not
   letters of one language per line, rare look-alike letters, capitals inside a
   word); the lowest score wins, ties go to chardet's ranking of the language
   family and then to the Windows code page.  chardet alone can't tell cp1250
   from iso-8859-2 (same language model), the score can: e.g. byte 0xB9 is
   ``ą`` in cp1250 but ``š`` in iso-8859-2, and 0x8A..0x9F are C1 controls in
   ISO 8859.

Parsing decisions: lines are physical lines (CRLF, LF or CR); a quoted field
can't span lines.  The separator (``;``, tab or ``,``) is the one that yields
the most rows starting with a valid address, or the one an Excel ``sep=;``
first line names.  Address and full name are trimmed; passwords are kept
exactly as written, except that when every separator in the file is followed
by a space (``a@x.cz; secret; Jan``) that space is taken as part of the
separator, and a password of only spaces counts as missing.  A line whose
fields are all empty, a ``#`` comment and a header row (first row, first
field without ``@`` naming a mail/user/login column, or second naming a
password) are skipped.  A file without any row raises ``CsvError``; bad rows
become ``CsvProblem`` entries and the others still load.  No problem text,
excerpt or repr() ever contains a password.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from kimt.core.errors import CsvError

ENCODING_LABELS: dict[str, str] = {
    "utf-8": "Unicode (UTF-8)",
    "utf-8-sig": "Unicode (UTF-8 with BOM)",
    "utf-16": "Unicode (UTF-16 with BOM)",
    "utf-16-le": "Unicode (UTF-16 LE)",
    "utf-16-be": "Unicode (UTF-16 BE)",
    "utf-32": "Unicode (UTF-32 with BOM)",
    "cp1250": "Central European (Windows-1250)",
    "iso-8859-2": "Central European (ISO 8859-2)",
    "cp852": "Central European (DOS 852)",
    "cp1252": "Western (Windows-1252)",
    "iso-8859-1": "Western (ISO 8859-1)",
    "iso-8859-15": "Western (ISO 8859-15)",
    "cp850": "Western (DOS 850)",
    "cp1251": "Cyrillic (Windows-1251)",
    "koi8-r": "Cyrillic (KOI8-R)",
    "cp866": "Cyrillic (DOS 866)",
}
ENCODING_CHOICES: list[str] = list(ENCODING_LABELS)

# Legacy candidates, most preferred first, with their language family.
_LEGACY = {"cp1250": "ce", "iso-8859-2": "ce", "cp1252": "we", "iso-8859-1": "we",
           "iso-8859-15": "we", "cp852": "cp852", "cp850": "cp850", "cp1251": "cp1251",
           "koi8-r": "koi8-r", "cp866": "cp866"}
_DOS = ("cp852", "cp850", "cp866")  # rarely used now: they win only on a better score
_SAMPLE = 32768
_MAX_BYTES = 64 * 1024 * 1024
_MASK = "•••"

# Letters (lower case, beyond ASCII) that names in one language use.
_LANGS = [frozenset(s) for s in (
    "áčďéěíňóřšťúůýž", "áäčďéíĺľňóôŕšťúýž", "ąćęłńóśźż", "áéíóöőúüű", "čćđšž",
    "ăâîșțşţ", "äöüß", "àâæçéèêëîïôœùûüÿ", "áéíñóúü", "áâãàçéêíóôõú", "àèéìíîòóù",
    "åäæöøéü", "áðéíóúýþæö", "àçèéíïòóú",
)] + [frozenset(chr(c) for c in range(0x430, 0x460))]
_RARE = frozenset("ĺĹľĽŕŔ")  # look-alikes of more common letters in other code pages
_NEUTRAL = frozenset("\u2018\u2019\u2013\u2014")  # typography that names do contain
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_MIXED_SCRIPT = re.compile(r"[A-Za-z][\u0400-\u04ff]|[\u0400-\u04ff][A-Za-z]")
_TEXT_WORD = re.compile(r"[^\s;,\"@]*[^\x00-\x7f][^\s;,\"@]*")
_HIGH_LINE = re.compile(rb"[^\r\n]*[\x80-\xff][^\r\n]*")
_HIGH_WORD = re.compile(rb"[^\s;,\"@]*[\x80-\xff][^\s;,\"@]*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SHOWN = re.compile(r"[^;,|@]*@[^\s;,|]*")  # up to the end of the part with the @
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")  # the usual case
_LOCAL_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      "!#$%&'*+-/=?^_`{|}~.")
_HEADER_WORDS = ("mail", "user", "login", "account", "address", "adres", "name", "uzivatel",
                 "uživatel", "benutzer", "konto", "účet", "ucet", "jméno", "jmeno")
_PASSWORD_WORDS = ("pass", "heslo", "hasło", "haslo", "kennwort", "jelszó")


@dataclass(frozen=True)
class Account:
    """One user to migrate; passwords never show in repr()."""

    email: str
    password: str = field(repr=False)
    full_name: str = ""
    destination_password: str | None = field(default=None, repr=False)
    line: int = 0

    @property
    def local_part(self) -> str:
        return self.email.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True)
class CsvProblem:
    """A line that was not loaded: its 1-based physical line number and why."""

    line: int
    reason: str
    excerpt: str = ""


@dataclass(repr=False)
class AccountList:
    path: str
    encoding: str
    delimiter: str
    accounts: list[Account]
    problems: list[CsvProblem]

    def __repr__(self) -> str:
        return (f"AccountList(path={self.path!r}, encoding={self.encoding!r}, "
                f"delimiter={self.delimiter!r}, accounts=<{len(self.accounts)}>, "
                f"problems=<{len(self.problems)}>)")

    def select(self, only: Iterable[str]) -> list[Account]:
        """The accounts named in `only` (case-insensitive), in file order."""
        wanted = {a.strip().casefold(): a.strip() for a in only if a.strip()}
        chosen = [a for a in self.accounts if a.email.casefold() in wanted]
        unknown = set(wanted) - {a.email.casefold() for a in chosen}
        if unknown:
            names = ", ".join(sorted(wanted[u] for u in unknown))
            raise CsvError(f"not among the users loaded from the file: {names}", self.path)
        return chosen


def read_accounts(path: str | os.PathLike[str], encoding: str | None = None) -> AccountList:
    """Read and parse the users file at `path`; only CsvError escapes."""
    name = os.fspath(path)
    try:
        if os.path.getsize(name) > _MAX_BYTES:
            raise CsvError("the file is too large to be a users file", name)
        with open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise CsvError("the file does not exist", name) from None
    except IsADirectoryError:
        raise CsvError("this is a folder, not a file", name) from None
    except PermissionError:
        raise CsvError("permission denied: the file can't be read", name) from None
    except OSError as e:
        raise CsvError(f"the file can't be read ({e.strerror or e})", name) from None
    return parse_accounts(data, name, encoding)


def detect_encoding(data: bytes) -> str:
    """The codec name (one of ENCODING_CHOICES) the users file most likely uses."""
    data = bytes(data)
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = data[:_SAMPLE]
    half = len(sample) // 2
    if half >= 2:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        for enc, many, few in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
            if many > half * 0.4 and few <= half * 0.05 and _decodes(data, enc):
                return enc
    if _decodes(data, "utf-8"):
        return "utf-8"
    return _guess_legacy(data)


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _guess_legacy(data: bytes) -> str:
    candidates = [e for e in _LEGACY if _decodes(data, e)]  # iso-8859-1 always does
    sample = b"\n".join(_HIGH_LINE.findall(data))[:_SAMPLE]  # ASCII-only lines tell nothing
    # chardet sees only the words with non-ASCII bytes: addresses and passwords are noise.
    words = b" ".join(_HIGH_WORD.findall(sample))
    import chardet  # here: only a legacy-encoded file needs it, and it is slow to import

    ranked = chardet.detect_all(words, include_encodings=candidates,
                                compat_names=False, ignore_threshold=True,
                                no_match_encoding="iso-8859-1")
    family_rank: dict[str, int] = {}
    for r in ranked:
        name = _canonical(r.get("encoding") or "")
        if name in _LEGACY:
            family_rank.setdefault(_LEGACY[name], len(family_rank))
    prefer = list(_LEGACY)
    return min(candidates, key=lambda e: (_score(sample.decode(e)), e in _DOS,
                                          family_rank.get(_LEGACY[e], 99), prefer.index(e)))


def _score(text: str) -> float:
    """How little `text` looks like names; 0 = every line fits one language."""
    words = (" ".join(_TEXT_WORD.findall(line)) for line in _LINE_BREAK.split(text))
    return sum(_line_score(w) for w in words if w)


@lru_cache(maxsize=4096)
def _line_score(line: str) -> float:
    chars = [c for c in _NON_ASCII.findall(line) if c not in _NEUTRAL]
    lower = [c.lower() for c in chars]
    misfit = min(sum(c not in lang for c in lower) for lang in _LANGS)
    rare = sum(c in _RARE for c in chars) * 0.5
    inner_capital = sum(1 for m in _NON_ASCII.finditer(line)
                        if m.group().isupper() and line[m.start() - 1: m.start()].isalpha()
                        and line[m.end(): m.end() + 1].islower())
    return misfit + rare + inner_capital + len(_MIXED_SCRIPT.findall(line))


def _canonical(encoding: str) -> str:
    """Our spelling of a codec name (one of ENCODING_CHOICES where possible)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return ""
    return next((c for c in ENCODING_CHOICES if codecs.lookup(c).name == name), name)


def parse_accounts(data: bytes, path: str = "<data>", encoding: str | None = None) -> AccountList:
    """Parse the bytes of a users file; `encoding` forces a codec instead of detection."""
    data = bytes(data)
    if len(data) > _MAX_BYTES:
        raise CsvError("the file is too large to be a users file", path)
    if encoding is None:
        enc = detect_encoding(data)
    else:
        enc = _canonical(encoding)
        if not enc:
            raise CsvError(f"unknown encoding {encoding!r}", path)
    text, lossy = _decode(data, enc, path)
    lines = _LINE_BREAK.split(text.removeprefix("\ufeff"))
    data_lines = [(n, ln) for n, ln in enumerate(lines, 1)
                  if ln.strip() and not ln.lstrip().startswith("#")]
    if data_lines and re.fullmatch(r"sep=[;,\t]", data_lines[0][1].strip(" ").lower()):
        delim, skip = data_lines.pop(0)[1].strip(" ")[4], False  # Excel's separator hint
    else:
        delim, skip = _sniff([ln for _, ln in data_lines[:200]])
    result = AccountList(path, enc, delim, [], [])
    seen: dict[str, int] = {}
    rows = 0
    for n, line in data_lines:
        fields = _split(line, delim, skip)
        if fields is not None and not any(f.strip() for f in fields):
            continue
        rows += 1
        if rows == 1 and fields is not None and _is_header(fields):
            continue
        reason = _problem(fields, delim, lossy and "\ufffd" in line, enc, seen)
        if reason:
            excerpt = _excerpt(fields, delim) if fields is not None else _MASK
            result.problems.append(CsvProblem(n, reason, excerpt))
            continue
        assert fields is not None
        email = fields[0].strip()
        seen[email.casefold()] = n
        other = fields[3] if len(fields) > 3 and fields[3].strip() else None
        name = fields[2].strip() if len(fields) > 2 else ""
        result.accounts.append(Account(email, fields[1], name, other, n))
    if not result.accounts and not result.problems:
        raise CsvError("no users in the file: it is empty or has only comments", path)
    return result


def _decode(data: bytes, enc: str, path: str) -> tuple[str, bool]:
    """(text, whether undecodable bytes were replaced by U+FFFD)."""
    try:
        return data.decode(enc), False
    except LookupError:
        raise CsvError(f"{enc!r} is not a text encoding", path) from None
    except ValueError:  # UnicodeError and friends
        pass
    try:
        return data.decode(enc, "replace"), True
    except (LookupError, ValueError, TypeError):
        raise CsvError(f"the file can't be decoded as {enc}", path) from None


def _split(line: str, delim: str, skip: bool) -> list[str] | None:
    try:
        return next(csv.reader((line,), delimiter=delim, quotechar='"',
                               skipinitialspace=skip, strict=True))
    except (csv.Error, StopIteration):
        return None


def _sniff(lines: list[str]) -> tuple[str, bool]:
    """(separator, whether a space after it belongs to it) from sample lines."""
    best, best_score = ";", 0
    for d in (";", "\t", ","):
        rows = (_split(ln, d, True) for ln in lines)
        score = sum(1 for r in rows if r and len(r) > 1 and not _address_problem(r[0].strip()))
        if score > best_score:
            best, best_score = d, score
    if not best_score:
        best = max((";", "\t", ","), key=lambda d: sum(ln.count(d) for ln in lines))
    followers = [m.group(1) for ln in lines for m in re.finditer(re.escape(best) + "(.)", ln)]
    spaced = sum(c == " " for c in followers)
    plain = sum(c not in (" ", best) for c in followers)
    return best, spaced > 0 and plain == 0


def _is_header(fields: list[str]) -> bool:
    first = fields[0].strip().lower()
    if "@" in first or not first:
        return False
    second = fields[1].strip().lower() if len(fields) > 1 else ""
    return (any(w in first for w in _HEADER_WORDS)
            or any(w in second for w in _PASSWORD_WORDS))


def _problem(fields: list[str] | None, delim: str, lossy: bool, enc: str,
             seen: dict[str, int]) -> str | None:
    if fields is None:
        return "the line can't be read as CSV: a double quote is not closed or misplaced"
    if lossy:
        return f"contains bytes that are not valid {enc}: choose another encoding"
    if len(fields) == 1:
        sep = "<tab>" if delim == "\t" else delim
        return f"too few columns: expected address{sep}password{sep}full name"
    email = fields[0].strip()
    bad = _address_problem(email)
    if bad:
        return bad
    if not fields[1].strip():
        return "missing password"
    used = max(i for i, f in enumerate(fields) if f.strip()) + 1
    if used > 4:
        return (f"too many columns ({used}, at most 4): put fields containing "
                f"the separator in double quotes")
    if any(ord(c) < 32 and c != "\t" for f in fields[1:4:2] for c in f):
        return "a password contains control characters"
    if email.casefold() in seen:
        return f"duplicate of line {seen[email.casefold()]}"
    return None


def _shown(address: str) -> str:
    """The address for a message, cut where a password could follow it."""
    m = _SHOWN.match(address)
    shown = m.group() if m else ""
    if "@" not in shown:
        return _MASK if address else ""
    return _printable(shown + ("…" if len(shown) < len(address) else ""))


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _address_problem(email: str) -> str | None:
    """Why `email` isn't a usable address, in plain words; None if it is."""
    if not email:
        return "missing e-mail address"
    if "@" not in email:
        return "invalid address: no @"
    if _PLAIN_ADDRESS.fullmatch(email) and len(email) <= 254 and email.index("@") <= 64:
        return None
    head = f"invalid address '{_shown(email)}'"
    if any(c.isspace() for c in email):
        return f"{head}: contains a space"
    if email.count("@") > 1:
        return f"{head}: more than one @"
    local, domain = email.split("@")
    if not local:
        return f"{head}: nothing before the @"
    if not domain:
        return f"{head}: no domain"
    if len(email) > 254 or len(local) > 64:
        return f"{head}: too long"
    for c in local:
        if c not in _LOCAL_OK and not (ord(c) > 127 and c.isalnum()):
            return f"{head}: character '{_printable(c)}' not allowed"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return f"{head}: misplaced dot before the @"
    for label in domain.split("."):
        if not label:
            return f"{head}: empty part in the domain"
        for c in label:
            if not (c.isalnum() or c == "-"):
                return f"{head}: character '{_printable(c)}' not allowed in the domain"
        if label[0] == "-" or label[-1] == "-":
            return f"{head}: a domain part starts or ends with '-'"
    return None


def address_problem(email: str) -> str | None:
    """Why `email` can't be a mail address, in plain words; None when it can."""
    return _address_problem(email)


def _excerpt(fields: list[str], delim: str) -> str:
    """The line with passwords (and unknown extra columns) masked, at most 80 chars."""
    parts = [_shown(fields[0].strip())]
    for i, f in enumerate(fields[1:], 1):
        parts.append(_printable(f.strip()) if i == 2 else (_MASK if f.strip() else ""))
    while parts and not parts[-1]:
        parts.pop()
    text = (" " if delim == "\t" else delim).join(parts)
    return text if len(text) <= 80 else text[:79] + "…"


def format_problems(al: AccountList) -> str:
    """A summary line and one line per problem, for the console and the Report log."""
    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    sep = "tab" if al.delimiter == "\t" else f"'{al.delimiter}'"
    out = [f"{al.path}: {count(len(al.accounts), 'user')}, {count(len(al.problems), 'problem')}"
           f" (encoding {al.encoding}, separator {sep})"]
    for p in al.problems:
        out.append(f"  line {p.line}: {p.reason}" + (f"  ({p.excerpt})" if p.excerpt else ""))
    return "\n".join(out) + "\n"
