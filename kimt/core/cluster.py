"""One run spread over several computers with Dask distributed (`kimt migrate --cluster`).

The KIMT process the admin starts is the coordinator: it reaches the servers,
writes the one Report and Debug log and shows the progress, as in a local run
(`engine.Engine` given a `Coordinator`). Each mailbox is one Dask task,
`run_mailbox`, which runs the very `MailboxRun` a local worker process runs,
on whichever worker machine the scheduler picks. Its events travel back
through a Dask queue of the run; its result is the task's value.

Why it holds:

- Limits are global: each server's connection cap is a Dask semaphore of
  the run (`DaskSlots`); every connection, on every machine, holds a lease.
- Failure is routine: when a worker dies mid-mailbox the scheduler runs the
  task again on another. A mailbox job is idempotent (what is missing is
  computed afresh from both servers); the journal lives on each worker
  machine, so on another one the key comparison alone prevents duplicates.
  The coordinator writes the move, and why, into that mailbox's Report.
- One writer per mailbox: a task holds a cluster-wide lock of its
  destination mailbox (a Dask semaphore of one), as a local run holds a lock
  file, so a task Dask runs twice at once never copies twice.
- Stop: a Dask event of the run, which each task polls, is its `should_stop`;
  the jobs finish their batch in flight as in a local run.
- Secrets: a task carries its account's passwords, so the cluster must
  speak TLS (`tls://` with `certs.py`'s certificates); plain `tcp://` is
  refused unless the admin insists. A job's repr names its mailbox only, so
  no password reaches the dashboard or a log, and the workers' "kimt" log
  records go to the coordinator's Debug log (through its redactor), never
  to the worker's own log.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from .accounts import Account
from .errors import InputError, SettingsError, StoppedError
from .events import (
    FAILED,
    MAILBOX,
    STOPPED,
    Event,
    LogLine,
    MailboxFinished,
    MailboxResult,
    MailboxStarted,
    Notice,
)
from .journal import default_state_dir
from .mailbox import JobSettings, MailboxRun

log = logging.getLogger("kimt.cluster")

INSTALL_HINT = ("running on a cluster needs Dask's distributed package: "
                "pip install 'kimt[cluster]' (on this computer and on every worker machine)")
STATE_DIR_VARIABLE = "KIMT_CLUSTER_STATE_DIR"  # a worker machine's journal folder
TASK_RETRIES = 2  # an exception outside the mailbox job (the scheduler unreachable, say)
FLUSH_SECONDS = 0.5  # how often a task sends its events and looks at the stop flag


def distributed():
    """The `distributed` module; InputError saying how to install it when missing."""
    try:
        import distributed as dd
    except ImportError:
        if getattr(sys, "frozen", False):  # the downloads leave the extra out (build.spec)
            raise InputError("the downloaded KIMT does not run on a cluster: install it "
                             "with pip instead, " + INSTALL_HINT.split(": ", 1)[1]) from None
        raise InputError(INSTALL_HINT) from None
    return dd


def check_address(address: str, insecure: bool = False) -> str:
    """Raise SettingsError unless `address` may carry passwords; a warning, or ''."""
    scheme, sep, rest = address.partition("://")
    if not sep or not rest:
        raise SettingsError(f"the cluster address {address!r} should look like "
                            "tls://HOST:PORT (the Dask scheduler; 8786 is its usual port)")
    if scheme == "tls":
        return ""
    if scheme == "tcp":
        if not insecure:
            raise SettingsError(
                f"{address}: tcp:// sends every password in plain text to the scheduler and "
                "the workers. Use tls:// with certificates ('kimt cluster-certs DIR'), or "
                "--cluster-insecure on a network you trust entirely")
        return (f"warning: {address} is not encrypted: the users' and admins' passwords "
                "cross the network in plain text (--cluster-insecure)")
    raise SettingsError(f"the cluster address {address!r} must start with tls:// "
                        "(or tcp:// with --cluster-insecure)")


def security(certs: str | None, role: str, address: str):
    """Dask's `Security` for `role` with the certificates in `certs` (None: no TLS)."""
    dd = distributed()
    if not address.startswith("tls://"):
        return dd.Security()
    if not certs:
        raise SettingsError("a tls:// cluster needs the certificates: --cluster-certs DIR "
                            "(made by 'kimt cluster-certs DIR')")
    from .certs import tls_files

    ca, cert, key = (str(p) for p in tls_files(certs, role))
    return dd.Security(tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key,
                       require_encryption=True)


# ----------------------------------------------------------------------------- the task

@dataclass(frozen=True)
class MailboxJob:
    """What one task needs. Its repr, which the dashboard and Dask's logs may show,
    names the mailbox only (the account and settings hold passwords)."""

    account: Account
    settings: JobSettings
    verify: bool
    run: str  # the run's id: names its queue, stop event and semaphores

    def __repr__(self) -> str:
        return f"MailboxJob({self.account.email!r}, run={self.run!r})"

    __str__ = __repr__


def names(run: str) -> dict[str, str]:
    """The names of a run's shared Dask objects."""
    return {"events": f"kimt-{run}-events", "stop": f"kimt-{run}-stop",
            "source": f"kimt-{run}-source-connections",
            "destination": f"kimt-{run}-destination-connections"}


class DaskSlots:
    """The run's connection caps as Dask semaphores, one per capped server role; one
    per worker process and run (`slots_of`), whose leases its mailboxes share."""

    def __init__(self, run: str, caps: dict[str, int | None]):
        dd = distributed()
        self._semaphores = {role: dd.Semaphore(max_leases=cap, name=names(run)[role])
                            for role, cap in caps.items() if cap}

    def take(self, role: str, wait: bool, should_stop: Callable[[], bool]) -> bool:
        semaphore = self._semaphores.get(role)
        if semaphore is None:
            return True
        while True:
            if semaphore.acquire(timeout=1 if wait else 0):
                return True
            if not wait:
                return False
            if should_stop():
                raise StoppedError("stopped by the user")

    def give(self, role: str) -> None:
        semaphore = self._semaphores.get(role)
        if semaphore is not None:
            try:
                semaphore.release()
            except Exception as e:  # the lease times out on the scheduler anyway
                log.debug("connection slot of %s not given back: %s", role, e)


_slots: dict[str, DaskSlots] = {}
_slots_lock = threading.Lock()


def slots_of(run: str, caps: dict[str, int | None]) -> DaskSlots:
    with _slots_lock:
        if run not in _slots:
            _slots[run] = DaskSlots(run, caps)
        return _slots[run]


class _TaskLog(logging.Handler):
    """In a worker process: each "kimt" record goes to the events of the task whose
    mailbox it names (`events.MAILBOX`), never to the worker's own log."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.outboxes: dict[str, list[Event]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        email = MAILBOX.get()
        outbox = self.outboxes.get(email)
        if outbox is not None:
            outbox.append(LogLine(record.levelname, record.name, record.getMessage(), email))


_task_log: _TaskLog | None = None
_task_log_lock = threading.Lock()


def _outbox(email: str) -> list[Event]:
    global _task_log
    with _task_log_lock:
        if _task_log is None:
            _task_log = _TaskLog()
            kimt = logging.getLogger("kimt")
            kimt.addHandler(_task_log)
            kimt.setLevel(logging.DEBUG)
            kimt.propagate = False  # the Dask worker's log shows none of KIMT's lines
        box: list[Event] = []
        _task_log.outboxes[email] = box
        return box


def _drop_outbox(email: str) -> None:
    with _task_log_lock:
        if _task_log is not None:
            _task_log.outboxes.pop(email, None)


def worker_name() -> str:
    """This worker as the Report names it: its Dask name or address, and the host."""
    try:
        worker = distributed().get_worker()
        return f"{worker.name} ({socket.gethostname()}, {worker.address})"
    except ValueError:
        return socket.gethostname()


def _hold_mailbox(dd, settings: JobSettings, email: str, should_stop: Callable[[], bool],
                  emit: Callable[[Event], None]):
    """Hold the destination mailbox for the whole cluster, as a local run holds its lock
    file: a task Dask runs twice at once (a worker it took for lost, still copying) or a
    second coordinator must not copy into it at the same time. A dead worker's hold
    ends with its lease (Dask's lease timeout)."""
    key = hashlib.sha256(f"{settings.destination.address}\0{email.casefold()}".encode())
    lock = dd.Semaphore(max_leases=1, name=f"kimt-mailbox-{key.hexdigest()[:32]}")
    told = False
    while not lock.acquire(timeout=1):
        if should_stop():
            raise StoppedError("stopped by the user")
        if not told:
            emit(Notice(email, "waiting for another worker to let go of this mailbox (one "
                               "that stopped answering holds it until its lease ends)"))
            told = True
    return lock


def run_mailbox(job: MailboxJob) -> MailboxResult:
    """The Dask task: one mailbox, exactly as a local worker process runs it."""
    dd = distributed()
    account, shared = job.account, names(job.run)
    settings = job.settings
    if settings.use_journal:  # this machine's own journal (the coordinator's path is not)
        settings = replace(settings, state_dir=os.environ.get(STATE_DIR_VARIABLE)
                           or str(default_state_dir()))
    events = dd.Queue(shared["events"])
    stop_event = dd.Event(shared["stop"])
    stopped = threading.Event()
    outbox = _outbox(account.email)
    done = threading.Event()

    def flush() -> None:
        if outbox:
            batch = outbox[:]
            del outbox[:len(batch)]
            events.put(pickle.dumps(batch))

    def courier() -> None:
        """Sends the events every FLUSH_SECONDS and watches the run's stop flag."""
        while not done.wait(FLUSH_SECONDS):
            try:
                if stop_event.is_set():
                    stopped.set()
                flush()
            except Exception as e:  # the scheduler is briefly away: next time
                log.debug("events not sent yet: %s", e)

    token = MAILBOX.set(account.email)
    outbox.append(MailboxStarted(account.email, os.getpid(), worker_name()))
    thread = threading.Thread(target=courier, name="kimt-events", daemon=True)
    thread.start()
    held = None
    try:
        if stop_event.is_set():
            return MailboxResult(account.email, STOPPED, "stopped before it started",
                                 started=False)
        if not job.verify:
            held = _hold_mailbox(dd, settings, account.email, stopped.is_set, outbox.append)
        slots = slots_of(job.run, {"source": settings.limits.source_connections,
                                    "destination": settings.limits.destination_connections})
        return MailboxRun(account, settings, outbox.append, stopped.is_set, job.verify,
                          slots=slots).run()
    except StoppedError:
        return MailboxResult(account.email, STOPPED, "stopped before it started",
                                 started=False)
    finally:
        if held is not None:
            try:
                held.release()
            except Exception as e:  # its lease times out on the scheduler
                log.debug("mailbox lock not given back: %s", e)
        done.set()
        thread.join()
        MAILBOX.reset(token)
        try:
            flush()  # before the result: the coordinator shows these first
        except Exception:  # the result matters more than its last lines
            pass
        finally:
            _drop_outbox(account.email)


# ----------------------------------------------------------------------------- coordinator

class Coordinator:
    """The coordinator's side of a cluster run, driven by `engine.Engine`."""

    def __init__(self, address: str, certs: str | None = None, insecure: bool = False,
                 connect_timeout: float = 30.0):
        self.warning = check_address(address, insecure)
        distributed()  # said before anything else is done
        self.address = address
        self.certs = certs
        self.connect_timeout = connect_timeout
        self.run_id = uuid.uuid4().hex[:12]
        self.client = None
        self.workers: list[str] = []
        self._security = security(certs, "coordinator", address)

    def describe(self) -> str:
        """The Report header's line."""
        workers = (f"{len(self.workers)} worker{'' if len(self.workers) == 1 else 's'} "
                   "when it started" if self.client else "")
        return (f"Cluster: the Dask scheduler at {self.address}"
                + (f", {workers}" if workers else "")
                + "; each mailbox runs on one worker machine")

    def start(self, caps: dict[str, int | None]) -> str:
        """Connect to the scheduler and make the run's shared objects; '' or what failed."""
        dd = distributed()
        try:
            self.client = dd.Client(self.address, security=self._security,
                                    timeout=self.connect_timeout, set_as_default=False)
            info = self.client.scheduler_info()
            self.workers = sorted(w.get("name") or a for a, w in info["workers"].items())
            shared = names(self.run_id)
            self._events = dd.Queue(shared["events"], client=self.client)
            self._stop = dd.Event(shared["stop"], client=self.client)
            # Registered here first, so that the cap (and the lease timeout, from this
            # computer's Dask configuration) is this run's wherever a task takes a lease.
            self._semaphores = [dd.Semaphore(max_leases=cap, name=shared[role],
                                             scheduler_rpc=self.client.scheduler,
                                             loop=self.client.loop)
                                for role, cap in caps.items() if cap]
            for semaphore in self._semaphores:
                semaphore.register()
        except Exception as e:  # OSError, TimeoutError, a TLS refusal
            self.close()
            return (f"cannot reach the Dask scheduler at {self.address} ({type(e).__name__}: "
                    f"{e}); check the address, the certificates and that its port is open")
        if not self.workers:
            log.warning("no Dask worker is connected yet: the mailboxes wait for one")
        log.info("cluster %s: workers (%d): %s", self.address, len(self.workers),
                 ", ".join(map(str, self.workers)))
        return ""

    def run(self, accounts: list[Account], settings: JobSettings, verify: bool,
            emit: Callable[[Event], None], stopping: Callable[[], bool],
            hard_stop: Callable[[], bool]) -> dict[str, MailboxResult]:
        """Every account as one task; the results of those that finished."""
        assert self.client is not None
        futures = {}
        for n, account in enumerate(accounts, 1):
            job = MailboxJob(account, settings, verify, self.run_id)
            future = self.client.submit(run_mailbox, job, key=f"kimt-mailbox-{self.run_id}-{n}",
                                        retries=TASK_RETRIES, pure=False)
            futures[future] = account.email
        results: dict[str, MailboxResult] = {}
        where: dict[str, str] = {}  # mailbox -> the worker running it
        moves: dict[str, list[str]] = {}
        stop_sent = False
        pending = set(futures)

        def deliver() -> None:
            for blob in self._events.get(batch=True):
                for event in pickle.loads(blob):
                    if isinstance(event, MailboxStarted):
                        before = where.get(event.email)
                        where[event.email] = event.where
                        if before is not None and event.email not in results:
                            why = (f"moved from worker {before} to {event.where}: the first "
                                   "stopped answering in the middle of this mailbox (its "
                                   "machine or process ended), so Dask ran the mailbox "
                                   "again; that run compared both servers afresh, so "
                                   "nothing was copied twice")
                            moves.setdefault(event.email, []).append(why)
                            emit(Notice(event.email, why))
                            continue
                    emit(event)

        while pending:
            if stopping() and not stop_sent:
                self._stop.set()  # the running jobs end after their batch in flight
                stop_sent = True
                waiting = [f for f in pending if futures[f] not in where]
                self.client.cancel(waiting)  # reported as stopped by the engine
                pending.difference_update(waiting)
            if hard_stop():
                self.client.cancel(list(pending))
                break
            deliver()
            done = {f for f in pending if f.done()}
            if not done:
                time.sleep(0.2)
                continue
            deliver()  # a task sent its last events before its result
            for future in done:
                pending.discard(future)
                email = futures[future]
                if future.cancelled():
                    continue
                try:
                    result = future.result()
                except Exception as e:  # retries used up, the task lost too often
                    reason = (f"the cluster could not run this mailbox ({type(e).__name__}: "
                              f"{e})")
                    result = MailboxResult(email, FAILED, reason)
                result.notes[:0] = moves.get(email, [])
                results[email] = result
                emit(MailboxFinished(result))
        return results

    def close(self) -> None:
        if self.client is not None:
            try:
                for semaphore in getattr(self, "_semaphores", []):
                    semaphore.close()  # the scheduler forgets the run's caps
                self._semaphores = []
                self.client.close(timeout=10)
            except Exception:
                pass
            self.client = None

