"""A seeded office-mail corpus for the W1–W4 benchmark, appended into an IMAP server.

    python bench/corpus.py --users 4 --messages 200 --seed 7 --dry-run   (totals + digest)
    python bench/corpus.py --users 4 --messages 200 --seed 7 --port 10143 [--master admin]

The invariant: every byte of every message, its folder, flags and INTERNALDATE
depend only on (seed, user number, message number), never on the order in which
messages are built or on the server; ``digest`` sums them all up, so "same seed,
same corpus" is one comparison.  That is why each message has a random generator
of its own (seeded from those three values) and a user's plan — which folder, date
and flags each message gets, and which are duplicated — is drawn first from a
generator of its own: any process can rebuild any folder without building the rest.

Seeding is setup, not measurement, so it is parallel: folders are created by one
connection per user, then every (user, folder) is built and appended in a pool of
processes (one connection each, MULTIAPPEND + LITERAL+ batches of ~8 MB, messages in
date order as mail arrives).  Going through IMAP, not writing files, leaves the
source's indexes built, so the first tool measured pays no indexing the others don't.

Shape per user: INBOX, Sent, Drafts, Trash, Archive/2019, Archive/2020 (dates in
their year), Účty/Faktury (non-ASCII), Project X (space), R&D ("&", unsubscribed),
Lists/dev.team (dot) and the empty Archive/Empty; parents exist only as \\Noselect.
Sizes ~70 % 2–20 KB, ~20 % 20–100 KB, ~8 % 100 KB–1 MB, ~2 % 1–2 MB (base64
attachments); flags \\Seen \\Answered \\Flagged \\Draft and keywords $Label1 $Forwarded
NonJunk; INTERNALDATE 2016–2024 in ten time zones; ~5 % 8-bit UTF-8 bodies; ~1 %
without Message-ID; per 100 messages one exact duplicate in the same folder and one
copy (same Message-ID, one more header) filed in another folder.
"""

from __future__ import annotations

import argparse
import base64
import calendar
import hashlib
import imaplib
import os
import random
import re
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dovecot import format_internaldate, mutf7_encode  # noqa: E402

DOMAIN = "example.test"
FOLDERS = {  # logical name -> share of a user's messages (%)
    "INBOX": 34, "Sent": 14, "Drafts": 2, "Trash": 5, "Archive/2019": 12,
    "Archive/2020": 12, "Účty/Faktury": 6, "Project X": 8, "R&D": 3, "Lists/dev.team": 4,
}
EMPTY_FOLDER = "Archive/Empty"
UNSUBSCRIBED = "R&D"
START = calendar.timegm((2016, 1, 1, 0, 0, 0))
END = calendar.timegm((2024, 12, 31, 23, 59, 59))
YEAR_OF = {f"Archive/{y}": (calendar.timegm((y, 1, 1, 0, 0, 0)),
                            calendar.timegm((y, 12, 31, 23, 59, 59))) for y in (2019, 2020)}
ZONES = (0, 60, 120, -300, -240, -420, 330, 540, 600, -180)  # minutes east of UTC
BATCH_BYTES = 8 << 20

FIRST = ("Jan", "Petra", "Jiří", "Zoë", "Lukáš", "Anna", "Peter", "María", "Søren", "Chen",
         "Olga", "Michael", "Eva", "Tomáš", "Sarah", "Ahmed", "Yuki", "Kateřina", "Liam")
LAST = ("Novák", "Müller", "Smith", "Dvořák", "García", "Jensen", "Wang", "Brown", "Horák",
        "Rossi", "Schmidt", "Kim", "Nováková", "O'Brien", "Dubois", "Tanaka", "Svoboda")
PEER_DOMAINS = ("example.com", "example.org", "firma.example.cz", "mail.example.net")
WORDS = ("the of and to in is that for it as with was on be by this are from at or an "
         "have not but which they you we can all there been their one has more when will "
         "invoice meeting project report budget deadline attached review release server "
         "migration mailbox folder schedule customer contract update draft please thanks "
         "regards question answer tomorrow quarter delivery payment order").split()
WORDS_8BIT = ("faktura schůzka příloha děkuji prosím zítra účet objednávka dodávka Grüße "
              "Straße Übersicht réunion déjà façade naïve smörgåsbord").split()
SUBJECTS = ("Meeting notes", "Invoice {n}", "Quarterly report", "Re: project status",
            "Budget {n}", "Deadline moved", "Server migration plan", "Lunch?",
            "Contract draft v{n}", "Faktura č. {n}", "Schůzka v úterý", "Übersicht {n}",
            "Release {n} notes", "Re: question about order #{n}", "Weekly digest {n}")
ATTACHMENTS = (("pdf", "application/pdf"), ("jpg", "image/jpeg"), ("zip", "application/zip"),
               ("png", "image/png"), ("xlsx", "application/vnd.openxmlformats-officedocument"
                                              ".spreadsheetml.sheet"))
MAILERS = ("Thunderbird 115.3", "Microsoft Outlook 16.0", "Apple Mail (2.3696)",
           "Roundcube Webmail/1.6")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# --------------------------------------------------------------------------- users
def user_name(index: int) -> str:
    """The index-th (0-based) benchmark user, e.g. user001@example.test."""
    return f"user{index + 1:03d}@{DOMAIN}"


def password_for(user: str) -> str:
    return "pw-" + user.split("@")[0]


# --------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Origin:
    """What a message's bytes are made of: its number and where it was first filed."""

    index: int
    folder: str
    epoch: int
    zone: int


@dataclass(frozen=True)
class Planned:
    """One message in a folder: its bytes (origin + extra header), flags and date."""

    folder: str
    epoch: int
    zone: int
    flags: tuple[str, ...]
    origin: Origin
    extra_header: str = ""

    @property
    def internaldate(self) -> str:
        return format_internaldate(self.epoch, self.zone)


def _flags(rng: random.Random, folder: str, age: float) -> tuple[str, ...]:
    def maybe(p: float, flag: str) -> list[str]:
        return [flag] if rng.random() < p else []

    if folder == "INBOX":
        return tuple(maybe(0.55 + 0.4 * age, "\\Seen") + maybe(0.15, "\\Answered")
                     + maybe(0.06, "\\Flagged") + maybe(0.05, "$Label1")
                     + maybe(0.03, "$Forwarded") + maybe(0.05, "NonJunk"))
    if folder == "Sent":
        return ("\\Seen", *maybe(0.05, "$Label1"))
    if folder == "Drafts":
        return ("\\Draft", *maybe(0.5, "\\Seen"))
    return tuple(maybe(0.95, "\\Seen") + maybe(0.04, "\\Flagged")
                 + maybe(0.25 if folder.startswith("Účty") else 0.06, "$Label1")
                 + maybe(0.05, "\\Answered"))


def plan_user(seed: int, user_index: int, per_user: int) -> dict[str, list[Planned]]:
    """{folder: messages in date order} for one user, the empty folder included."""
    rng = random.Random(f"kimt-bench/{seed}/{user_index}/plan")
    names, weights = list(FOLDERS), list(FOLDERS.values())
    originals = []
    for i in range(per_user):
        folder = rng.choices(names, weights)[0]
        lo, hi = YEAR_OF.get(folder, (START, END))
        epoch, zone = rng.randint(lo, hi), rng.choice(ZONES)
        flags = _flags(rng, folder, (END - epoch) / (END - START))
        originals.append(Planned(folder, epoch, zone, flags, Origin(i, folder, epoch, zone)))
    extra = []
    for _ in range(per_user // 100):  # an exact duplicate: same bytes, same folder
        p = rng.choice(originals)
        extra.append(Planned(p.folder, p.epoch + rng.randint(0, 5), p.zone,
                             _flags(rng, p.folder, 0.5), p.origin))
    for _ in range(per_user // 100):  # the same mail filed again elsewhere, one header more
        p = rng.choice(originals)
        other = rng.choice([n for n in names if n != p.folder])
        extra.append(Planned(other, p.epoch + rng.randint(60, 86400), p.zone, ("\\Seen",),
                             p.origin, f"X-Copied-To: {other}"))
    plan: dict[str, list[Planned]] = {name: [] for name in names}
    for p in originals + extra:
        plan[p.folder].append(p)
    for messages in plan.values():
        messages.sort(key=lambda p: (p.epoch, p.origin.index))
    plan[EMPTY_FOLDER] = []
    return plan


# --------------------------------------------------------------------------- messages
def _encoded(text: str) -> str:
    """RFC 2047 for a header value that is not ASCII."""
    if text.isascii():
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _address(name: str, mail: str) -> str:
    if not name.isascii():
        return f"{_encoded(name)} <{mail}>"
    return f'"{name}" <{mail}>' if "'" in name else f"{name} <{mail}>"


def _rfc5322_date(epoch: int, zone: int) -> str:
    t = time.gmtime(epoch + zone * 60)
    sign = "+" if zone >= 0 else "-"
    return (f"{DAYS[t.tm_wday]}, {t.tm_mday} {MONTHS[t.tm_mon - 1]} {t.tm_year} "
            f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {sign}{abs(zone) // 60:02d}"
            f"{abs(zone) % 60:02d}")


def _text(rng: random.Random, nbytes: int, eight_bit: bool) -> str:
    """Wrapped lines of words, about nbytes long, a blank line every 7 lines."""
    vocab = WORDS + WORDS_8BIT if eight_bit else WORDS
    words = rng.choices(vocab, k=max(1, nbytes // 6))
    lines = [" ".join(words[i:i + 11]) for i in range(0, len(words), 11)]
    paragraphs = ("\r\n".join(lines[i:i + 7]) for i in range(0, len(lines), 7))
    return "\r\n\r\n".join(paragraphs) + "\r\n"


def _size(rng: random.Random) -> int:
    r = rng.random()
    if r < 0.70:
        return rng.randint(2_000, 20_000)
    if r < 0.90:
        return rng.randint(20_000, 100_000)
    if r < 0.98:
        return rng.randint(100_000, 1_000_000)
    return rng.randint(1_000_000, 2_000_000)


@dataclass(frozen=True)
class Profile:
    """A user's own name and address, and the people they write with."""

    name: str
    address: str
    contacts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, seed: int, user_index: int) -> Profile:
        rng = random.Random(f"kimt-bench/{seed}/{user_index}/profile")
        contacts = []
        for _ in range(40):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            local = re.sub(r"[^a-z]", "", (first[0] + last).lower()) or "x"
            contacts.append((f"{first} {last}",
                             f"{local}{rng.randint(1, 99)}@{rng.choice(PEER_DOMAINS)}"))
        return cls(f"{rng.choice(FIRST)} {rng.choice(LAST)}", user_name(user_index),
                   tuple(contacts))


def build(seed: int, user_index: int, profile: Profile, p: Planned) -> bytes:
    """The RFC 5322 bytes of a planned message (CRLF line ends)."""
    o = p.origin
    rng = random.Random(f"kimt-bench/{seed}/{user_index}/{o.index}")
    size, eight_bit = _size(rng), rng.random() < 0.05
    has_id = rng.random() >= 0.01
    peer, me = rng.choice(profile.contacts), (profile.name, profile.address)
    sender, to = (me, peer) if o.folder in ("Sent", "Drafts") else (peer, me)
    subject = rng.choice(SUBJECTS).format(n=rng.randint(100, 99999))
    if o.folder.startswith("Lists/"):
        subject = "[dev] " + subject
    sent = o.epoch - rng.randint(1, 900)
    head = []
    if o.folder not in ("Sent", "Drafts"):
        head.append(f"Return-Path: <{sender[1]}>")
        for hop in range(rng.randint(1, 3)):
            host = sender[1].split("@")[1]
            head.append(f"Received: from mx{hop}.{host} (mx{hop}.{host} [192.0.2.{hop + 10}])"
                        f"\r\n\tby mail.{DOMAIN} with ESMTPS id {rng.getrandbits(48):012x}"
                        f"\r\n\tfor <{to[1]}>; {_rfc5322_date(sent + 2 * hop, 0)}")
    head += [f"From: {_address(*sender)}", f"To: {_address(*to)}"]
    if rng.random() < 0.2:
        head.append("Cc: " + ",\r\n\t".join(_address(*c) for c in
                                            rng.sample(profile.contacts, rng.randint(1, 3))))
    head += [f"Subject: {_encoded(subject)}", f"Date: {_rfc5322_date(sent, o.zone)}"]
    if has_id:
        local = hashlib.sha1(f"{seed}/{user_index}/{o.index}".encode()).hexdigest()[:20]
        head.append(f"Message-ID: <{local}.{o.index}@{DOMAIN}>")
    if subject.startswith("Re:"):
        ref = f"<{rng.getrandbits(64):016x}@{rng.choice(PEER_DOMAINS)}>"
        head += [f"In-Reply-To: {ref}", f"References: {ref}"]
    if o.folder.startswith("Lists/"):
        head.append("List-Id: Developers <dev.lists.example.org>")
    head += [f"X-Mailer: {rng.choice(MAILERS)}", "MIME-Version: 1.0"]
    if p.extra_header:
        head.append(p.extra_header)

    charset, cte = ("utf-8", "8bit") if eight_bit else ("us-ascii", "7bit")
    budget = max(200, size - sum(len(h) + 2 for h in head) - 400)
    if size > 100_000 or (size > 20_000 and rng.random() < 0.6):
        kind = "mixed"
    else:
        kind = "alternative" if rng.random() < 0.3 else "plain"
    if kind == "plain":
        head += [f"Content-Type: text/plain; charset={charset}; format=flowed",
                 f"Content-Transfer-Encoding: {cte}"]
        body = _text(rng, budget, eight_bit)
    else:
        boundary = f"----=_Part_{rng.getrandbits(64):016x}"
        head.append(f'Content-Type: multipart/{kind};\r\n\tboundary="{boundary}"')
        text = _text(rng, budget // 2 if kind == "alternative"
                     else min(budget // 4, rng.randint(300, 4000)), eight_bit)
        parts = [f"Content-Type: text/plain; charset={charset}\r\n"
                 f"Content-Transfer-Encoding: {cte}\r\n\r\n{text}"]
        if kind == "alternative":
            html = "<html><body><p>" + text.replace("\r\n\r\n", "</p>\r\n<p>") + "</p></body>" \
                   "</html>\r\n"
            parts.append(f"Content-Type: text/html; charset={charset}\r\n"
                         f"Content-Transfer-Encoding: {cte}\r\n\r\n{html}")
        else:
            # base64 grows 3 -> 4, plus CRLF every 76 characters
            raw = rng.randbytes(max(64, (budget - len(text)) * 3 * 76 // (4 * 78)))
            ext, ctype = rng.choice(ATTACHMENTS)
            fname = f"{rng.choice(('report', 'scan', 'faktura', 'übersicht'))}_" \
                    f"{rng.randint(1, 999)}.{ext}"
            parts.append(f'Content-Type: {ctype}; name="{_encoded(fname)}"\r\n'
                         "Content-Transfer-Encoding: base64\r\n"
                         f'Content-Disposition: attachment; filename="{_encoded(fname)}"\r\n\r\n'
                         + base64.encodebytes(raw).decode().replace("\n", "\r\n"))
        body = "This is a multi-part message in MIME format.\r\n" \
               + "".join(f"--{boundary}\r\n{part}" for part in parts) + f"--{boundary}--\r\n"
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def messages(seed: int, user_index: int, per_user: int,
             folder: str) -> Iterator[tuple[Planned, bytes]]:
    """(planned, bytes) of one user's folder, in date order."""
    profile = Profile.of(seed, user_index)
    for p in plan_user(seed, user_index, per_user)[folder]:
        yield p, build(seed, user_index, profile, p)


# --------------------------------------------------------------------------- IMAP
def _quoted(logical: str) -> str:
    return '"' + mutf7_encode(logical).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _login(host: str, port: int, user: str, master: tuple[str, str] | None) -> imaplib.IMAP4:
    """Logged in as ``user``: through the master login (SASL PLAIN authzid), or with
    the user's own password."""
    m = imaplib.IMAP4(host, port, timeout=300)
    m.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # imaplib sends in pieces
    if master is None:
        m.login(user, password_for(user))
    else:
        m.authenticate("PLAIN", lambda _: f"{user}\0{master[0]}\0{master[1]}".encode())
    return m


def _multiappend(m: imaplib.IMAP4, mailbox: str, batch: list[tuple[Planned, bytes]]) -> None:
    """One APPEND of several messages, non-synchronizing literals (LITERAL+)."""
    tag = m._new_tag()
    parts = [tag + b" APPEND " + mailbox.encode()]
    for p, raw in batch:
        flags = " (" + " ".join(p.flags) + ")" if p.flags else ""
        parts.append(f'{flags} "{p.internaldate}" {{{len(raw)}+}}\r\n'.encode() + raw)
    m.send(b"".join(parts) + b"\r\n")
    while True:
        line = m.readline()
        if not line:
            raise RuntimeError(f"connection closed during APPEND to {mailbox}")
        if line.startswith(tag + b" "):
            break
    if not line[len(tag) + 1:].startswith(b"OK"):
        raise RuntimeError(f"APPEND to {mailbox}: {line.decode(errors='replace').strip()}")


def _create_folders(host: str, port: int, user: str, master: tuple[str, str] | None) -> None:
    m = _login(host, port, user, master)
    try:
        for folder in [*FOLDERS, EMPTY_FOLDER]:
            if folder == "INBOX":
                continue
            typ, data = m.create(_quoted(folder))
            if typ != "OK" and b"ALREADYEXISTS" not in b" ".join(d or b"" for d in data):
                raise RuntimeError(f"{user}: CREATE {folder}: {typ} {data}")
            if folder != UNSUBSCRIBED:
                m.subscribe(_quoted(folder))
    finally:
        m.logout()


def _fill_folder(task: tuple[str, int, tuple[str, str] | None, int, int, int, str]
                 ) -> tuple[int, str, int, int, str]:
    """Build and APPEND one user's folder; (user_index, folder, messages, bytes, sha256)."""
    host, port, master, seed, user_index, per_user, folder = task
    digest = hashlib.sha256()
    count = size = 0
    m = _login(host, port, user_name(user_index), master) if host else None
    try:
        batch: list[tuple[Planned, bytes]] = []
        batch_size = 0
        for p, raw in messages(seed, user_index, per_user, folder):
            digest.update(f"{folder}\0{' '.join(p.flags)}\0{p.internaldate}\0{len(raw)}\0"
                          .encode() + raw)
            count, size = count + 1, size + len(raw)
            if m is None:
                continue
            batch.append((p, raw))
            batch_size += len(raw)
            if batch_size >= BATCH_BYTES:
                _multiappend(m, _quoted(folder), batch)
                batch, batch_size = [], 0
        if batch and m is not None:
            _multiappend(m, _quoted(folder), batch)
    finally:
        if m is not None:
            m.logout()
    return user_index, folder, count, size, digest.hexdigest()


# --------------------------------------------------------------------------- the corpus
@dataclass
class Corpus:
    """What was seeded: totals, {user: {folder: messages}}, and the digest of it all."""

    users: list[str]
    messages: int
    bytes: int
    folders: dict[str, dict[str, int]]
    digest: str
    seconds: float


def seed_corpus(users: int, per_user: int, seed: int, *, host: str = "", port: int = 0,
                master: tuple[str, str] | None = None, jobs: int = 0) -> Corpus:
    """Build the corpus and, given a host, APPEND it there (the users must exist and be
    empty).  ``jobs`` processes build and append folders side by side (0: one per CPU)."""
    t0 = time.monotonic()
    names = [user_name(i) for i in range(users)]
    if host:
        for user in names:
            _create_folders(host, port, user, master)
    # the biggest folders first, so that the pool's last tasks are short ones
    tasks = sorted(((host, port, master, seed, i, per_user, f)
                    for i in range(users) for f in [*FOLDERS, EMPTY_FOLDER]),
                   key=lambda t: -FOLDERS.get(t[-1], 0))
    with ProcessPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        done = list(pool.map(_fill_folder, tasks))
    total = hashlib.sha256()
    folders: dict[str, dict[str, int]] = {u: {} for u in names}
    count = size = 0
    for user_index, folder, n, nbytes, digest in sorted(done):
        total.update(f"{user_index}\0{folder}\0{digest}\n".encode())
        folders[user_name(user_index)][folder] = n
        count, size = count + n, size + nbytes
    return Corpus(names, count, size, folders, total.hexdigest(), time.monotonic() - t0)


def main(argv: Iterable[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2)
    ap.add_argument("--messages", type=int, default=100, help="per user (plus ~2 %% copies)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="IMAP port (plain text) of the server to fill")
    ap.add_argument("--master", default="admin",
                    help="master user (SASL PLAIN authzid); '' logs in with pw-userNNN")
    ap.add_argument("--master-pass", default="adminpass")
    ap.add_argument("--jobs", type=int, default=0, help="processes (default: one per CPU)")
    ap.add_argument("--dry-run", action="store_true", help="only build: totals and digest")
    a = ap.parse_args(None if argv is None else list(argv))
    if not a.dry_run and a.port is None:
        ap.error("--port is needed (or --dry-run)")
    corpus = seed_corpus(a.users, a.messages, a.seed,
                         host="" if a.dry_run else a.host, port=a.port or 0,
                         master=(a.master, a.master_pass) if a.master else None, jobs=a.jobs)
    print(f"{len(corpus.users)} users, {corpus.messages} messages, "
          f"{corpus.bytes / 1e6:.1f} MB in {corpus.seconds:.1f} s; digest {corpus.digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
