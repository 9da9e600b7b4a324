"""What runs inside a worker process: mailboxes taken from a queue, events sent back.

A worker is started by `engine.Engine` (from the fork server on Linux, spawned
elsewhere) and knows nothing of the run around it: it takes (account,
settings) jobs from a queue, runs each in a `mailbox.MailboxRun` on one of its
threads, and sends back only `events` records - its log lines too, each with
the mailbox its thread works for - a batch at a time (`_Outbox`). It is a
module of its own so that a worker, and the fork server that preloads it,
import what copying needs and not the main process's preflight, account
creation or scripts. It watches its parent and exits at once when the parent
is gone, so no orphan goes on copying.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time

from .accounts import Account
from .events import (
    DAY_OVER,
    MAILBOX,
    STOPPED,
    Event,
    LogLine,
    MailboxFinished,
    MailboxResult,
    MailboxStarted,
)
from .mailbox import JobSettings, MailboxRun
from .pacing import RunPacing

log = logging.getLogger("kimt.worker")


class _Outbox:
    """The worker's end of the events queue, sending events in batches.

    A multiprocessing queue pickles each object in a thread of its own and writes it
    to a pipe, which wakes that thread and the main process once per object: with a
    Debug log line for every batch of every folder, that was a good part of a worker's
    CPU beside the copying. Events wait here at most `DELAY` seconds and go as one
    list; a mailbox's start and end go at once, with what waited before them, so the
    order never changes."""

    DELAY = 0.1
    MOST = 200  # events sent together at the most

    def __init__(self, events: multiprocessing.Queue):
        self.events = events
        self.pending: list[Event] = []
        self.lock = threading.Lock()
        self.waiting = threading.Event()  # something is pending
        threading.Thread(target=self._send_late, name="outbox", daemon=True).start()

    def put(self, event: Event) -> None:
        with self.lock:
            self.pending.append(event)
            if isinstance(event, (MailboxStarted, MailboxFinished)) or (
                    len(self.pending) >= self.MOST):
                self._send()
            else:
                self.waiting.set()

    def flush(self) -> None:
        with self.lock:
            self._send()

    def _send(self) -> None:
        if self.pending:
            self.events.put(self.pending)
            self.pending = []

    def _send_late(self) -> None:
        while True:
            self.waiting.wait()
            time.sleep(self.DELAY)
            with self.lock:
                self.waiting.clear()
                self._send()


class _EventLogHandler(logging.Handler):
    """In a worker: turns log records into LogLine events for the main process, each
    with the mailbox its thread works for (`events.MAILBOX`, carried into the threads
    a mailbox starts)."""

    def __init__(self, events: _Outbox):
        super().__init__(logging.DEBUG)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.events.put(LogLine(record.levelname, record.name, record.getMessage(),
                                    MAILBOX.get()))
        except Exception:
            pass


def _watch_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(70)  # the main process is gone: stop copying now

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _peak_memory_mb() -> int | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform != "darwin" else peak // 2**20


def worker_main(jobs: multiprocessing.Queue, events: multiprocessing.Queue,
                 stop: multiprocessing.Event, verify: bool, mailboxes: int = 1,
                 pacing: RunPacing | None = None) -> None:
    """A worker process: `mailboxes` threads, each taking (account, settings) jobs from
    the queue until it meets a None. The settings come with each job, not with the
    process: workers start while the preflight still decides them (security 'auto')."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the main process's to handle
    _watch_parent()
    _tune_malloc()
    outbox = _Outbox(events)
    handler = _EventLogHandler(outbox)
    root = logging.getLogger("kimt")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    others = [threading.Thread(target=_mailboxes, name=f"mailbox-{n}",
                               args=(jobs, outbox, stop, verify, pacing))
              for n in range(1, mailboxes)]
    try:
        for t in others:
            t.start()
        _mailboxes(jobs, outbox, stop, verify, pacing)
        for t in others:
            t.join()
    finally:
        outbox.flush()


def _tune_malloc() -> None:
    """glibc gives each thread that allocates its own heap arena, and a message body
    freed in one stays there: a worker's lanes and prefetch threads held four times the
    bytes in flight. Two arenas, and bodies over 256 KB in mappings returned at once."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
        libc.mallopt(-3, 256 * 1024)  # M_MMAP_THRESHOLD (fixed: no dynamic raising)
    except (OSError, AttributeError):  # not glibc (musl): nothing to tune
        pass


def _mailboxes(jobs: multiprocessing.Queue, events: _Outbox,
               stop: multiprocessing.Event, verify: bool,
               pacing: RunPacing | None = None) -> None:
    while True:
        job: tuple[Account, JobSettings] | None = jobs.get()
        if job is None:
            break
        account, settings = job
        MAILBOX.set(account.email)
        events.put(MailboxStarted(account.email, os.getpid()))
        if stop.is_set():
            result = MailboxResult(account.email, STOPPED, "stopped before it started",
                                   started=False)
        elif pacing is not None and pacing.day.until is not None:
            result = MailboxResult(account.email, DAY_OVER, (
                "not started: another mailbox reached the daily limit of the admin login "
                "they share"), resume_at=pacing.day.until, started=False)
        else:
            result = MailboxRun(account, settings, events.put, stop.is_set, verify,
                                pacing=pacing).run()
        peak = _peak_memory_mb()
        if peak is not None:
            log.debug("worker peak memory %d MB", peak)
        events.put(MailboxFinished(result))
        MAILBOX.set("")
