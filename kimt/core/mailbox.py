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

import logging
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

import filelock
from imapclient import IMAPClient
from imapclient import exceptions as imap_exc

from ..system.locks import mailbox_lock
from .accounts import Account
from .copier import CONNECTION_ERRORS, CopyOptions, FolderCopier, server_words
from .errors import ConnectError, KimtError, LoginError, StoppedError
from .events import (
    DONE,
    FAILED,
    PROBLEMS,
    STOPPED,
    Event,
    FolderProgress,
    FolderResult,
    MailboxResult,
    Notice,
)
from .folders import FolderMap, list_folders, map_folders
from .hierarchy import build_tree, subscribe
from .journal import FolderJournal, Journal, JournalError
from .listing import FolderStatus, status_many
from .servers import ServerConfig, close_quietly, connect

log = logging.getLogger("kimt.mailbox")


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


class MailboxRun:
    """Migrates (or, with verify, compares) one account."""

    def __init__(self, account: Account, settings: JobSettings,
                 emit: Callable[[Event], None], should_stop: Callable[[], bool],
                 verify: bool = False):
        self.account = account
        self.settings = settings
        self.emit = emit
        self.should_stop = should_stop
        self.verify = verify
        self.result = MailboxResult(account.email)
        self.src: IMAPClient | None = None
        self.dst: IMAPClient | None = None
        self.journal: Journal | None = None
        self._side: ThreadPoolExecutor | None = None
        self._gave_up = False  # a folder used up the reconnects: no more waiting

    # -- connections -------------------------------------------------------------------

    def _both(self, on_source: Callable[[], S], on_destination: Callable[[], D],
              ) -> tuple[S, D]:
        """Run one step on each server at once (each connection in one thread only):
        over a slow link a mailbox's setup then costs the round trips of one side."""
        if self._side is None:
            self._side = ThreadPoolExecutor(1, thread_name_prefix="source")
        future = self._side.submit(on_source)
        try:
            theirs = on_destination()
        except BaseException:
            wait([future])  # never leave the source connection in use behind us
            raise
        return future.result(), theirs

    def _connect(self) -> None:
        self._close()
        a = self.account
        password = a.destination_password if a.destination_password is not None else a.password


        def source() -> None:
            self.src = connect(self.settings.source, a.email, a.password)

        def destination() -> None:
            self.dst = connect(self.settings.destination, a.email, password)

        try:  # the side that logged in is closed when the other could not
            self._both(source, destination)
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        for client in (self.src, self.dst):
            if client is not None:
                close_quietly(client)
        self.src = self.dst = None

    def _with_retries(self, what: str, action: Callable[[], T], folder: bool = False) -> T:
        """`action`, reconnecting with backoff when a connection breaks.

        The reconnects are counted per mailbox. When they are used up inside a
        folder, that folder alone is given up (`folder`): the next folders get
        one attempt each, and a server that can't be reached any more fails the
        mailbox.
        """
        delay = self.settings.retry_delay
        while True:
            connecting = self.src is None
            try:
                if connecting:
                    self._connect()
                connecting = False
                return action()
            except LoginError:
                raise
            except (ConnectError, *CONNECTION_ERRORS) as e:
                self._close()
                if self.result.retries >= self.settings.max_retries or self._gave_up:
                    text = f"gave up after {self.result.retries} reconnects ({what}): {e}"
                    if folder and not connecting:  # this folder only: the next one goes on
                        self._gave_up = True
                        raise _FolderGaveUp(text) from None
                    raise ConnectError(text) from None
                self.result.retries += 1
                text = (f"connection problem ({what}): {e}; reconnecting in {delay:g} s "
                        f"(attempt {self.result.retries} of {self.settings.max_retries})")
                log.warning("%s: %s", self.account.email, text)
                self.emit(Notice(self.account.email, text))
                self._sleep(delay)
                delay = min(delay * 2, 30.0)

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
            maps = self._with_retries("listing folders", self._plan_folders)
            assert isinstance(maps, list)
            selectable = [m for m in maps if m.source.selectable]
            statuses = self._statuses(selectable)
            for number, fmap in enumerate(selectable, 1):
                if self.should_stop():
                    raise StoppedError("stopped by the user")
                self._folder(fmap, number, len(selectable), *statuses)
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
        except imap_exc.IMAPClientError as e:
            res.state = FAILED
            res.error = f"server error: {e}"
        except Exception as e:  # a server's answer the IMAP parser chokes on, say
            log.debug("%s: unexpected error\n%s", self.account.email, traceback.format_exc())
            res.state = FAILED
            res.error = (f"a server sent something KIMT could not understand "
                         f"({type(e).__name__}: {str(e)[:200]}); details in the Debug log")
        finally:
            self._close()
            if self._side is not None:
                self._side.shutdown()
            if self.journal is not None:
                self.journal.close()
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
        source, destination = self._both(lambda: list_folders(src),
                                          lambda: list_folders(dst))
        res = self.result
        res.skipped_namespaces = sorted(source.skipped_other_namespaces)
        for name in res.skipped_namespaces:
            log.info("%s: shared/public folder %r skipped", res.email, name)
        maps = map_folders(source, destination,
                           special_use_create=self.dst.has_capability("CREATE-SPECIAL-USE"))
        res.notes = [f"{m.source.display}: {m.note}" for m in maps if m.note]
        if not self.verify:
            made = build_tree(self.dst, maps, destination)
            for problem in made.problems:
                log.warning("%s: %s", self.account.email, problem)
            res.folder_problems += made.problems
            res.notes += made.notes
            subscribe(self.dst, maps, destination)
        return maps

    # -- the journal ------------------------------------------------------------------

    def _open_journal(self) -> None:
        if not self.settings.use_journal:
            return
        try:
            self.journal = Journal.open(self.settings.state_dir, self.settings.destination.address,
                                        readonly=self.verify)
        except JournalError as e:  # an accelerator: the comparison alone is still safe
            log.warning("%s: %s", self.account.email, e)
            self.emit(Notice(self.account.email, f"{e}; comparing in full without it"))

    def _folder_journal(self, fmap: FolderMap) -> FolderJournal | None:
        if self.journal is None:
            return None
        fj = self.journal.folder(self.settings.source.address, self.account.email,
                                 fmap.source.name)
        if fj.id is not None:
            self.result.rerun = True
        return fj

    def _statuses(self, maps: list[FolderMap],
                  ) -> tuple[dict[str, FolderStatus], dict[str, FolderStatus]]:
        """Every folder's STATUS on both sides, one round trip each, when the journal
        knows this mailbox. Only a shortcut: when it fails, every folder is listed."""
        if self.journal is None or self.verify or not maps or not self.journal.knows(
                self.settings.source.address, self.account.email):
            return {}, {}
        assert self.src and self.dst
        src, dst = self.src, self.dst
        try:
            return self._both(lambda: status_many(src, [m.source.name for m in maps]),
                              lambda: status_many(dst, [m.destination_name for m in maps
                                                        if m.exists]))
        except (*CONNECTION_ERRORS, imap_exc.IMAPClientError) as e:
            log.info("%s: STATUS of the folders failed (%s); listing every folder",
                     self.account.email, server_words(e))
            self._close()  # the next folder reconnects
            return {}, {}

    # -- one folder -----------------------------------------------------------------------

    def _folder(self, fmap: FolderMap, number: int, count: int,
                src_status: dict[str, FolderStatus], dst_status: dict[str, FolderStatus],
                ) -> None:
        """Copy one folder; a failure is that folder's, unless the connection is gone."""
        display = (fmap.source.display, "/".join(fmap.destination_parts))
        result = FolderResult(*display)
        self.result.folders.append(result)  # counted whatever happens next
        fj = self._folder_journal(fmap)
        src, dst = src_status.get(fmap.source.name), dst_status.get(fmap.destination_name)
        if fj is not None and src is not None and dst is not None and fj.unchanged(
                src, dst, fmap.destination_name):
            result.total = result.already = src.messages
            result.altered_before = fj.altered_count()
            result.unchanged = True
            self.emit(FolderProgress(self.account.email, display[0], number, count,
                                     src.messages, src.messages, 0))
            return
        try:
            self._with_retries(f"folder '{display[0]}'", lambda: self._copy_folder(
                fmap, number, count, result, fj, src), folder=True)
        except (ConnectError, LoginError, StoppedError):
            raise
        except KimtError as e:
            self._folder_failed(result, fj, str(e))
        except imap_exc.IMAPClientError as e:
            self._folder_failed(result, fj, f"server error: {server_words(e)}")
        except Exception as e:  # an answer the IMAP parser chokes on, say
            log.debug("%s: unexpected error in folder %r\n%s", self.account.email,
                      display[0], traceback.format_exc())
            self._folder_failed(result, fj, (
                f"the server sent something KIMT could not understand ({type(e).__name__}: "
                f"{str(e)[:200]}); details in the Debug log"))

    def _folder_failed(self, result: FolderResult, fj: FolderJournal | None,
                       reason: str) -> None:
        result.error = reason
        log.warning("%s: folder %r not finished: %s", self.account.email, result.folder, reason)
        self.emit(Notice(self.account.email, f"folder '{result.folder}' not finished: "
                                             f"{reason}; going on with the next folder"))
        self._close()  # the session may be in any state: the next folder starts afresh
        if fj is not None and not self.verify:
            try:
                fj.incomplete()
            except Exception:  # the journal only speeds up: never let it hide the reason
                log.debug("journal not updated", exc_info=True)

    def _copy_folder(self, fmap: FolderMap, number: int, count: int, result: FolderResult,
                     fj: FolderJournal | None, src_status: FolderStatus | None) -> None:
        assert self.src and self.dst
        display = (result.folder, result.destination)
        email = self.account.email

        def progress(done: int, total: int, nbytes: int) -> None:
            self.emit(FolderProgress(email, display[0], number, count, done, total, nbytes))

        problem = next((p for p in self.result.folder_problems
                        if p.startswith(f"folder '{display[1]}' ")), None)
        if problem or (self.verify and not self._destination_exists(fmap)):
            self._uncopyable_folder(fmap, result, problem)
            return
        FolderCopier(self.src, self.dst, fmap.source.name, fmap.destination_name, display,
                     self.settings.copy, progress, self.should_stop, self.verify,
                     journal=fj, result=result, src_status=src_status).run()

    def _destination_exists(self, fmap: FolderMap) -> bool:
        assert self.dst
        return fmap.exists or bool(self.dst.list_folders("", fmap.destination_name))

    def _uncopyable_folder(self, fmap: FolderMap, result: FolderResult,
                           problem: str | None) -> None:
        """A folder missing on the destination: count its messages as missing."""
        assert self.src
        state = self.src.select_folder(fmap.source.name, readonly=True)
        result.total = int(state.get(b"EXISTS", 0))
        if problem is None:
            self.result.folder_problems.append(
                f"folder '{result.destination}' does not exist on the destination")
