"""Reading a folder's contents: UIDs and flags, keys, bodies, and many folders' STATUS.

Everything that lists is here, apart from the copy policy. A re-run must
cost little, so the cheap answers come first: `uid_flags` lists every UID
with its flags in one `UID FETCH 1:*`; `list_messages` fetches keys only for
the UIDs asked (the ones the journal does not know); `status_many` sends the
STATUS of every folder at once and reads the answers after, one round trip
for a whole mailbox. imapclient has no '1:*' message set and no pipelining,
so those two talk to its imaplib object directly and parse with imapclient's
own parser.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc
from imapclient.response_parser import parse_fetch_response, parse_response

from .identity import (
    FETCH_KEY_ITEM,
    MessageInfo,
    body_hash,
    header_fields,
    key_parts,
    message_key,
)

log = logging.getLogger("kimt.listing")

KEY_ITEMS = ["UID", "RFC822.SIZE", "FLAGS", "INTERNALDATE", FETCH_KEY_ITEM]


def text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def batches(uids: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for i in range(0, len(uids), size):
        yield uids[i : i + size]


def _header_blob(data: dict) -> bytes:
    for k, v in data.items():
        if isinstance(k, bytes) and k.startswith(b"BODY[HEADER"):
            return v or b""
    return b""


def message_info(uid: int, data: dict) -> MessageInfo:
    """A `MessageInfo` from one FETCH answer of `KEY_ITEMS`."""
    fields = header_fields(_header_blob(data))
    msgid, instant, sender, _ = key_parts(fields)
    return MessageInfo(
        uid=uid,
        key=message_key(fields),
        size=int(data.get(b"RFC822.SIZE") or 0),
        flags=tuple(text(f) for f in data.get(b"FLAGS", ())),
        internaldate=data.get(b"INTERNALDATE"),
        subject=fields["subject"][:120],
        date=fields["date"][:60],
        message_id=msgid,
        sender=sender,
        instant=instant,
    )


def list_messages(client: IMAPClient, uids: Sequence[int] | None = None,
                  batch: int = 1000) -> list[MessageInfo]:
    """Key, size, flags and date of the given UIDs (all when None) of the selected folder."""
    if uids is None:
        uids = sorted(client.search("ALL"))
    infos: list[MessageInfo] = []
    for chunk in batches(sorted(uids), batch):
        resp = client.fetch(list(chunk), KEY_ITEMS)
        for uid, data in resp.items():
            if b"RFC822.SIZE" not in data:  # an unsolicited FETCH (flag change), not ours
                continue
            infos.append(message_info(uid, data))
    infos.sort(key=lambda m: m.uid)
    return infos


def uid_flags(client: IMAPClient) -> dict[int, tuple[str, ...]]:
    """{uid: flags} of every message in the selected folder, in one round trip."""
    typ, data = client._imap.uid("FETCH", "1:*", "(UID FLAGS)")
    if text(typ).upper() != "OK":
        raise imap_exc.IMAPClientError(f"UID FETCH 1:* (FLAGS) refused: "
                                       f"{' '.join(text(d) for d in data if d)}")
    lines = [d for d in data if d is not None]
    if not lines:  # an empty folder: Dovecot answers OK with no FETCH at all
        return {}
    parsed = parse_fetch_response(lines, False, True)
    return {uid: tuple(text(f) for f in d.get(b"FLAGS", ())) for uid, d in parsed.items()
            if isinstance(uid, int)}


def fetch_bodies(client: IMAPClient, uids: Sequence[int]) -> dict[int, bytes]:
    resp = client.fetch(list(uids), ["BODY.PEEK[]"])
    return {uid: data[b"BODY[]"] for uid, data in resp.items() if b"BODY[]" in data}


def size_batches(uids: Sequence[int], sizes: dict[int, int], max_count: int,
                 max_bytes: int) -> Iterator[list[int]]:
    """Split UIDs into batches of at most max_count messages and ~max_bytes."""
    batch: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= max_count or total + size > max_bytes):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def fetch_hashes(client: IMAPClient, uids: Sequence[int], batch_bytes: int,
                 sizes: dict[int, int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for group in size_batches(uids, sizes, 200, batch_bytes):
        for uid, raw in fetch_bodies(client, group).items():
            out[uid] = body_hash(raw)
    return out


@dataclass(frozen=True)
class FolderStatus:
    """What STATUS says of a folder: enough to tell that nothing changed."""

    uidvalidity: int
    uidnext: int
    messages: int
    modseq: int | None = None  # HIGHESTMODSEQ, where the server has CONDSTORE


def status_many(client: IMAPClient, names: Sequence[str]) -> dict[str, FolderStatus]:
    """STATUS of every folder in `names`, the commands sent together (pipelined).

    A folder whose answer can't be read is left out: the caller then lists it
    in full, which is never wrong, only slower.
    """
    items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"]
    if client.has_capability("CONDSTORE"):
        items.append("HIGHESTMODSEQ")
    imap = client._imap
    wanted = {}
    tags = []
    for name in names:
        encoded = client._normalise_folder(name)
        wanted[encoded.strip(b'"').replace(b'\\"', b'"').replace(b"\\\\", b"\\")] = name
        tag = imap._new_tag()
        imap.send(tag + b" STATUS " + encoded + b" (" + " ".join(items).encode() + b")\r\n")
        imap.tagged_commands[tag] = None
        tags.append(tag)
    out: dict[str, FolderStatus] = {}
    refused = 0
    for tag in tags:
        try:
            typ, _ = imap._command_complete("STATUS", tag)
        except imap.abort:
            raise
        except imap.error:  # a BAD for one folder
            refused += 1
            continue
        if text(typ).upper() != "OK":
            refused += 1
    raw = imap.untagged_responses.pop("STATUS", [])
    for line in raw:
        if not isinstance(line, bytes):
            continue  # a name sent as a literal: leave that folder to the full listing
        try:
            folder, values = parse_response([line])
        except Exception:
            continue
        name = wanted.get(folder if isinstance(folder, bytes) else str(folder).encode())
        if name is None or not isinstance(values, tuple):
            continue
        d = {text(values[i]).upper(): values[i + 1] for i in range(0, len(values) - 1, 2)}
        try:
            out[name] = FolderStatus(int(d["UIDVALIDITY"]), int(d["UIDNEXT"]),
                                     int(d["MESSAGES"]),
                                     int(d["HIGHESTMODSEQ"]) if "HIGHESTMODSEQ" in d else None)
        except (KeyError, TypeError, ValueError):
            continue
    if refused:
        log.debug("STATUS refused for %d of %d folders", refused, len(names))
    return out
