"""One account, start to end: log in, map folders, copy each, check.

A login refused by a server fails this account at once (retrying would only
lock the account). A connection that breaks later is reopened with backoff
and the folder run again from a fresh comparison, so a message is neither
lost nor duplicated; after `max_retries` the account is failed with the
reason and the others go on. A folder the server refuses, or answers in a
way KIMT can't read, is reported with its reason and the next folder goes
on: one problem never aborts a mailbox, and what was copied before it is
always counted. With the journal, a re-run first asks every folder's STATUS
on both sides at once and skips the folders where nothing changed since the
last complete pass. Used in the worker processes by `engine`.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

import filelock

from ..system.locks import mailbox_lock
from .accounts import Account
from .copier import CopyOptions, FolderCopier
from .errors import ConnectError, KimtError, LoginError, StoppedError
from .events import (
    DONE,
    FAILED,
    PROBLEMS,
    STOPPED,
    Event,
    FolderProgress,
    FolderResult,
    ListingFolders,
    MailboxCounted,
    MailboxResult,
    Notice,
)
from .folder_rules import FolderRules
from .folders import PUBLIC_FOLDERS, FolderMap, list_folders, map_folders, select, with_public
from .hierarchy import build_tree, subscribe
from .journal import FolderJournal, Journal, JournalError
from .limits import ConnectionSlots, Limits
from .listing import FolderStatus
from .pacing import NoFreeConnection, RunPacing, ServerCap
from .servers import ServerConfig, connect
from .wire import Throttled, Wire

log = logging.getLogger("kimt.mailbox")


THROTTLE_GIVE_UP = 30 * 60.0  # seconds of waiting for a server, per mailbox
RATE_NOTICE_EVERY = 30.0  # a mailbox says it waits for the run's rate limit this seldom

T = TypeVar("T")
S = TypeVar("S")
D = TypeVar("D")


class _FolderGaveUp(KimtError):
    """One folder used up the reconnects; the mailbox goes on with the next."""


@dataclass(frozen=True)
class JobSettings:
    """Everything a worker needs besides the account (picklable, no user passwords)."""

    source: ServerConfig
    destination: ServerConfig
    copy: CopyOptions = field(default_factory=CopyOptions)
    max_retries: int = 5
    retry_delay: float = 1.0  # doubled on each retry, capped at 30 s
    state_dir: str | None = None  # where the journal lives (None: the user's state folder)
    use_journal: bool = True
    connections: int = 2  # connection pairs per mailbox: folders copied side by side
    folders: FolderRules = field(default_factory=FolderRules)  # what to copy, and where
    limits: Limits = field(default_factory=Limits)  # caps and rates for the whole run
    kinds: tuple[str, str] = ("generic", "generic")  # the presets of source, destination
    public_into: str | None = None  # the mailbox the source's public folders go into


class _Lane:
    """One pair of connections (source, destination) and the folders it copies; used by
    one thread at a time, plus a helper thread that runs the source's half of a step
    while the destination's runs (over a slow link a step then costs one side's round
    trips, not both)."""

    def __init__(self, number: int, slots: ConnectionSlots | None = None):
        self.number = number
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


class MailboxRun:
    """Migrates (or, with verify, compares) one account. `connector` opens a logged-in
    connection (`servers.connect`; the tests' in-memory fake in its place); `slots`,
    when given, caps the connections to each server of the whole run (`limits`)."""

    def __init__(self, account: Account, settings: JobSettings,
                 emit: Callable[[Event], None], should_stop: Callable[[], bool],
                 verify: bool = False, connector: Connector = connect,
                 pacing: RunPacing | None = None, slots: ConnectionSlots | None = None):
        self.connector = connector
        self.pacing = pacing or RunPacing()  # the run's rates and caps, shared by all workers
        self.slots = slots  # a cluster run's caps, shared by all machines
        self.account = account
        self.settings = settings
        self.emit = emit
        self.should_stop = should_stop
        self.verify = verify
        self.result = MailboxResult(account.email)
        self.lane = _Lane(0, slots)  # logs in, lists, creates; then copies folders with the others
        self.journal: Journal | None = None  # the main lane's
        self._gave_up = False  # a folder used up the reconnects: no more waiting
        self._retry_lock = threading.Lock()
        self._rate_said = -RATE_NOTICE_EVERY  # when a rate wait was last shown

    @property
    def src(self) -> Wire | None:
        return self.lane.src

    @property
    def dst(self) -> Wire | None:
        return self.lane.dst

    # -- connections -------------------------------------------------------------------

    def _connect(self, lane: _Lane, wait: bool = True) -> None:
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

    def _take_permit(self, lane: _Lane, cap: ServerCap, wait: bool) -> None:
        if not cap.take(False):
            if not wait:
                raise NoFreeConnection(f"the {cap.role} has its {cap.cap} connections "
                                       "open already (the run's cap)")
            log.info("%s: waiting for a free connection to the %s (at most %d at once)",
                     self.account.email, cap.role, cap.cap)
            cap.take(True, self.should_stop)
        lane.permits.append(cap)

    def _login(self, lane: _Lane, config: ServerConfig, cap: ServerCap | None,
               password: str | None) -> Wire:
        try:
            return self.connector(config, self.account.email, password)
        except Throttled as e:
            if cap is not None:  # over the server's limit: KIMT's cap is too high
                lowered = cap.lower()
                if lowered is not None:
                    lane.permits.remove(cap)  # kept for good
                    text = (f"the {cap.role} refused a connection over its limit; at most "
                            f"{lowered} connections to it from now on ({e})")
                    log.warning("%s: %s", self.account.email, text)
                    self.emit(Notice(self.account.email, text))
            raise

    def _with_retries(self, what: str, action: Callable[[], T], folder: bool = False,
                      lane: _Lane | None = None) -> T:
        """`action`, reconnecting with backoff when a connection breaks.

        The reconnects are counted per mailbox. When they are used up inside a
        folder, that folder alone is given up (`folder`): the next folders get
        one attempt each, and a server that can't be reached any more fails the
        mailbox.
        """
        lane = lane or self.lane
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
            except Throttled as e:  # not a failure: wait as asked, then go on
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
                        raise _FolderGaveUp(text) from None
                    raise ConnectError(text) from None
                text = (f"connection problem ({what}): {e}; reconnecting in {delay:g} s "
                        f"(attempt {attempt} of {self.settings.max_retries})")
                log.warning("%s: %s", self.account.email, text)
                self.emit(Notice(self.account.email, text))
                self._sleep(delay)
                delay = min(delay * 2, 30.0)

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
        text = f"waiting {seconds:.0f} s: the server asked to slow down ({what}; {e})"
        log.info("%s: %s", self.account.email, text)
        self.emit(Notice(self.account.email, text))
        self._sleep(seconds)

    def _pace(self, messages: int, nbytes: int) -> None:
        """Before a batch is fetched: wait for the run's rates (the admin's own limits),
        shown at most every RATE_NOTICE_EVERY seconds."""
        seconds, rate = self.pacing.reserve(messages, nbytes)
        if rate is None:
            return
        now = time.monotonic()
        with self._retry_lock:
            self.result.paced_seconds += seconds
            say = now - self._rate_said >= RATE_NOTICE_EVERY
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

    # -- the run -------------------------------------------------------------------------

    def _lock(self) -> filelock.FileLock | None:
        """Hold the destination mailbox against other KIMT runs; None when one has it."""
        address = self.settings.destination.address
        try:
            lock = mailbox_lock(address, self.account.email)
            lock.acquire(timeout=0)
        except filelock.Timeout:
            return None
        except OSError as e:
            raise KimtError(f"cannot create the lock file of this mailbox: {e}") from None
        log.debug("%s: holding the lock %s", self.account.email, lock.lock_file)
        return lock

    def run(self) -> MailboxResult:
        started = time.monotonic()
        res = self.result
        lock = None
        try:
            if not self.verify:  # a comparison only reads: it needs no lock
                lock = self._lock()
                if lock is None:
                    res.state = FAILED
                    res.error = (f"another KIMT run on this computer is migrating this "
                                 f"mailbox to {self.settings.destination.address} right now, so "
                                 "this run left it alone")
                    return res
            self._open_journal()
            self._with_retries("logging in", lambda: None)
            self.emit(ListingFolders(self.account.email))
            maps = self._with_retries("listing folders", self._plan_folders)
            assert isinstance(maps, list)
            selectable = [m for m in maps if m.source.selectable]
            statuses = self._statuses(selectable)
            res.counted = all(m.source.name in statuses[0] for m in selectable)
            if res.counted:
                self.emit(MailboxCounted(self.account.email, len(selectable), sum(
                    statuses[0][m.source.name].messages for m in selectable)))
            self._folders(selectable, *statuses)
            clean = (res.missing == 0 and not res.folder_problems and not res.failed_folders)
            res.state = DONE if clean and (self.verify or not res.skipped) else PROBLEMS
            failed = res.failed_folders
            if failed and len(failed) == len(res.folders):  # nothing could be done at all
                res.state = FAILED
                res.error = (f"folder '{failed[0].folder}' not finished: {failed[0].error}"
                             if len(failed) == 1 else
                             f"none of the {len(failed)} folders could be finished (the first, "
                             f"'{failed[0].folder}': {failed[0].error})")
        except StoppedError:
            res.state = STOPPED
            res.error = "stopped by the user before this mailbox was finished"
        except KimtError as e:
            res.state = FAILED
            res.error = str(e)
            if isinstance(e, LoginError):
                res.advice = ("Check this user's password in the users file (or the admin's "
                              "rights), then run again.")
        except Exception as e:  # a server's answer the IMAP parser chokes on, say
            log.debug("%s: unexpected error\n%s", self.account.email, traceback.format_exc())
            res.state = FAILED
            res.error = (f"a server sent something KIMT could not understand "
                         f"({type(e).__name__}: {str(e)[:200]}); details in the Debug log")
        finally:
            self.lane.shutdown()
            for f in res.folders:
                f.copied_uids = set()  # only the worker needs them
            if lock is not None:
                lock.release()
            res.seconds = time.monotonic() - started
        log.info("%s: %s (%d copied, %d already there, %d skipped) in %.1f s", res.email,
                 res.state, res.copied, res.already, len(res.skipped), res.seconds)
        return res

    def _plan_folders(self) -> list[FolderMap]:
        assert self.src and self.dst
        src, dst = self.src, self.dst
        source, destination = self.lane.both(lambda: list_folders(src),
                                             lambda: list_folders(dst))
        res = self.result
        public_notes = []
        if self._takes_public():
            for f in source.public:
                log.info("%s: public folder %r copied under %r", res.email, f.name,
                         PUBLIC_FOLDERS)
            public_notes = [f"public folder '{f.display}' copied into this mailbox under "
                            f"'{PUBLIC_FOLDERS}'" for f in source.public if f.selectable]
            source = with_public(source, copy=True)
        elif self.settings.public_into:  # another mailbox has them: not said to be left out here
            source = with_public(source, copy=False)
        res.skipped_namespaces = sorted(source.skipped_other_namespaces)
        for name in res.skipped_namespaces:
            log.info("%s: shared/public folder %r skipped", res.email, name)
        rules = self.settings.folders
        unused = rules.unused(f.parts for f in source.folders)
        source, res.folders_left_out = select(source, rules)
        for line in res.folders_left_out:
            log.info("%s: folder %s", res.email, line)
        maps = map_folders(source, destination,
                           special_use_create=dst.has("CREATE-SPECIAL-USE"), rules=rules)
        res.notes = public_notes + unused + [f"{m.source.display}: {m.note}" for m in maps
                                             if m.note]
        if not self.verify:
            made = build_tree(dst, maps, destination)
            for problem in made.problems:
                log.warning("%s: %s", self.account.email, problem)
            res.folder_problems += made.problems
            res.notes += made.notes
            subscribe(dst, maps, destination)
        return maps

    # -- the journal ------------------------------------------------------------------

    def _open_journal(self, lane: _Lane | None = None) -> None:
        if not self.settings.use_journal:
            return
        try:
            journal = Journal.open(self.settings.state_dir, self.settings.destination.address,
                                   readonly=self.verify)
        except JournalError as e:  # an accelerator: the comparison alone is still safe
            if lane is None:
                log.warning("%s: %s", self.account.email, e)
                self.emit(Notice(self.account.email, f"{e}; comparing in full without it"))
            return
        if lane is None:
            self.journal = self.lane.journal = journal
        else:
            lane.journal = journal

    def _takes_public(self) -> bool:
        into = self.settings.public_into
        return bool(into) and into.casefold() == self.account.email.casefold()

    def _folder_journal(self, lane: _Lane, fmap: FolderMap) -> FolderJournal | None:
        if lane.journal is None:
            return None
        # A public folder's entries are kept apart from the mailbox's own folders: no
        # address ends in a space and parentheses, so no folder of a user meets them.
        owner = self.account.email
        if fmap.source.public:
            owner = f"{owner} (public folders)"
        fj = lane.journal.folder(self.settings.source.address, owner, fmap.source.name)
        if fj.id is not None:
            self.result.rerun = True
        return fj

    def _statuses(self, maps: list[FolderMap],
                  ) -> tuple[dict[str, FolderStatus], dict[str, FolderStatus]]:
        """Every folder's STATUS on the source, one round trip: the whole mailbox is
        counted before anything is copied (a stopped run says "156 of 204"). On the
        destination too when the journal knows this mailbox (its unchanged folders are
        skipped). Only a shortcut: when it fails, every folder is listed."""
        if not maps:
            return {}, {}
        assert self.src and self.dst
        src, dst = self.src, self.dst
        known = self.journal is not None and not self.verify and self.journal.knows(
            self.settings.source.address, self.account.email)
        try:
            return self.lane.both(
                lambda: src.status_many([m.source.name for m in maps]),
                lambda: dst.status_many([m.destination_name for m in maps if m.exists])
                if known else {})
        except KimtError as e:
            log.info("%s: STATUS of the folders failed (%s); listing every folder",
                     self.account.email, e)
            self.lane.close()  # the next folder reconnects
            return {}, {}

    # -- the folders ----------------------------------------------------------------------

    def _folders(self, maps: list[FolderMap], src_status: dict[str, FolderStatus],
                 dst_status: dict[str, FolderStatus]) -> None:
        """Every folder, in up to `connections` lanes side by side (the biggest first);
        the Report keeps the folders' order. Complete passes are written to the journal
        at the end, with every destination folder's STATUS asked at once."""
        count = len(maps)
        jobs = []
        for number, fmap in enumerate(maps, 1):
            display = (fmap.source.display, "/".join(fmap.destination_parts))
            result = FolderResult(*display)
            self.result.folders.append(result)  # counted whatever happens next
            jobs.append((number, fmap, result))
        passed: list[tuple[FolderJournal, FolderStatus, str]] = []
        todo = []
        for number, fmap, result in jobs:
            fj = self._folder_journal(self.lane, fmap)
            src, dst = src_status.get(fmap.source.name), dst_status.get(fmap.destination_name)
            if fj is not None and src is not None and dst is not None and fj.unchanged(
                    src, dst, fmap.destination_name):
                result.total = result.already = src.messages
                result.altered_before = fj.altered_count()
                result.unchanged = True
                self.emit(FolderProgress(self.account.email, result.folder, number, count,
                                         src.messages, src.messages, 0))
            else:
                result.total = src.messages if src is not None else 0  # until it is listed
                todo.append((number, fmap, result, src))
        lanes = min(self.settings.connections, len(todo))
        if lanes <= 1:
            for number, fmap, result, src in todo:
                if self.should_stop():
                    raise StoppedError("stopped by the user")
                done = self._folder(self.lane, fmap, number, count, result, src)
                if done is not None:
                    passed.append(done)
            self._write_passes(passed)
            return
        extra = [_Lane(n, self.slots) for n in range(1, lanes)]
        try:
            self._write_passes(self._side_by_side(todo, extra, count))
        finally:
            for lane in extra:  # their journals wrote the passes above
                if lane.journal is not None:
                    lane.journal.close()

    def _side_by_side(self, todo: list, extra: list[_Lane], count: int,
                      ) -> list[tuple[FolderJournal, FolderStatus, str]]:
        """The folders shared among `lanes` lanes: the main one and new ones that log
        in as they start; a lane takes the next folder when it is free."""
        queue = sorted(todo, key=lambda job: -(job[3].messages if job[3] else 0))
        lock = threading.Lock()
        passed: list[tuple[FolderJournal, FolderStatus, str]] = []

        def work(lane: _Lane) -> None:
            try:
                if lane is not self.lane:
                    try:  # before taking a folder: a lane that can't log in leaves them
                        self._connect(lane, wait=False)
                    except (ConnectError, LoginError) as e:
                        # The main lane's login worked: this is a limit on connections
                        # (Dovecot: "[LIMIT] Maximum number of connections"), not a
                        # wrong password. The other lanes copy every folder.
                        log.info("%s: connection %d not opened (%s); going on with fewer",
                                 self.account.email, lane.number + 1, e)
                        return
                    self._open_journal(lane)
                while True:
                    with lock:
                        if not queue:
                            return
                        number, fmap, result, src = queue.pop(0)
                    if self.should_stop():
                        raise StoppedError("stopped by the user")
                    done = self._folder(lane, fmap, number, count, result, src)
                    if done is not None:
                        with lock:
                            passed.append(done)
            finally:
                if lane is not self.lane:
                    lane.shutdown(journal=False)

        with ThreadPoolExecutor(len(extra), thread_name_prefix="lane") as pool:
            futures = [pool.submit(contextvars.copy_context().run, work, lane)
                       for lane in extra]
            try:
                work(self.lane)
            finally:
                if not all(f.done() for f in futures):
                    with lock:  # the others finish the folder they have, then stop
                        queue.clear()
                wait(futures)
            for f in futures:
                f.result()  # a lane's error (a login refused, stopped) is the mailbox's
        return passed

    def _write_passes(self, passed: list[tuple[FolderJournal, FolderStatus, str]]) -> None:
        if not passed or self.dst is None and not self._reconnect_quietly():
            return
        assert self.dst is not None
        try:
            now = self.dst.status_many([name for _, _, name in passed])
        except KimtError as e:  # only a shortcut for the next run
            log.info("%s: STATUS after the copy failed (%s); the next run lists every "
                     "folder", self.account.email, e)
            return
        for fj, src_status, name in passed:
            if name in now:
                fj.passed(src_status, now[name], name)

    def _reconnect_quietly(self) -> bool:
        try:
            self._connect(self.lane)
        except KimtError:
            return False
        return True

    # -- one folder -----------------------------------------------------------------------

    def _folder(self, lane: _Lane, fmap: FolderMap, number: int, count: int,
                result: FolderResult, src_status: FolderStatus | None,
                ) -> tuple[FolderJournal, FolderStatus, str] | None:
        """Copy one folder; a failure is that folder's, unless the connection is gone.
        What the journal needs of a complete pass, when it was one."""
        fj = self._folder_journal(lane, fmap)
        try:
            return self._with_retries(f"folder '{result.folder}'", lambda: self._copy_folder(
                lane, fmap, number, count, result, fj, src_status), folder=True, lane=lane)
        except (ConnectError, LoginError, StoppedError):
            raise
        except KimtError as e:
            self._folder_failed(lane, result, fj, str(e))
        except Exception as e:  # an answer the IMAP parser chokes on, say
            log.debug("%s: unexpected error in folder %r\n%s", self.account.email,
                      result.folder, traceback.format_exc())
            self._folder_failed(lane, result, fj, (
                f"the server sent something KIMT could not understand ({type(e).__name__}: "
                f"{str(e)[:200]}); details in the Debug log"))
        return None

    def _folder_failed(self, lane: _Lane, result: FolderResult, fj: FolderJournal | None,
                       reason: str) -> None:
        result.error = reason
        log.warning("%s: folder %r not finished: %s", self.account.email, result.folder, reason)
        self.emit(Notice(self.account.email, f"folder '{result.folder}' not finished: "
                                             f"{reason}; going on with the next folder"))
        lane.close()  # the session may be in any state: the next folder starts afresh
        if fj is not None and not self.verify:
            try:
                fj.incomplete()
            except Exception:  # the journal only speeds up: never let it hide the reason
                log.debug("journal not updated", exc_info=True)

    def _copy_folder(self, lane: _Lane, fmap: FolderMap, number: int, count: int,
                     result: FolderResult, fj: FolderJournal | None,
                     src_status: FolderStatus | None,
                     ) -> tuple[FolderJournal, FolderStatus, str] | None:
        assert lane.src and lane.dst
        display = (result.folder, result.destination)
        email = self.account.email

        def progress(done: int, total: int, nbytes: int) -> None:
            self.emit(FolderProgress(email, display[0], number, count, done, total, nbytes))

        problem = next((p for p in self.result.folder_problems
                        if p.startswith(f"folder '{display[1]}' ")), None)
        if problem or (self.verify and not self._destination_exists(lane.dst, fmap)):
            self._uncopyable_folder(lane.src, fmap, result, problem)
            return None
        copier = FolderCopier(lane.src, lane.dst, fmap.source.name, fmap.destination_name,
                              display, self.settings.copy, progress, self.should_stop,
                              self.verify, journal=fj, result=result, src_status=src_status,
                              both=lane.both,
                              pace=self._pace if self.pacing.rates else None)
        copier.run()
        if copier.passed is None or fj is None:
            return None
        return (fj, *copier.passed)

    def _destination_exists(self, dst: Wire, fmap: FolderMap) -> bool:
        return fmap.exists or bool(dst.list_folders("", fmap.destination_name))

    def _uncopyable_folder(self, src: Wire, fmap: FolderMap, result: FolderResult,
                           problem: str | None) -> None:
        """A folder missing on the destination: count its messages as missing."""
        result.total = len(src.sizes(fmap.source.name))
        if problem is None:
            self.result.folder_problems.append(
                f"folder '{result.destination}' does not exist on the destination")
