"""The destination's folder tree: creating what the source's folders map to, subscribing.

No parent is created for its own sake: an explicit CREATE would turn a
source's \\Noselect parent into a real, empty folder, while most servers
make the hierarchy themselves when a child is created (Dovecot keeps such a
parent \\Noselect). Only when a server refuses a child while a parent is no
real folder are the parents created, then the child once more. A parent the
destination lists as a real folder afterwards, though it is none on the
source, is named in the Report's notes (Cyrus 3 makes them real itself).
A folder whose CREATE is refused but which the destination lists afterwards
(another connection or mail client made it in between; [ALREADYEXISTS] is
taken as success by the wire already) is there: no problem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .folders import FolderMap, Listing, list_folders
from .wire import Wire

log = logging.getLogger("kimt.mailbox")


@dataclass
class TreeOutcome:
    problems: list[str] = field(default_factory=list)  # folders that could not be created
    notes: list[str] = field(default_factory=list)  # parents the destination made real


def build_tree(dst: Wire, maps: list[FolderMap], destination: Listing) -> TreeOutcome:
    """Create on the destination what the selectable source folders map to, shortest first.

    Every CREATE goes in one pipeline (parents before children, as the server takes
    them in order); only the folders a server refused are tried again one by one.
    """
    out = TreeOutcome()
    layout = destination.layout
    real = {f.parts for f in destination.folders if f.selectable}
    wanted = {m.destination_parts: m for m in maps if m.source.selectable and not m.exists}
    parents: set[tuple[str, ...]] = set()  # no real folder before, and none we want
    refused: dict[tuple[str, ...], str] = {}  # the server's words

    def create(parts: tuple[str, ...], special_use: str | None = None) -> str | None:
        """None when the folder is there now, else the server's words."""
        error, = dst.create_folders([(layout.name(parts), special_use)])
        if error is None:
            log.debug("created folder %r", layout.name(parts))
            real.add(parts)
        return error

    order = sorted(wanted, key=len)
    first_try = dst.create_folders([(layout.name(p), wanted[p].create_special_use)
                                    for p in order])
    for parts, error in zip(order, first_try, strict=True):
        missing = [parts[:depth] for depth in range(1, len(parts))
                   if parts[:depth] not in real and parts[:depth] != ("INBOX",)]
        parents.update(p for p in missing if p not in wanted)
        if error is None:
            log.debug("created folder %r", layout.name(parts))
            real.add(parts)
        elif len(parts) > 1:
            # A server that wants the parents first; or one that checked a parent
            # created in the same pipeline before it had made it: try once more alone.
            for parent in [p for p in missing if p not in real]:
                parent_error = create(parent)
                if parent_error is not None:
                    error = (f"its parent folder '{'/'.join(parent)}' could not be "
                             f"created: {parent_error}")
                    break
            else:
                error = create(parts, wanted[parts].create_special_use)
        if error is not None:
            refused[parts] = error
    now_real: set[tuple[str, ...]] = set()
    if parents or refused:
        # Whether a parent became a real folder is the destination's choice, and a folder
        # refused may have been made meanwhile by someone else: ask it.
        now_real = {f.parts for f in list_folders(dst, layout).folders if f.selectable}
    for parts, error in refused.items():
        if parts in now_real:  # there now (another connection or client made it): fine
            log.info("creating folder %r was refused (%s), but it is there now",
                     layout.name(parts), error)
            continue
        out.problems.append(f"folder '{'/'.join(parts)}' could not be created on the "
                            f"destination: {error}")
    if parents:
        out.notes += [f"{'/'.join(parent)}: the destination made this parent folder a real, "
                      "empty folder (it has no mail on the old server)"
                      for parent in sorted(parents & now_real)]
    return out


def subscribe(dst: Wire, maps: list[FolderMap], destination: Listing) -> None:
    """Subscribe on the destination what is subscribed on the source (best effort, in one
    pipeline)."""
    already = {f.name for f in destination.folders if f.subscribed}
    names = [m.destination_name for m in maps
             if m.source.subscribed and m.destination_name not in already]
    for name, error in zip(names, dst.subscribe(names), strict=True):
        if error is not None:
            log.info("could not subscribe %r: %s", name, error)
