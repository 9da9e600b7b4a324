"""Which source folders a run copies, and where the admin wants some of them to go.

The admin's folder choices (`--exclude-folder`, `--include-folder`,
`--map-folder`, the wizard's "Advanced: folders") and a provider preset's
folder rules (`presets`) are one record, `FolderRules`, applied in one place
before the folders are mapped: `select` leaves folders out, each with the
reason the Report gives, and `map_folders` asks `mapping_for` first, so a
mapping overrides the automatic special-use mapping. The same record goes
to the estimate, so it counts what the run will copy.

Patterns are matched on the source's logical name ("Projects/2024", the
namespace prefix and the server's separator gone), case-insensitively; `*`
is any run of characters (`/` included) and `?` one character, everything
else is literal, so `[Gmail]/*` means what it says. A pattern that matches a
folder matches its subfolders too: leaving out `Archive` leaves out
`Archive/2019`, and mapping `Old Stuff` to `Archive/Old` carries
`Old Stuff/2019` to `Archive/Old/2019`. Leaving out wins over including.
Two mappings to one destination name are refused: two source folders
poured into one destination folder, copied side by side, could each find a
message missing and both append it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from .errors import SettingsError

# The special uses a mapping may name, and the name such a folder gets where the
# destination has none yet.
USE_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk",
             "\\Archive": "Archive"}
SPECIAL_USES = tuple(USE_NAMES)
EXCLUDED = "left out by the folder choices"


def logical_parts(text: str, what: str) -> tuple[str, ...]:
    """'Projects/2024' -> ('Projects', '2024'); raises SettingsError naming `what`."""
    name = text.strip()
    if not name:
        raise SettingsError(f"{what} is empty")
    parts = tuple(name.strip("/").split("/"))
    if any(not p.strip() for p in parts):
        raise SettingsError(f"{what} '{text}' has an empty part between two '/' (folder "
                            "names are written with '/' between a folder and its subfolder, "
                            "whatever the server uses)")
    if any(not p.isprintable() for p in parts):
        raise SettingsError(f"{what} '{text}' holds a control character")
    if parts[0].upper() == "INBOX":
        parts = ("INBOX", *parts[1:])
    return parts


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def matches(pattern: str, parts: tuple[str, ...]) -> bool:
    """Whether `pattern` matches the folder `parts` or one of its parents."""
    regex = _compiled(pattern)
    return any(regex.fullmatch("/".join(parts[:depth]))
               for depth in range(len(parts), 0, -1))


def check_pattern(text: str, what: str) -> str:
    """A folder pattern as given, tidied ('Archive/' -> 'Archive'); SettingsError if empty."""
    pattern = text.strip().strip("/")
    if not pattern:
        raise SettingsError(f"{what} is empty (a folder name, or a pattern such as "
                            "'Archive*')")
    if any(not c.isprintable() for c in pattern):
        raise SettingsError(f"{what} '{text}' holds a control character")
    if "//" in pattern:
        raise SettingsError(f"{what} '{text}' has an empty part between two '/'")
    return pattern


@dataclass(frozen=True)
class Skip:
    """Folders left out: by name pattern, or by the special-use flag a server gives them
    (Gmail's \\All); `reason` is what the Report says."""

    pattern: str = ""
    flag: str = ""
    reason: str = EXCLUDED

    def hits(self, parts: tuple[str, ...], flags: Iterable[str]) -> bool:
        if self.flag and self.flag.lower() in {f.lower() for f in flags}:
            return True
        return bool(self.pattern) and matches(self.pattern, parts)

    def describe(self) -> str:
        return f"'{self.pattern}'" if self.pattern else f"flagged {self.flag}"


@dataclass(frozen=True)
class Mapping:
    """One source folder (and its subfolders) to a destination name or special folder."""

    source: tuple[str, ...]
    destination: tuple[str, ...] = ()  # a name; or, when empty, the holder of `use`
    use: str = ""  # "\\Sent": the destination's folder of that use
    flag: str = ""  # also any source folder with this special-use flag (a preset's)
    origin: str = ""  # "" the admin's, else the preset's title

    def describe(self) -> str:
        to = "/".join(self.destination) if self.destination else \
            f"the destination's {self.use[1:]} folder"
        return f"'{'/'.join(self.source)}' -> {to if not self.destination else repr(to)}"


def parse_mapping(text: str, what: str = "the folder mapping") -> Mapping:
    """'SOURCE=DEST' (DEST a name, or \\Sent, \\Drafts, \\Trash, \\Junk, \\Archive)."""
    if text.count("=") != 1:
        raise SettingsError(f"{what} '{text}' must be SOURCE=DESTINATION, with one '=' "
                            "(e.g. \"Old Sent=Sent\")")
    left, right = text.split("=")
    source = logical_parts(left, f"{what} '{text}': the source folder")
    right = right.strip()
    if right.startswith("\\"):
        use = next((u for u in SPECIAL_USES if u.lower() == right.lower()), None)
        if use is None:
            raise SettingsError(f"{what} '{text}': '{right}' is no special folder (use one "
                                f"of {', '.join(SPECIAL_USES)}, or a folder name)")
        return Mapping(source, use=use)
    return Mapping(source, logical_parts(right, f"{what} '{text}': the destination folder"))


@dataclass(frozen=True)
class FolderRules:
    """What to copy and where: the admin's choices and a preset's rules (plain data, it
    crosses into the worker processes)."""

    exclude: tuple[Skip, ...] = ()
    include: tuple[str, ...] = ()  # when any: only the folders these match
    maps: tuple[Mapping, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[tuple[str, ...], Mapping] = {}
        for m in self.maps:
            if not m.destination:
                continue
            low = tuple(p.casefold() for p in m.destination)
            if low in seen and seen[low].source != m.source:
                raise SettingsError(
                    f"two folders are mapped to '{'/'.join(m.destination)}' "
                    f"('{'/'.join(seen[low].source)}' and '{'/'.join(m.source)}'): each "
                    "destination folder can take one source folder")
            seen[low] = m

    def __bool__(self) -> bool:
        return bool(self.exclude or self.include or self.maps)

    def plus(self, other: FolderRules) -> FolderRules:
        """These rules and `other`'s (the admin's come first: their mappings win)."""
        return FolderRules(self.exclude + other.exclude, self.include + other.include,
                           self.maps + other.maps)

    def left_out(self, parts: tuple[str, ...], flags: Iterable[str] = ()) -> str | None:
        """Why this folder is not copied, or None when it is."""
        flags = tuple(flags)
        for skip in self.exclude:
            if skip.hits(parts, flags):
                return (f"{skip.reason} ({skip.describe()})" if skip.reason == EXCLUDED
                        else skip.reason)
        if self.include and not any(matches(p, parts) for p in self.include):
            return f"not among the folders to copy ({', '.join(repr(p) for p in self.include)})"
        return None

    def mapping_for(self, parts: tuple[str, ...], flags: Iterable[str] = (),
                    ) -> tuple[int, Mapping] | None:
        """The mapping for this folder: (how many parts of it the mapping names, the
        mapping); the deepest wins, the admin's before a preset's."""
        lowered = tuple(p.casefold() for p in parts)
        flagset = {f.lower() for f in flags}
        for depth in range(len(parts), 0, -1):
            for m in self.maps:
                if tuple(p.casefold() for p in m.source) == lowered[:depth]:
                    return depth, m
        for m in self.maps:
            if m.flag and m.flag.lower() in flagset:
                return len(parts), m
        return None

    def unused(self, names: Iterable[tuple[str, ...]]) -> list[str]:
        """The admin's patterns and mappings that name no folder among `names` (a typo?)."""
        names = list(names)
        out = [f"the folder choice {s.describe()} matches no folder here"
               for s in self.exclude if s.reason == EXCLUDED and s.pattern
               and not any(matches(s.pattern, n) for n in names)]
        out += [f"the folder choice '{p}' (folders to copy) matches no folder here"
                for p in self.include if not any(matches(p, n) for n in names)]
        out += [f"the folder mapping {m.describe()}: no folder '{'/'.join(m.source)}' here"
                for m in self.maps if not m.origin and not any(
                    tuple(p.casefold() for p in n[:len(m.source)])
                    == tuple(p.casefold() for p in m.source) for n in names)]
        return out

    def describe(self) -> list[str]:
        """The Report header's lines for these rules."""
        lines = []
        own = [s for s in self.exclude if s.reason == EXCLUDED]
        if own:
            lines.append("Folders left out: " + ", ".join(s.describe() for s in own))
        if self.include:
            lines.append("Only these folders: " + ", ".join(f"'{p}'" for p in self.include))
        if any(not m.origin for m in self.maps):
            lines.append("Folders mapped: " + ", ".join(m.describe() for m in self.maps
                                                        if not m.origin))
        return lines


def folder_rules(exclude: Iterable[str] = (), include: Iterable[str] = (),
                 maps: Iterable[str] = (), names: tuple[str, str, str] = (
                     "the folder to leave out", "the folder to copy", "the folder mapping"),
                 ) -> FolderRules:
    """The admin's choices as typed (patterns and 'SOURCE=DEST' texts) checked into rules;
    `names` say what each is called in an error (the CLI gives its option names)."""
    exclude = tuple(Skip(check_pattern(p, names[0])) for p in exclude)
    include = tuple(check_pattern(p, names[1]) for p in include)
    mappings = tuple(parse_mapping(m, names[2]) for m in maps)
    try:
        return FolderRules(exclude, include, mappings)
    except SettingsError as e:
        raise SettingsError(f"{names[2]}: {e}") from None
