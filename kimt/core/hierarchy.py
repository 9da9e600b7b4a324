"""The destination's folder tree: creating what the source's folders map to, subscribing.

No parent is created for its own sake: an explicit CREATE would turn a
source's \\Noselect parent into a real, empty folder, while most servers
make the hierarchy themselves when a child is created (Dovecot keeps such a
parent \\Noselect). Only when a server refuses a child while a parent is no
real folder are the parents created, then the child once more. A parent the
destination lists as a real folder afterwards, though it is none on the
source, is named in the Report's notes (Cyrus 3 makes them real itself).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from .copier import CONNECTION_ERRORS
from .folders import FolderMap, Listing, list_folders
from .servers import server_words

log = logging.getLogger("kimt.mailbox")


@dataclass
class TreeOutcome:
    problems: list[str] = field(default_factory=list)  # folders that could not be created
    notes: list[str] = field(default_factory=list)  # parents the destination made real


def build_tree(dst: IMAPClient, maps: list[FolderMap], destination: Listing) -> TreeOutcome:
    """Create on the destination what the selectable source folders map to, shortest first."""
    out = TreeOutcome()
    layout = destination.layout
    real = {f.parts for f in destination.folders if f.selectable}
    wanted = {m.destination_parts: m for m in maps if m.source.selectable and not m.exists}
    parents: set[tuple[str, ...]] = set()  # no real folder before, and none we want

    def create(parts: tuple[str, ...], special_use: str | None = None) -> str | None:
        """None when the folder is there now, else the server's words."""
        name = layout.name(parts)
        try:
            if special_use:
                dst._raw_command(  # CREATE-SPECIAL-USE (RFC 6154): no public API
                    b"CREATE", [dst._normalise_folder(name),
                                b"(USE (" + special_use.encode() + b"))"], uid=False)
            else:
                dst.create_folder(name)
            log.debug("created folder %r", name)
        except CONNECTION_ERRORS:
            raise
        except imap_exc.IMAPClientError as e:
            text = server_words(e)
            if "ALREADYEXISTS" not in text.upper():
                return text
        real.add(parts)
        return None

    for parts in sorted(wanted, key=len):
        missing = [parts[:depth] for depth in range(1, len(parts))
                   if parts[:depth] not in real and parts[:depth] != ("INBOX",)]
        parents.update(p for p in missing if p not in wanted)
        error = create(parts, wanted[parts].create_special_use)
        if error is not None and missing:  # a server that wants the parents first
            for parent in missing:
                parent_error = create(parent)
                if parent_error is not None:
                    error = (f"its parent folder '{'/'.join(parent)}' could not be "
                             f"created: {parent_error}")
                    break
            else:
                error = create(parts, wanted[parts].create_special_use)
        if error is not None:
            out.problems.append(f"folder '{'/'.join(parts)}' could not be created on the "
                                f"destination: {error}")
    if parents:
        # Whether a parent became a real folder is the destination's choice: ask it.
        now_real = {f.parts for f in list_folders(dst, layout).folders if f.selectable}
        out.notes += [f"{'/'.join(parent)}: the destination made this parent folder a real, "
                      "empty folder (it has no mail on the old server)"
                      for parent in sorted(parents & now_real)]
    return out


def subscribe(dst: IMAPClient, maps: list[FolderMap], destination: Listing) -> None:
    """Subscribe on the destination what is subscribed on the source (best effort)."""
    already = {f.name for f in destination.folders if f.subscribed}
    for m in maps:
        if m.source.subscribed and m.destination_name not in already:
            try:
                dst.subscribe_folder(m.destination_name)
            except CONNECTION_ERRORS:
                raise
            except imap_exc.IMAPClientError as e:
                log.info("could not subscribe %r: %s", m.destination_name, e)
