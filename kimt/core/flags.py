"""Flags: what a destination can keep, and carrying later changes over three-way.

APPEND sends a message's flags filtered by the destination's PERMANENTFLAGS
(`filter_flags`). After the cut-over, users go on reading mail on the old
server for a while; a re-run carries those changes over (`carry_flags`),
but only to messages whose destination flags are still what KIMT wrote: the
journal holds both sides' flags as KIMT last left them, so a flag the user
changed on the new server wins and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .journal import Entry, flag_text
from .wire import Wire

STORE_BATCH = 500  # UIDs per UID STORE


def filter_flags(flags: Iterable[str], permanent: set[str] | None,
                 ) -> tuple[list[str], list[str]]:
    """(kept, dropped) flags for APPEND: never \\Recent; the rest as PERMANENTFLAGS allows.

    A server that sends no PERMANENTFLAGS keeps every flag (RFC 3501 7.1); `\\*` in it
    means any keyword may be created.
    """
    kept: list[str] = []
    dropped: list[str] = []
    allowed = None if permanent is None else {f.lower() for f in permanent}
    for f in flags:
        if f.lower() == "\\recent":
            continue
        if allowed is None or f.lower() in allowed or (
                not f.startswith("\\") and "\\*" in allowed):
            kept.append(f)
        else:
            dropped.append(f)
    return kept, dropped


@dataclass
class FlagOutcome:
    changed: int = 0  # destination messages whose flags followed the source
    kept: int = 0  # changed on both sides: the destination's left as the user set them
    entries: list[Entry] = field(default_factory=list)  # to write back to the journal


def carry_flags(client: Wire, known: dict[int, Entry],
                src_flags: dict[int, tuple[str, ...]], dst_flags: dict[int, tuple[str, ...]],
                storable: Callable[[Iterable[str]], list[str]]) -> FlagOutcome:
    """Source flag changes since the journal's entry, onto the destination where that
    is still as KIMT left it; `storable` filters flags as the destination keeps them.

    One UID STORE per set of flags (and per STORE_BATCH messages), all sent at
    once, answered with the flags the server really stored, which become the
    journal's.
    """
    out = FlagOutcome()
    groups: dict[tuple[str, ...], list[Entry]] = {}
    for uid, e in known.items():
        now_src = flag_text(src_flags[uid])
        if now_src == e.src_flags:
            continue
        e.src_flags = now_src
        if flag_text(dst_flags[e.dst_uid]) != e.dst_flags:
            out.kept += 1  # the user changed it on the new server: that wins
            out.entries.append(e)
            continue
        wanted = tuple(sorted(storable(src_flags[uid])))
        if flag_text(wanted) == e.dst_flags:  # nothing the destination can show changed
            out.entries.append(e)
            continue
        groups.setdefault(wanted, []).append(e)
    parts = [(flags, group[start:start + STORE_BATCH]) for flags, group in groups.items()
             for start in range(0, len(group), STORE_BATCH)]
    stored = client.store_flags([([e.dst_uid for e in part], flags) for flags, part in parts])
    for flags, part in parts:
        for e in part:
            now = stored.get(e.dst_uid)
            e.dst_flags = flag_text(now if now is not None else flags)
            out.entries.append(e)
        out.changed += len(part)
    return out
