"""Folder listing on each side and the source -> destination name map.

Names are handled as tuples of parts ("logical names"): the personal
namespace prefix is removed and the hierarchy delimiter split away, so a
`.`-separated `INBOX.` server and a `/`-separated one without prefix meet in
the middle. imapclient does the modified UTF-7 encoding both ways. Special
folders (Sent, Drafts, Trash, Junk, Archive) are matched by their RFC 6154
flag first and by well-known names second, so `Sent Items` lands in the
destination's existing Sent folder instead of beside it, unless the folder
rules (`folder_rules`: the admin's `--map-folder`, a preset's) say where a
folder goes, which wins over both; `select` first leaves out the folders the
rules exclude, each with its reason. The folders of the source's public
(shared) namespace are listed apart (`Listing.public`), named under
`Public Folders/`: a run copies them into the one mailbox the admin chose
(`--public-into`), and leaves them out elsewhere. Two source folders
that would meet in one destination name are kept apart: the name goes to a
special folder following its use, else to the folder that keeps its own name
(not one renamed for the destination's separator); the other gets " (2)".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .folder_rules import USE_NAMES, FolderRules

if TYPE_CHECKING:
    from .wire import Wire

log = logging.getLogger("kimt.folders")

SPECIAL_USES = tuple(USE_NAMES)  # Sent, Drafts, Trash, Junk, Archive
PUBLIC_FOLDERS = "Public Folders"  # where a public namespace's folders go (--public-into)

# Well-known top-level names per use, most canonical first (lower case).
WELL_KNOWN_NAMES: dict[str, tuple[str, ...]] = {
    "\\Sent": ("sent", "sent items", "sent messages", "sent mail", "sent-mail",
               "odeslaná pošta", "odeslané", "gesendet", "gesendete objekte", "envoyés",
               "wysłane", "elementy wysłane"),
    "\\Drafts": ("drafts", "draft", "koncepty", "rozepsané", "entwürfe", "brouillons",
                 "kopie robocze"),
    "\\Trash": ("trash", "deleted items", "deleted messages", "deleted", "bin",
                "koš", "odstraněná pošta", "papierkorb", "gelöschte objekte", "corbeille",
                "kosz", "elementy usunięte"),
    "\\Junk": ("junk", "junk e-mail", "junk email", "junk mail", "spam", "bulk mail",
               "nevyžádaná pošta", "spam-mails", "wiadomości-śmieci"),
    "\\Archive": ("archive", "archives", "archiv", "archiwum"),
}


@dataclass(frozen=True)
class Layout:
    """A server's personal namespace and the prefixes of the others."""

    prefix: str = ""
    delimiter: str = "/"
    other_prefixes: tuple[str, ...] = ()
    # the public (shared) namespaces, NAMESPACE's third group: (prefix, delimiter)
    public: tuple[tuple[str, str], ...] = ()

    def parts(self, name: str) -> tuple[str, ...]:
        if name.upper() == "INBOX":
            return ("INBOX",)
        if self.prefix and name.startswith(self.prefix):
            name = name[len(self.prefix):]
        if not self.delimiter:
            return (name,)
        return tuple(p for p in name.split(self.delimiter) if p != "")

    def name(self, parts: tuple[str, ...]) -> str:
        if len(parts) == 1 and parts[0].upper() == "INBOX":
            return "INBOX"
        return self.prefix + self.delimiter.join(parts)

    def is_other_namespace(self, name: str) -> bool:
        for p in self.other_prefixes:
            bare = p.rstrip(self.delimiter) if self.delimiter else p
            if p and (name.startswith(p) or (bare and name == bare)):
                return True
        return False

    def public_parts(self, name: str) -> tuple[str, ...] | None:
        """A public folder's parts under PUBLIC_FOLDERS (() for the namespace itself);
        None for any other name."""
        found = self._public(name)
        return None if found is None else (PUBLIC_FOLDERS, *found[1]) if found[1] else ()

    def public_display(self, name: str) -> str:
        """A public folder as the source names it, with '/' between the parts."""
        found = self._public(name)
        return "/".join((found[0], *found[1])) if found else name

    def _public(self, name: str) -> tuple[str, tuple[str, ...]] | None:
        for prefix, delim in self.public:
            bare = prefix.rstrip(delim) if delim else prefix
            if not prefix or not (name.startswith(prefix) or name == bare):
                continue
            rest = name[len(prefix):] if name.startswith(prefix) else ""
            return bare, tuple(p for p in (rest.split(delim) if delim else [rest]) if p)
        return None


def read_layout(client: Wire) -> Layout:
    """Personal prefix and delimiter from NAMESPACE, or from LIST "" ""."""
    if client.has("NAMESPACE"):
        ns = client.namespace()
        personal = ns.personal[0] if ns.personal else ("", None)
        prefix, delim = personal[0] or "", personal[1]
        others = tuple(p for group in (ns.other, ns.shared) if group for p, _ in group)
        public = tuple((p, _text(d)) for p, d in ns.shared or ())
    else:
        prefix, delim, others, public = "", None, (), ()
    if not delim:
        listed = client.list_folders("", "")
        delim = listed[0][1] if listed and listed[0][1] else None
    return Layout(prefix, _text(delim) or "/", others, public)


def _text(value: str | bytes | None) -> str:
    return value.decode() if isinstance(value, bytes) else value or ""


@dataclass(frozen=True)
class Folder:
    name: str  # the server's own name, decoded
    parts: tuple[str, ...]
    flags: frozenset[str]
    subscribed: bool = False
    public: bool = False  # in the source's public namespace, named under PUBLIC_FOLDERS
    label: str = ""  # how the Report names it, when not by its parts (a public folder)

    @property
    def selectable(self) -> bool:
        return not ({"\\noselect", "\\nonexistent"} & {f.lower() for f in self.flags})

    @property
    def special_use(self) -> str | None:
        lowered = {f.lower() for f in self.flags}
        return next((u for u in SPECIAL_USES if u.lower() in lowered), None)

    @property
    def display(self) -> str:
        return self.label or "/".join(self.parts)


@dataclass
class Listing:
    layout: Layout
    folders: list[Folder]
    skipped_other_namespaces: list[str] = field(default_factory=list)  # public ones too
    public: list[Folder] = field(default_factory=list)  # the public namespace's folders


def _flag(f: object) -> str:
    return f.decode("ascii", "replace") if isinstance(f, bytes) else str(f)


def list_folders(client: Wire, layout: Layout | None = None) -> Listing:
    """Every folder of the personal namespace, with flags and subscription."""
    layout = layout or read_layout(client)
    subscribed = {name for _, _, name in client.list_subscribed()}
    folders: list[Folder] = []
    public: list[Folder] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for flags, _, name in client.list_folders():
        name = str(name)
        if name in seen:
            continue
        seen.add(name)
        if layout.is_other_namespace(name):
            skipped.append(name)
            shared = layout.public_parts(name)
            if shared:
                public.append(Folder(name, shared, frozenset(_flag(f) for f in flags),
                                     name in subscribed, public=True,
                                     label=layout.public_display(name)))
            continue
        parts = layout.parts(name)
        if not parts:  # the prefix itself, e.g. "INBOX." listed as a parent
            continue
        folders.append(Folder(name, parts, frozenset(_flag(f) for f in flags),
                              name in subscribed))
    if not any(f.parts == ("INBOX",) for f in folders):
        folders.insert(0, Folder("INBOX", ("INBOX",), frozenset(), "INBOX" in subscribed))
    folders.sort(key=lambda f: (f.parts != ("INBOX",), [p.lower() for p in f.parts]))
    return Listing(layout, folders, skipped, public)


def with_public(listing: Listing, copy: bool) -> Listing:
    """The listing without the public namespace among the names left out, its folders
    among the mailbox's own where this mailbox takes them (`copy`, `--public-into`)."""
    return Listing(listing.layout, listing.folders + (listing.public if copy else []),
                   [n for n in listing.skipped_other_namespaces
                    if listing.layout.public_parts(n) is None])


def select(listing: Listing, rules: FolderRules) -> tuple[Listing, list[str]]:
    """The listing without the folders `rules` leave out; and for the Report, each
    selectable folder left out with the reason."""
    if not rules.exclude and not rules.include:
        return listing, []
    kept: list[Folder] = []
    left_out: list[str] = []
    for f in listing.folders:
        why = rules.left_out(f.parts, f.flags)
        if why is None:
            kept.append(f)
        elif f.selectable:
            left_out.append(f"'{f.display}': {why}")
    return Listing(listing.layout, kept, listing.skipped_other_namespaces,
                   listing.public), left_out


@dataclass(frozen=True)
class FolderMap:
    """Where one source folder goes."""

    source: Folder
    destination_parts: tuple[str, ...]
    destination_name: str
    exists: bool  # already a real (selectable) folder on the destination
    create_special_use: str | None = None  # CREATE ... (USE (flag)) when creating
    note: str = ""  # said in the Report (renames, special-use mapping)


@dataclass
class _Wish:
    """The name a source folder asks for, before two wishes for one name are settled."""

    parts: tuple[str, ...]
    create_special_use: str | None
    notes: list[str]
    # who gets a contested name: -1 mapped by the rules, 0 follows a special use, 1 keeps
    # its name, 2 renamed
    rank: int


def _use_by_name(parts: tuple[str, ...]) -> str | None:
    if len(parts) != 1:
        return None
    low = parts[0].lower()
    return next((u for u, names in WELL_KNOWN_NAMES.items() if low in names), None)


def _rank(folder: Folder, use: str) -> tuple[int, int]:
    """Lower is a better holder of `use`: flagged first, then canonical names."""
    names = WELL_KNOWN_NAMES[use]
    low = folder.parts[-1].lower()
    return (0 if folder.special_use == use else 1, names.index(low) if low in names else 99)


def _special_holders(folders: Iterable[Folder]) -> dict[str, Folder]:
    """For each special use, the one folder that holds it on a server."""
    holders: dict[str, Folder] = {}
    for f in folders:
        use = f.special_use or _use_by_name(f.parts)
        if use is None:
            continue
        if use not in holders or _rank(f, use) < _rank(holders[use], use):
            holders[use] = f
    return holders


def _mapped(folder: Folder, rules: FolderRules, dst_special: dict[str, Folder],
            special_use_create: bool) -> tuple[tuple[str, ...], str | None, str] | None:
    """Where the rules send `folder`: (parts, special use to create with, note)."""
    found = rules.mapping_for(folder.parts, folder.flags)
    if found is None:
        return None
    depth, m = found
    create_use = None
    if m.destination:
        base = m.destination
    else:
        holder = dst_special.get(m.use)
        base = holder.parts if holder is not None else (USE_NAMES[m.use],)
        if holder is None and depth == len(folder.parts) and special_use_create:
            create_use = m.use
    parts = base + folder.parts[depth:]
    if depth < len(folder.parts):
        return parts, None, ""  # its parent's mapping says it all
    to = "/".join(parts)
    who = f"the {m.origin} preset" if m.origin else "the folder choices"
    return parts, create_use, f"copied into '{to}' as {who} say"


def _wish(folder: Folder, src_special: dict[tuple[str, ...], str],
          dst_special: dict[str, Folder], special_use_create: bool, delim: str,
          rules: FolderRules) -> _Wish:
    """The destination name `folder` asks for: where the rules send it, else its special
    use's holder there; the destination's separator replaced inside a name."""
    notes: list[str] = []
    parts = folder.parts
    create_use = None
    rank = 1
    mapped = _mapped(folder, rules, dst_special, special_use_create)
    if mapped is not None:
        parts, create_use, note = mapped
        rank = -1
        notes += [note] if note else []
    # A special folder (or a child of one) follows the destination's holder of that use.
    for depth in range(len(parts), 0, -1) if mapped is None else ():
        use = src_special.get(parts[:depth])
        if use is None:
            continue
        holder = dst_special.get(use)
        if holder is not None and holder.parts != parts[:depth]:
            parts = holder.parts + parts[depth:]
            rank = 0
            if depth == len(folder.parts):
                notes.append(f"{use[1:]} folder: copied into the destination's "
                             f"'{'/'.join(holder.parts)}'")
        elif holder is None and depth == len(parts) and special_use_create:
            create_use = use
        break
    clean = tuple(p.replace(delim, "_") if delim else p for p in parts)
    if clean != parts:
        notes.append(f"'{delim}' is the destination's folder separator: renamed to "
                     f"'{'/'.join(clean)}'")
        rank = max(rank, 2)
    return _Wish(clean, create_use, notes, rank)


def map_folders(source: Listing, destination: Listing, special_use_create: bool,
                rules: FolderRules | None = None) -> list[FolderMap]:
    """Decide the destination name of every source folder (`rules`: the mappings asked for).

    When two source folders ask for one name (a special folder and one named like
    the destination's holder; `dev.team` renamed for a `.` separator beside a real
    `dev_team`), the one mapped by the rules gets it, then the one following a special
    use, then the one keeping its
    own name, whatever the listing order; the other gets a " (2)" suffix and its
    subfolders go with it.
    """
    src_special = {f.parts: use for use, f in _special_holders(source.folders).items()}
    dst_special = _special_holders(destination.folders)
    existing = {f.parts: f for f in destination.folders}
    existing_lower = {tuple(p.lower() for p in parts) for parts in existing}
    delim = destination.layout.delimiter
    rules = rules or FolderRules()
    wishes = [_wish(f, src_special, dst_special, special_use_create, delim, rules)
              for f in source.folders]

    given: dict[int, tuple[str, ...]] = {}
    taken: dict[tuple[str, ...], str] = {}
    # a suffixed folder's source parts -> (the name it asked for, the name it got)
    moved: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
    # the better claim first; parents before children, so these know where theirs went
    for i in sorted(range(len(wishes)), key=lambda i: (wishes[i].rank,
                                                        len(source.folders[i].parts), i)):
        folder, wish = source.folders[i], wishes[i]
        parts = wish.parts
        for depth in range(len(folder.parts) - 1, 0, -1):
            if folder.parts[:depth] in moved:
                asked, got = moved[folder.parts[:depth]]
                if parts[:len(asked)] == asked:
                    parts = got + parts[len(asked):]
                    wish.notes.append(f"its parent folder was renamed: goes to "
                                      f"'{'/'.join(parts)}'")
                break
        low = tuple(p.lower() for p in parts)
        if low in taken and taken[low] != folder.name:
            asked = parts
            # Not skipping names the destination has: a re-run must find the same one.
            n = 2
            while tuple(p.lower() for p in (*parts[:-1], f"{parts[-1]} ({n})")) in taken:
                n += 1
            parts = (*parts[:-1], f"{parts[-1]} ({n})")
            wish.notes.append(f"another source folder already goes to that name: renamed "
                              f"to '{'/'.join(parts)}'")
            moved[folder.parts] = (asked, parts)
            low = tuple(p.lower() for p in parts)
        taken[low] = folder.name
        given[i] = parts

    maps: list[FolderMap] = []
    for i, folder in enumerate(source.folders):
        parts = given[i]
        low = tuple(p.lower() for p in parts)
        # a \Noselect placeholder there is no folder yet: it is created like a missing one
        exists = (parts in existing and existing[parts].selectable) or parts == ("INBOX",) or (
            parts[0].upper() == "INBOX" and low in existing_lower and len(parts) == 1)
        maps.append(FolderMap(folder, parts, destination.layout.name(parts), exists,
                              wishes[i].create_special_use, "; ".join(wishes[i].notes)))
    return maps
