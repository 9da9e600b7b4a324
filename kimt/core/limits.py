"""How hard a run may push the servers: connection caps, rates, daily volumes, size.

`Limits` is plain data carried in `mailbox.JobSettings` (it crosses into the
worker processes). Where a value comes from is `presets` (a provider's
figures) and the admin's options (`--max-connections`,
`--max-bytes-per-second`, `--max-messages-per-second`, `--max-bytes-per-day`),
which win; None
means no limit of KIMT's own. The engine keeps the caps and rates with
`pacing.RunPacing`, shared by every worker process. The largest message the destination takes is
applied by the copier before anything is fetched (`CopyOptions`), so such a
message is skipped with its reason up front instead of being refused after
its upload.

A daily budget (`bytes_per_day`, a preset's share of a provider's daily cap)
is counted per mailbox within a run: a mailbox that would go over it stops
before fetching the batch, as when the server itself says its day is over
(`wire.DailyLimit`). It is not remembered between runs: the Report names the
time from which a re-run is safe.

A connection cap is enforced by whatever hands out `ConnectionSlots`: a
mailbox takes a slot of a server before it connects there and gives it back
when that connection closes. A cluster run's slots are Dask semaphores shared
by every machine (`cluster.DaskSlots`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .errors import SettingsError
from .report import number, size

# How long a provider's day lasts once its limit is reached: Gmail says "up to 24 hours"
# and tells the time only in the Admin console, never over IMAP.
DAY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Limits:
    """A run's limits; None: none of KIMT's own (the servers' still apply)."""

    source_connections: int | None = None  # open at once to the source server
    destination_connections: int | None = None  # and to the destination
    bytes_per_second: float | None = None  # message bytes copied per second, whole run
    messages_per_second: float | None = None  # messages copied per second, whole run
    source_daily_bytes: int | None = None  # a provider's download cap per account and day
    destination_daily_bytes: int | None = None  # its upload cap per account and day
    # KIMT's own budget: message bytes copied per mailbox before it stops that mailbox for
    # the day, below the providers' caps so that the account is never locked
    bytes_per_day: int | None = None
    max_message_bytes: int | None = None  # the largest message the destination takes
    max_message_reason: str = ""  # whose limit that is, for the Report

    def __post_init__(self) -> None:
        for name in ("source_connections", "destination_connections"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SettingsError(f"the connection cap must be at least 1, not {value}")
        if self.bytes_per_day is not None and self.bytes_per_day < 1:
            raise SettingsError(f"the daily budget must be more than 0, not {self.bytes_per_day}")
        for name in ("bytes_per_second", "messages_per_second"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise SettingsError(f"a rate limit must be more than 0, not {value:g}")

    def describe(self) -> list[str]:
        """The Report header's lines."""
        parts = []
        if self.source_connections or self.destination_connections:
            parts.append("connections at most " + ", ".join(
                f"{n} to the {side}" for side, n in (
                    ("source", self.source_connections),
                    ("destination", self.destination_connections)) if n))
        if self.bytes_per_second:
            parts.append(f"{size(self.bytes_per_second)}/s")
        if self.messages_per_second:
            parts.append(f"{self.messages_per_second:g} messages/s")
        if self.source_daily_bytes:
            parts.append(f"the source allows {size(self.source_daily_bytes)} a day per account")
        if self.destination_daily_bytes:
            parts.append(f"the destination takes {size(self.destination_daily_bytes)} a day "
                         "per account")
        if self.bytes_per_day:
            parts.append(f"at most {size(self.bytes_per_day)} copied per mailbox a day "
                         "(KIMT's own daily budget): KIMT stops a mailbox there, and running "
                         "again a day later goes on")
        if self.max_message_bytes:
            parts.append(f"messages over {size(self.max_message_bytes)} "
                         f"({number(self.max_message_bytes)} bytes) skipped: "
                         f"{self.max_message_reason or 'the size limit'}")
        return ["Limits: " + "; ".join(parts)] if parts else []


class ConnectionSlots(Protocol):
    """The run's connection caps, one count per server role ("source", "destination")."""

    def take(self, role: str, wait: bool, should_stop: Callable[[], bool]) -> bool:
        """Hold one connection of `role`: True once held; False when none is free and
        `wait` is false. Raises StoppedError when `should_stop()` ends the wait."""
        ...

    def give(self, role: str) -> None:
        """Give back one connection of `role` taken before."""
        ...
