"""What KIMT knows of the big providers, as data: one `Preset` per kind of server.

A preset fills in what an admin would otherwise have to know: how many
connections the provider lets one account (or one admin login) hold, the
daily volumes it allows, the largest message it takes as a destination, and
the folders that are no mail folders or only views of others. The admin's
own options always win over a preset's figures and its folder rules come
after the admin's folder choices. The sources of every figure are in
docs/providers.md; a figure below the provider's own leaves room for the
users' own mail clients, which keep their connections during a migration.

- Gmail: labels are folders, so a message with three labels is copied into
  three folders (as Gmail's own IMAP shows it); `[Gmail]/All Mail`,
  `Important` and `Starred` are views of mail that is in the labels already,
  found by their special-use flags (\\All, \\Important, \\Flagged) whatever
  the language; Sent Mail, Drafts, Trash (Bin) and Spam go into the
  destination's special folders. A star is `\\Flagged` on the message in
  every label folder, so it travels with the message.
- Exchange (on-premises and Microsoft 365 as the source): `Conversation
  History` and `Sync Issues` (with subfolders) are Outlook's own records;
  calendar, contacts, tasks, journal and notes folders show over IMAP as
  empty mail folders: left out and listed as "not mail: use a groupware
  migration".
- Microsoft 365 as the destination refuses messages over 35 MB by default:
  they are skipped with that reason before they are fetched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SettingsError
from .folder_rules import FolderRules, Mapping, Skip
from .limits import Limits

MB = 2**20
# The share of a provider's daily cap KIMT uses by itself (its own daily budget): the rest
# is left to the user's own mail programs, which count against the same cap. Microsoft's
# own Gmail migration keeps to 2 GB a day of Gmail's 2.5 (docs/providers.md).
BUDGET_SHARE = 0.8
NOT_MAIL = "not mail: use a groupware migration"
OUTLOOK_RECORD = "Outlook's own records, not mail"
GMAIL_VIEW = "a Gmail view of mail already in the label folders (not copied twice)"

# Exchange's non-mail folders, in the languages KIMT's special folders know.
_GROUPWARE = ("Calendar", "Contacts", "Tasks", "Journal", "Notes",
              "Kalender", "Kontakte", "Aufgaben", "Notizen",
              "Kalendář", "Kontakty", "Úkoly", "Deník", "Poznámky",
              "Calendrier", "Tâches", "Kalendarz", "Kontakty", "Zadania", "Notatki")
_OUTLOOK = ("Conversation History", "Sync Issues", "Unterhaltungsverlauf",
            "Synchronisierungsprobleme", "Historie konverzace", "Problémy se synchronizací")

EXCHANGE_FOLDERS = FolderRules(exclude=tuple(
    [Skip(name, reason=OUTLOOK_RECORD) for name in _OUTLOOK]
    + [Skip(name, reason=NOT_MAIL) for name in dict.fromkeys(_GROUPWARE)]))

GMAIL_FOLDERS = FolderRules(
    exclude=(Skip("[Gmail]/All Mail", "\\All", GMAIL_VIEW),
             Skip("[Google Mail]/All Mail", "\\All", GMAIL_VIEW),
             Skip("[Gmail]/Important", "\\Important", GMAIL_VIEW),
             Skip("[Google Mail]/Important", "\\Important", GMAIL_VIEW),
             Skip("[Gmail]/Starred", "\\Flagged", GMAIL_VIEW),
             Skip("[Google Mail]/Starred", "\\Flagged", GMAIL_VIEW)),
    maps=tuple(Mapping((top, name), use=use, flag=use, origin="Gmail")
               for top in ("[Gmail]", "[Google Mail]")
               for name, use in (("Sent Mail", "\\Sent"), ("Drafts", "\\Drafts"),
                                 ("Trash", "\\Trash"), ("Bin", "\\Trash"),
                                 ("Spam", "\\Junk"))))


@dataclass(frozen=True)
class Preset:
    """One kind of server: its figures and folder rules (see the module docstring)."""

    name: str
    title: str
    # connections one account may hold at once; an admin logging in for every user is
    # one account, so with a master login this caps the whole server
    connections_per_account: int | None = None
    daily_download_bytes: int | None = None  # as the source, per account
    daily_upload_bytes: int | None = None  # as the destination, per account
    messages_per_second: float | None = None  # what the provider takes without throttling
    max_message_bytes: int | None = None  # as the destination
    size_reason: str = ""
    folders: FolderRules = field(default_factory=FolderRules)  # as the source
    # What the wizard's "Server kind" fills in: the provider's IMAP host (none for a
    # server of the admin's own), the login methods it takes, best first, and a
    # sentence of what choosing it does.
    imap_host: str = ""
    logins: tuple[str, ...] = ("user", "master", "xoauth2")
    words: str = "Any IMAP server: no provider's limits or folder rules."


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("generic", "Any IMAP server"),
    # Google: 15 connections per account, 2 500 MB/day IMAP download, 500 MB/day upload;
    # 10 used, leaving room for the user's own phone and mail program.
    Preset("gmail", "Gmail / Google Workspace", connections_per_account=10,
           daily_download_bytes=2500 * MB, daily_upload_bytes=500 * MB,
           folders=GMAIL_FOLDERS, imap_host="imap.gmail.com", logins=("user", "xoauth2"),
           words="Gmail: app passwords or OAuth tokens; labels become folders, and All Mail, "
                 "Important and Starred (views of the labels) are left out."),
    # Exchange Server: MaxConnectionsPerUser 16 by default.
    Preset("exchange", "Microsoft Exchange (on-premises)", connections_per_account=12,
           folders=EXCHANGE_FOLDERS, logins=("master", "user"),
           words="Exchange: an admin with full access logs in for every user, 12 connections "
                 "at most; calendars, contacts and Outlook's records are left out and listed."),
    # Exchange Online throttles by load; imapsync's --office2 keeps to 4 messages/s.
    Preset("m365", "Microsoft 365 / Exchange Online", connections_per_account=12,
           messages_per_second=4, max_message_bytes=35 * MB,
           size_reason="Microsoft 365 takes messages up to 35 MB by default",
           folders=EXCHANGE_FOLDERS, imap_host="outlook.office365.com",
           logins=("xoauth2", "master"),
           words="Microsoft 365: OAuth tokens, 4 messages a second, up to 35 MB a message; "
                 "calendars, contacts and Outlook's records are left out and listed."),
)}


def preset(name: str | None) -> Preset:
    """The preset called `name` ('generic' for None); SettingsError for an unknown one."""
    found = PRESETS.get((name or "generic").lower())
    if found is None:
        raise SettingsError(f"unknown server kind {name!r} (one of {', '.join(PRESETS)})")
    return found


def limits(source: Preset, destination: Preset, *, source_master: bool = False,
           destination_master: bool = False, max_connections: int | None = None,
           bytes_per_second: float | None = None,
           messages_per_second: float | None = None,
           bytes_per_day: int | None = None) -> Limits:
    """The run's limits: the admin's values where given, else the presets'.

    The daily budget is BUDGET_SHARE of the smaller of the source's download and the
    destination's upload cap; `bytes_per_day` 0 turns it off.

    A preset's per-account cap bounds a server only where one admin login works for
    every mailbox (`*_master`): then every connection counts against that account.
    """
    def cap(p: Preset, master: bool) -> int | None:
        if max_connections is not None:
            return max_connections
        return p.connections_per_account if master else None

    rates = [r for r in (source.messages_per_second, destination.messages_per_second) if r]
    caps = [c for c in (source.daily_download_bytes, destination.daily_upload_bytes) if c]
    if bytes_per_day is None and caps:
        bytes_per_day = int(min(caps) * BUDGET_SHARE)
    return Limits(
        source_connections=cap(source, source_master),
        destination_connections=cap(destination, destination_master),
        bytes_per_second=bytes_per_second,
        messages_per_second=(messages_per_second if messages_per_second is not None
                             else min(rates) if rates else None),
        source_daily_bytes=source.daily_download_bytes,
        destination_daily_bytes=destination.daily_upload_bytes,
        bytes_per_day=bytes_per_day or None,
        max_message_bytes=destination.max_message_bytes,
        max_message_reason=destination.size_reason)
