"""The run's own limits, kept by every worker process together: rates and connection caps.

The engine makes one `RunPacing` per run from the run's multiprocessing
context and hands it to each worker as a Process argument: a lock, a shared
number or a semaphore can only be pickled while a process is being started,
which is the same with the fork server on Linux and spawn on macOS and
Windows (a queue could not carry them).

- Rates (`--max-bytes-per-second`, `--max-messages-per-second`): a token
  bucket kept as one shared number, the moment at which everything reserved
  so far is paid for (GCRA's "theoretical arrival time"). A copier reserves a
  batch before fetching it and waits until that moment, so after t seconds at
  most rate × t has been fetched, plus `BURST` seconds' worth saved while
  nothing was fetched; however many processes and lanes take from it. The
  clock is `time.monotonic`, one clock for the whole machine on Linux, macOS
  and Windows.
- Connection caps (`--max-connections`, a preset's per-account figure with an
  admin login): a semaphore per server; a connection takes a permit before it
  opens and gives it back when it closes. Permits are taken source first, so
  two lanes each waiting for the other's never happens. A server that refuses
  a connection over its limit lowers its cap for good: the permit of the
  refused connection is never given back (down to one). Each permit names
  the process holding it, so the permits of a worker that died are freed by
  the engine (`RunPacing.reclaim`) instead of being lost until the run ends.

A rate wait is the admin's choice, not a server's request: it is shown, but
not counted as throttling. A daily limit that every mailbox shares (one admin
login's account) is one shared moment, `DayOver`: once set, every worker's
mailboxes stop at their next clean point and say when the run may go on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from typing import Any

from .errors import ConnectError, StoppedError
from .limits import Limits
from .report import size

BURST = 1.0  # seconds of a rate that may be saved up while nothing is fetched
RETIRED = -1  # a permit given up for good (the server's own limit is lower)


class _Cell:
    """A number for one process (tests, a run without workers): a Value's stand-in."""

    def __init__(self, value: float):
        self.value = value


class Rate:
    """A token bucket of `per_second` (see the module docstring); `clock` for the tests."""

    def __init__(self, per_second: float, unit: str, ctx: BaseContext | None = None,
                 clock: Callable[[], float] = time.monotonic, burst: float = BURST):
        self.per_second = per_second
        self.unit = unit  # what it counts, for the words: "bytes" or "messages"
        self.burst = burst
        self._clock = clock
        self._due: Any  # when all reserved so far is paid for
        if ctx is None:
            self._due, self._lock = _Cell(clock()), threading.Lock()
        else:
            self._due, self._lock = ctx.RawValue("d", clock()), ctx.Lock()

    def reserve(self, amount: float) -> float:
        """Reserve `amount`; the seconds to wait before using it (0: now)."""
        with self._lock:
            now = self._clock()
            start = max(self._due.value, now - self.burst)
            self._due.value = start + amount / self.per_second
            return max(0.0, self._due.value - now)

    def words(self) -> str:
        if self.unit == "bytes":
            return f"{size(self.per_second)}/s"
        return f"{self.per_second:g} messages/s"


class NoFreeConnection(ConnectError):
    """Every permit of a server's cap is taken (for a lane that does not wait)."""


class ServerCap:
    """At most `cap` connections open at once to one server, all processes together.

    Each permit is a cell of a shared array holding the process id of its holder (0:
    free, RETIRED: given up for good when the server refused a connection over its own
    limit). A worker process that dies holding permits never gives them back itself,
    so the engine hands them back by its id (`reclaim`) when it sees the process gone:
    a SIGKILLed worker does not make every other mailbox wait until Stop.
    """

    def __init__(self, role: str, cap: int, ctx: BaseContext):
        self.role = role
        self.start = cap
        self._holders = ctx.RawArray("i", cap)
        self._lock = ctx.Lock()
        self._freed = ctx.Condition(self._lock)
        self._slowed = ctx.RawValue("i", 0)  # lowered because the server slowed down

    @property
    def cap(self) -> int:
        with self._lock:
            return sum(1 for h in self._holders if h != RETIRED)

    def _take_one(self) -> bool:
        for n, holder in enumerate(self._holders):
            if holder == 0:
                self._holders[n] = os.getpid()
                return True
        return False

    def take(self, wait: bool, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Take a permit: False at once when none is free and not `wait`."""
        with self._freed:
            while not self._take_one():
                if not wait:
                    return False
                if should_stop():
                    raise StoppedError("stopped by the user")
                self._freed.wait(0.2)
        return True

    def _release(self, holder: int, replace_with: int = 0) -> bool:
        for n, h in enumerate(self._holders):
            if h == holder:
                self._holders[n] = replace_with
                return True
        return False

    def give(self) -> None:
        with self._freed:
            if self._release(os.getpid()):
                self._freed.notify_all()

    def lower(self, slowed: bool = False) -> int | None:
        """The server refused a connection over its limit (or, `slowed`, slowed down): the
        caller's permit is retired and the cap is one less; None (give it back) when it
        is one already."""
        with self._lock:
            left = sum(1 for h in self._holders if h != RETIRED)
            if left <= 1 or not self._release(os.getpid(), RETIRED):
                return None
            if slowed:
                self._slowed.value = 1
            return left - 1

    @property
    def slowed(self) -> bool:
        return bool(self._slowed.value)

    def reclaim(self, pid: int) -> int:
        """The permits a process that ended without giving them back held: free again.
        How many."""
        freed = 0
        with self._freed:
            while self._release(pid):
                freed += 1
            if freed:
                self._freed.notify_all()
        return freed


class DayOver:
    """Set when a daily limit that holds for every mailbox was reached (an admin login's
    account, which every connection counts against): the moment (epoch seconds) the
    run may go on, and whose limit it was. Every mailbox stops at a clean point."""

    def __init__(self, ctx: BaseContext | None = None):
        if ctx is None:
            self._until: Any = _Cell(0.0)
            self._lock: Any = threading.Lock()
        else:
            self._until, self._lock = ctx.RawValue("d", 0.0), ctx.Lock()
        self.reason = ""  # in the process that set it; the others see `until` only

    def set(self, until: float) -> None:
        with self._lock:
            self._until.value = max(self._until.value, until)

    @property
    def until(self) -> float | None:
        value = self._until.value
        return value or None


@dataclass
class RunPacing:
    """What the workers of one run share (see the module docstring); None: no limit."""

    bytes: Rate | None = None
    messages: Rate | None = None
    source: ServerCap | None = None
    destination: ServerCap | None = None
    day: DayOver = field(default_factory=DayOver)

    @classmethod
    def create(cls, limits: Limits, ctx: BaseContext) -> RunPacing:
        def rate(per_second: float | None, unit: str) -> Rate | None:
            return Rate(per_second, unit, ctx) if per_second else None

        def cap(role: str, n: int | None) -> ServerCap | None:
            return ServerCap(role, n, ctx) if n else None

        return cls(rate(limits.bytes_per_second, "bytes"),
                   rate(limits.messages_per_second, "messages"),
                   cap("source", limits.source_connections),
                   cap("destination", limits.destination_connections), DayOver(ctx))

    @property
    def rates(self) -> bool:
        return self.bytes is not None or self.messages is not None

    def reserve(self, messages: int, nbytes: int) -> tuple[float, Rate | None]:
        """Reserve a batch on both rates: (seconds to wait, the rate that holds it back)."""
        wait, which = 0.0, None
        for rate, amount in ((self.bytes, nbytes), (self.messages, messages)):
            if rate is not None and amount:
                seconds = rate.reserve(amount)
                if seconds > wait:
                    wait, which = seconds, rate
        return wait, which

    def caps(self) -> tuple[ServerCap, ...]:
        """The servers' caps, in the order permits are taken."""
        return tuple(c for c in (self.source, self.destination) if c is not None)

    def reclaim(self, pid: int) -> int:
        """A worker process `pid` ended: the connection permits it held are free again."""
        return sum(c.reclaim(pid) for c in self.caps())

    def lowered(self) -> list[str]:
        """For the Report: each cap a server made KIMT lower during the run."""
        return [f"connections to the {c.role} lowered from {c.start} to {c.cap}: the server "
                + ("refused connections over its own limit, or slowed down" if c.slowed
                   else "refused connections over its own limit")
                for c in self.caps() if c.cap < c.start]
