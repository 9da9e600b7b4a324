"""A mailbox's connections: lanes, and keeping them going within the servers' limits.

A `Lane` is one pair of logged-in connections (source, destination); a mailbox
copies its folders over one or more lanes side by side. `LaneKeeper` is what
a mailbox does to keep its lanes open, kept apart from what it copies
(`mailbox`): every connection takes a permit of its server's cap first (the
run's `pacing`, a cluster's `limits` slots), a connection that breaks is
reopened with backoff (counted against `max_retries`, per mailbox), and a
server that asks to slow down — or whose answers slow to a trickle
(`slowdown`) — is waited for as it asked, lowering that server's cap, never
counted as a failure. A daily limit (`daily`) is raised for the mailbox to
stop at a clean point. Each wait is said in a `Notice`, which the status page
and the CLI show.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, TypeVar

from .accounts import Account
from .daily import MailboxDay
from .errors import ConnectError, KimtError, LoginError, StoppedError
from .events import Event, MailboxResult, Notice
from .journal import Journal
from .limits import ConnectionSlots
from .pacing import NoFreeConnection, RunPacing, ServerCap
from .report import plural
from .servers import ServerConfig
from .slowdown import SlowdownRule, SlowdownWatch, SlowingDown
from .wire import DailyLimit, Throttled, Wire

if TYPE_CHECKING:
    from .mailbox import JobSettings

log = logging.getLogger("kimt.mailbox")

THROTTLE_GIVE_UP = 30 * 60.0  # seconds of waiting for a server, per mailbox
RATE_NOTICE_EVERY = 30.0  # a mailbox says it waits for the run's rate limit this seldom

T = TypeVar("T")
S = TypeVar("S")
D = TypeVar("D")


class FolderGaveUp(KimtError):
    """One folder used up the reconnects; the mailbox goes on with the next."""


class Lane:
    """One pair of connections (source, destination) and the folders it copies; used by
    one thread at a time, plus a helper thread that runs the source's half of a step
    while the destination's runs (over a slow link a step then costs one side's round
    trips, not both)."""

    def __init__(self, number: int, slots: ConnectionSlots | None = None,
                 slowdown: SlowdownRule | None = None):
        self.number = number
        self.watch = SlowdownWatch(slowdown or SlowdownRule())  # its steps, timed
        self.src: Wire | None = None
        self.dst: Wire | None = None
        self.slots = slots
        self.held: list[str] = []  # the roles whose connection slot this lane holds
        self.journal: Journal | None = None  # SQLite: one connection per thread
        self._side: ThreadPoolExecutor | None = None
        self.permits: list[ServerCap] = []  # a connection cap's permits its connections hold

    def both(self, on_source: Callable[[], S], on_destination: Callable[[], D],
             ) -> tuple[S, D]:
        if self._side is None:
            self._side = ThreadPoolExecutor(1, thread_name_prefix="source")
        future = self._side.submit(contextvars.copy_context().run, on_source)
        try:
            theirs = on_destination()
        except BaseException:
            wait([future])  # never leave the source connection in use behind us
            raise
        return future.result(), theirs

    def close(self) -> None:
        for wire in (self.src, self.dst):
            if wire is not None:
                wire.close()
        self.src = self.dst = None
        while self.permits:
            self.permits.pop().give()
        while self.held:  # closed first: a slot given back is a connection gone
            assert self.slots is not None
            self.slots.give(self.held.pop())

    def shutdown(self, journal: bool = True) -> None:
        self.close()
        if self._side is not None:
            self._side.shutdown()
        if self.journal is not None and journal:
            self.journal.close()


Connector = Callable[[ServerConfig, str, "str | None"], Wire]


class LaneKeeper:
    """Opens and keeps a mailbox's lanes; `MailboxRun` is one. `connector` opens a
    logged-in connection (`servers.connect`; the tests' in-memory fake in its place)."""

    def __init__(self, account: Account, settings: JobSettings,
                 emit: Callable[[Event], None], should_stop: Callable[[], bool],
                 connector: Connector, pacing: RunPacing | None,
                 result: MailboxResult):
        self.account = account
        self.settings = settings
        self.emit = emit
        self._stop_asked = should_stop
        self.connector = connector
        self.pacing = pacing or RunPacing()  # the run's rates and caps, shared by all workers
        self.result = result
        self._gave_up = False  # a folder used up the reconnects: no more waiting
        self._retry_lock = threading.Lock()
        self._rate_said = -RATE_NOTICE_EVERY  # when a rate wait was last shown
        # KIMT's own daily budget and a provider's daily limit (`daily`)
        self.day = MailboxDay(settings.limits, settings.source, settings.destination,
                              self.pacing.day)

    def should_stop(self) -> bool:
        """The user's Stop, or a daily limit: this mailbox's, or one all of them share."""
        return self._stop_asked() or self.day.over

    # -- connections -------------------------------------------------------------------

    def _connect(self, lane: Lane, wait: bool = True) -> None:
        """Log `lane` in on both servers, each connection with a permit of its server's
        cap (the run's, and a cluster's slots); a lane that does not `wait` for one gets
        NoFreeConnection (or ConnectError for a cluster slot) instead of waiting its turn."""
        lane.close()
        if lane.slots is not None:
            # Both slots before either connection, always the source's first: two lanes
            # each holding one and waiting for the other's would wait for ever.
            for role in ("source", "destination"):
                if not lane.slots.take(role, wait, self.should_stop):
                    lane.close()
                    raise ConnectError(f"the run's cap on {role} connections is reached")
                lane.held.append(role)
        a = self.account
        password = a.destination_password if a.destination_password is not None else a.password
        try:
            for cap in self.pacing.caps():  # source first: see pacing
                self._take_permit(lane, cap, wait)

            def source() -> None:
                lane.src = self._login(lane, self.settings.source, self.pacing.source,
                                       a.password)

            def destination() -> None:
                lane.dst = self._login(lane, self.settings.destination,
                                       self.pacing.destination, password)

            lane.both(source, destination)
        except BaseException:  # the side that logged in is closed when the other could not
            lane.close()
            raise

    def _take_permit(self, lane: Lane, cap: ServerCap, wait: bool) -> None:
        if not cap.take(False):
            if not wait:
                raise NoFreeConnection(f"the {cap.role} has its {plural(cap.cap, 'connection')} "
                                       "open already (the run's cap)")
            log.info("%s: waiting for a free connection to the %s (at most %d at once)",
                     self.account.email, cap.role, cap.cap)
            cap.take(True, self.should_stop)
        lane.permits.append(cap)

    def _login(self, lane: Lane, config: ServerConfig, cap: ServerCap | None,
               password: str | None) -> Wire:
        try:
            return self.connector(config, self.account.email, password)
        except Throttled as e:
            if cap is not None and not isinstance(e, DailyLimit):
                # over the server's connection limit: KIMT's cap is too high
                lowered = cap.lower()
                if lowered is not None:
                    lane.permits.remove(cap)  # kept for good
                    text = (f"the {cap.role} refused a connection over its limit; at most "
                            f"{plural(lowered, 'connection')} to it from now on ({e})")
                    log.warning("%s: %s", self.account.email, text)
                    self.emit(Notice(self.account.email, text))
            raise

    def _with_retries(self, what: str, action: Callable[[], T], folder: bool = False,
                      lane: Lane | None = None) -> T:
        """`action`, reconnecting with backoff when a connection breaks.

        The reconnects are counted per mailbox. When they are used up inside a
        folder, that folder alone is given up (`folder`): the next folders get
        one attempt each, and a server that can't be reached any more fails the
        mailbox.
        """
        lane = lane or self.lane  # the mailbox's main lane
        delay = self.settings.retry_delay
        throttled = 0
        while True:
            connecting = lane.src is None
            try:
                if connecting:
                    self._connect(lane)
                connecting = False
                return action()
            except LoginError:
                raise
            except DailyLimit as e:  # no wait helps today: the mailbox stops here
                lane.close()
                self._reached_daily_limit(e)
                raise
            except Throttled as e:  # not a failure: wait as asked, then go on
                if isinstance(e, SlowingDown):
                    self._slowed_down(lane, e.side)
                lane.close()
                throttled += 1
                self._wait_for_server(e, throttled, what)
            except ConnectError as e:
                lane.close()
                with self._retry_lock:
                    used_up = (self.result.retries >= self.settings.max_retries
                               or self._gave_up)
                    if used_up and folder and not connecting:
                        self._gave_up = True
                    if not used_up:
                        self.result.retries += 1
                        attempt = self.result.retries
                if used_up:
                    text = f"gave up after {self.result.retries} reconnects ({what}): {e}"
                    if folder and not connecting:  # this folder only: the next one goes on
                        raise FolderGaveUp(text) from None
                    raise ConnectError(text) from None
                text = (f"connection problem ({what}): {e}; reconnecting in {delay:g} s "
                        f"(attempt {attempt} of {self.settings.max_retries})")
                log.warning("%s: %s", self.account.email, text)
                self.emit(Notice(self.account.email, text))
                self._sleep(delay)
                delay = min(delay * 2, 30.0)

    def _slowed_down(self, lane: Lane, side: str) -> None:
        """A side slowed to a trickle: its cap, where there is one, is one less for good
        (this lane's permit is kept), and the lane learns the server's pace afresh."""
        lane.watch.forget()
        cap = self.pacing.source if side == "source" else self.pacing.destination
        if cap is None or cap not in lane.permits:
            return
        lowered = cap.lower(slowed=True)
        if lowered is not None:
            lane.permits.remove(cap)
            text = (f"the {side} is slowing down; at most {plural(lowered, 'connection')} "
                    "to it from now on")
            log.warning("%s: %s", self.account.email, text)
            self.emit(Notice(self.account.email, text))

    def _wait_for_server(self, e: Throttled, attempt: int, what: str) -> None:
        """The wait a server asked for, or exponential backoff with jitter (capped at
        5 minutes); after THROTTLE_GIVE_UP of waiting in all, the mailbox is failed."""
        seconds = e.wait if e.wait is not None else min(
            300.0, self.settings.retry_delay * 2 ** min(attempt, 9))
        seconds *= random.uniform(1.0, 1.25)  # workers that were refused together part
        with self._retry_lock:
            self.result.throttled_seconds += seconds
            total = self.result.throttled_seconds
        if total > THROTTLE_GIVE_UP:
            raise ConnectError(f"the server kept asking to slow down for over "
                               f"{THROTTLE_GIVE_UP // 60:.0f} minutes ({what}): {e}")
        why = ("the server is slowing down" if isinstance(e, SlowingDown)
               else "the server asked to slow down")
        text = f"waiting {max(1, round(seconds))} s: {why} ({what}; {e})"
        log.info("%s: %s", self.account.email, text)
        self.emit(Notice(self.account.email, text))
        self._sleep(seconds)

    def _reached_daily_limit(self, e: DailyLimit, own: bool = False) -> None:
        text = self.day.reached(e, own)
        if text is not None:
            log.warning("%s: %s", self.account.email, text)
            self.emit(Notice(self.account.email, text))

    def _spend_today(self, nbytes: int) -> None:
        """KIMT's own daily budget: a batch that would go over it is not fetched."""
        over = self.day.spend(nbytes)
        if over is not None:
            self._reached_daily_limit(over, own=True)
            raise over

    def _pace(self, lane: Lane, messages: int, nbytes: int) -> None:
        """Before a batch is fetched: a connection slowed to a trickle, the daily budget,
        then wait for the run's rates (the admin's own limits), shown at most every
        RATE_NOTICE_EVERY seconds."""
        lane.watch.check()
        self._spend_today(nbytes)
        seconds, rate = self.pacing.reserve(messages, nbytes)
        if rate is None:
            return
        now = time.monotonic()
        with self._retry_lock:
            self.result.paced_seconds += seconds
            # a wait under a second is not worth a line ("waiting 0 s"): a longer one is said
            say = seconds >= 1 and now - self._rate_said >= RATE_NOTICE_EVERY
            if say:
                self._rate_said = now
        if say:
            text = (f"waiting {seconds:.0f} s: the run's own speed limit of {rate.words()}, "
                    "not the server's")
            log.info("%s: %s", self.account.email, text)
            self.emit(Notice(self.account.email, text))
        self._sleep(seconds)

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.should_stop():
                raise StoppedError("stopped by the user")
            time.sleep(min(0.2, end - time.monotonic()))
