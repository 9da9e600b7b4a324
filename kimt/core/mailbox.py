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
last complete pass. A server that asks to slow down, or whose answers slow
to a trickle (`slowdown`), is waited for and the mailbox goes on, never
failed for it; a daily limit (`daily`) stops the mailbox at a clean point,
to be continued by a later run. How the connections are opened, retried and
paced is `lanes` (`MailboxRun` is a `LaneKeeper`); this module is what a
mailbox copies over them. Used in the worker processes by `engine`.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import filelock

from ..system.locks import mailbox_lock
from .accounts import Account
from .copier import CopyOptions, FolderCopier
from .errors import ConnectError, KimtError, LoginError, StoppedError
from .events import (
    DAY_OVER,
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
from .lanes import Connector, Lane, LaneKeeper
from .limits import ConnectionSlots, Limits
from .listing import FolderStatus
from .pacing import RunPacing
from .servers import ServerConfig, connect
from .slowdown import SlowdownRule
from .wire import DailyLimit, Refused, Wire

log = logging.getLogger("kimt.mailbox")


# A folder the destination refuses to open with [ALREADYEXISTS] is one it was creating
# itself at that moment (Dovecot makes its special-use folders on first use, and two
# connections opening two of them at once can meet): opened again after a pause.
CREATING_RETRIES, CREATING_PAUSE = 3, 0.5
# A connection pair more costs each server a login (on Dovecot a process of its own).
# Over a link it pays even for a little mail: the folders' round trips overlap. Where
# the folders' STATUS comes back within FAST_ROUND_TRIP (a LAN, this computer) it
# pays only with mail to share: one pair for every SHARED_MESSAGES messages.
FAST_ROUND_TRIP, SHARED_MESSAGES = 0.010, 50


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
    slowdown: SlowdownRule = field(default_factory=SlowdownRule)  # a trickle: throttled


class MailboxRun(LaneKeeper):
    """Migrates (or, with verify, compares) one account. `connector` opens a logged-in
    connection (`servers.connect`; the tests' in-memory fake in its place); `slots`,
    when given, caps the connections to each server of the whole run (`limits`)."""

    def __init__(self, account: Account, settings: JobSettings,
                 emit: Callable[[Event], None], should_stop: Callable[[], bool],
                 verify: bool = False, connector: Connector = connect,
                 pacing: RunPacing | None = None, slots: ConnectionSlots | None = None):
        super().__init__(account, settings, emit, should_stop, connector, pacing,
                         MailboxResult(account.email))
        self.slots = slots  # a cluster run's caps, shared by all machines
        self.verify = verify
        # logs in, lists, creates; then copies folders with the others
        self.lane = Lane(0, slots, settings.slowdown)
        self.journal: Journal | None = None  # the main lane's
        self._status_seconds: float | None = None  # the folders' STATUS round trip

    @property
    def src(self) -> Wire | None:
        return self.lane.src

    @property
    def dst(self) -> Wire | None:
        return self.lane.dst

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
        except (DailyLimit, StoppedError) as e:
            if isinstance(e, DailyLimit):
                self._reached_daily_limit(e)
            if self.day.over:
                res.state = DAY_OVER
                res.resume_at, res.error = self.day.outcome()
            else:
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

    def _open_journal(self, lane: Lane | None = None) -> None:
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

    def _folder_journal(self, lane: Lane, fmap: FolderMap) -> FolderJournal | None:
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
            started = time.monotonic()
            statuses = self.lane.both(
                lambda: src.status_many([m.source.name for m in maps]),
                lambda: dst.status_many([m.destination_name for m in maps if m.exists])
                if known else {})
            self._status_seconds = time.monotonic() - started
            return statuses
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
        lanes = self._lanes(todo)
        if lanes <= 1:
            for number, fmap, result, src in todo:
                if self.should_stop():
                    raise StoppedError("stopped by the user")
                done = self._folder(self.lane, fmap, number, count, result, src)
                if done is not None:
                    passed.append(done)
            self._write_passes(passed)
            return
        extra = [Lane(n, self.slots, self.settings.slowdown) for n in range(1, lanes)]
        try:
            self._write_passes(self._side_by_side(todo, extra, count))
        finally:
            for lane in extra:  # their journals wrote the passes above
                if lane.journal is not None:
                    lane.journal.close()

    def _lanes(self, todo: list) -> int:
        """How many connection pairs copy these folders: up to `connections`, fewer on
        a fast network for a little mail (see SHARED_MESSAGES)."""
        lanes = min(self.settings.connections, len(todo))
        counts = [src.messages for _, _, _, src in todo if src is not None]
        if (lanes > 1 and self._status_seconds is not None
                and self._status_seconds < FAST_ROUND_TRIP and len(counts) == len(todo)):
            lanes = min(lanes, sum(1 for n in counts if n), 1 + sum(counts) // SHARED_MESSAGES)
        return max(1, lanes)

    def _side_by_side(self, todo: list, extra: list[Lane], count: int,
                      ) -> list[tuple[FolderJournal, FolderStatus, str]]:
        """The folders shared among `lanes` lanes: the main one and new ones that log
        in as they start; a lane takes the next folder when it is free."""
        queue = sorted(todo, key=lambda job: -(job[3].messages if job[3] else 0))
        lock = threading.Lock()
        passed: list[tuple[FolderJournal, FolderStatus, str]] = []

        def work(lane: Lane) -> None:
            try:
                if lane is not self.lane:
                    try:  # before taking a folder: a lane that can't log in leaves them
                        self._connect(lane, wait=False)
                    except (ConnectError, LoginError) as e:
                        if isinstance(e, DailyLimit):
                            self._reached_daily_limit(e)
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

    def _folder(self, lane: Lane, fmap: FolderMap, number: int, count: int,
                result: FolderResult, src_status: FolderStatus | None,
                ) -> tuple[FolderJournal, FolderStatus, str] | None:
        """Copy one folder; a failure is that folder's, unless the connection is gone.
        What the journal needs of a complete pass, when it was one."""
        fj = self._folder_journal(lane, fmap)
        creating = 0
        while True:
            try:
                return self._with_retries(
                    f"folder '{result.folder}'", lambda: self._copy_folder(
                        lane, fmap, number, count, result, fj, src_status),
                    folder=True, lane=lane)
            except (ConnectError, LoginError, StoppedError):
                raise
            except Refused as e:
                if e.code == "ALREADYEXISTS" and creating < CREATING_RETRIES:
                    creating += 1
                    log.info("%s: folder %r: the destination was still creating it (%s); "
                             "opening it again", self.account.email, result.folder, e)
                    self._sleep(CREATING_PAUSE * creating)
                    continue
                self._folder_failed(lane, result, fj, str(e))
            except KimtError as e:
                self._folder_failed(lane, result, fj, str(e))
            except Exception as e:  # an answer the IMAP parser chokes on, say
                log.debug("%s: unexpected error in folder %r\n%s", self.account.email,
                          result.folder, traceback.format_exc())
                self._folder_failed(lane, result, fj, (
                    f"the server sent something KIMT could not understand "
                    f"({type(e).__name__}: {str(e)[:200]}); details in the Debug log"))
            return None

    def _folder_failed(self, lane: Lane, result: FolderResult, fj: FolderJournal | None,
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

    def _copy_folder(self, lane: Lane, fmap: FolderMap, number: int, count: int,
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
                              pace=lambda messages, nbytes: self._pace(lane, messages, nbytes),
                              timing=lane.watch.record)
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
