"""A mailbox's day: KIMT's own daily budget, and a provider's daily limit.

Gmail counts what an account moves over IMAP in a day and, past its limit,
locks the account for up to a day (docs/providers.md). KIMT keeps below it on
its own (`Limits.bytes_per_day`, counted per mailbox within a run: a batch
that would go over it is not fetched), and takes the provider's words
(`wire.DailyLimit`) as the end of that account's day. Either way the mailbox
stops at a clean point and is not failed: the next run, after `resume_at`,
goes on where it stopped. Where one admin login works for every mailbox of a
side with such a limit, every mailbox counts against that one account, so
its end is every mailbox's (`pacing.DayOver`, shared by the workers).
"""

from __future__ import annotations

import threading
import time

from .limits import DAY_SECONDS, Limits
from .pacing import DayOver
from .report import size
from .servers import ServerConfig
from .wire import DailyLimit

# Logins with one admin account for every mailbox (`servers.AUTHENTICATORS`).
ONE_ACCOUNT_FOR_ALL = ("master", "kerio-master")
SHARED_REASON = "another mailbox reached the daily limit of the admin login they share"


class MailboxDay:
    """One mailbox's day in a run (see the module docstring); used by its lanes' threads."""

    def __init__(self, limits: Limits, source: ServerConfig, destination: ServerConfig,
                 everyone: DayOver):
        self.budget = limits.bytes_per_day
        self.everyone = everyone
        # the sides whose daily limit is every mailbox's
        self.shared = [role for role, config, cap in (
            ("source", source, limits.source_daily_bytes),
            ("destination", destination, limits.destination_daily_bytes))
            if cap and config.auth in ONE_ACCOUNT_FOR_ALL]
        self.limit: DailyLimit | None = None  # why this mailbox's day is over
        self.resume_at = 0.0  # when it may go on (epoch seconds)
        self._fetched = 0  # message bytes fetched in this run
        self._first = 0.0  # when the first of them was (epoch seconds)
        self._lock = threading.Lock()

    @property
    def over(self) -> bool:
        return self.limit is not None or self.everyone.until is not None

    def reached(self, e: DailyLimit, own: bool = False) -> str | None:
        """Remember why the day is over and when it may go on: a day after the first
        fetch for KIMT's own budget, a day from now when a server said so. What to tell
        the admin; None when it was over already."""
        with self._lock:
            if self.limit is not None:
                return None
            self.limit = e
            self.resume_at = (self._first if own else time.time()) + DAY_SECONDS
        if self.shared and not own:
            self.everyone.set(self.resume_at)
            return (f"stopping this mailbox for today: {e}; the {self.shared[0]}'s admin "
                    "login is every mailbox's, so every mailbox stops")
        return f"stopping this mailbox for today: {e}"

    def spend(self, nbytes: int) -> DailyLimit | None:
        """Count a batch about to be fetched against the budget; the DailyLimit to raise
        (not counted) when it would go over."""
        if not self.budget or not nbytes:
            return None
        with self._lock:
            if not self._first:
                self._first = time.time()
            if self._fetched + nbytes <= self.budget:
                self._fetched += nbytes
                return None
        return DailyLimit(f"KIMT's own daily budget of {size(self.budget)} for this mailbox "
                          f"is used ({size(self._fetched)} fetched), "
                          "which keeps below the provider's daily cap")

    def outcome(self) -> tuple[float, str]:
        """(when the mailbox may go on, why it stopped) once its day is over."""
        when = self.resume_at or self.everyone.until or time.time() + DAY_SECONDS
        return when, str(self.limit) if self.limit is not None else SHARED_REASON
