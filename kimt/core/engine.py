"""The run: a pool of worker processes, each copying a few mailboxes at a time.

Workers are started while the servers are first reached, so their start costs
no time of its own: on Linux from a fork server that imported the worker's
module (`worker`) once (a worker is ready in milliseconds, which a re-run with
nothing to copy notices), elsewhere with the spawn method. They receive
accounts through a queue, never on a command line. What runs inside one is
`worker`. A process runs as many mailboxes side by side (threads) as the run
asks for divided by the number of processes, which is at most half the
computer's cores: on a 2-core machine the two servers of a test need the other
core, and every extra Python process costs some 25 MB, which four workers made
most of KIMT's memory. They send back only `events` records. Each worker
watches its parent and exits at once if the parent dies, so no orphan goes on
copying; a worker that dies itself fails its mailbox and is replaced. Stop is
cooperative: the workers finish the batch in flight, mark their mailbox
stopped, and report every account not yet started as stopped. The connection
permits a dead worker held are given back here (`pacing`). A completed
mailbox's post-migrate script runs here, in the main process, in a thread
(`script.ScriptRunner`) so that events keep flowing; that mailbox's
MailboxFinished waits for its script, and the run for all of them. The GUI and
the CLI both call `Engine.run` with a callback; neither has its own way to
migrate. Given a `cluster.Coordinator`, the same run sends its mailboxes to
Dask workers on other computers instead of starting processes here; everything
else (preflight, events, logs, stop) is this module's.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..system.workers import worker_context
from .accounts import Account
from .detect import Detected, detect
from .errors import ConnectError, KimtError, LoginError
from .events import (
    FAILED,
    STOPPED,
    Event,
    MailboxFinished,
    MailboxResult,
    MailboxStarted,
    RunFinished,
    RunStarted,
    ScriptStarted,
)
from .journal import default_state_dir, journal_path
from .logs import Redactor, RunLogs
from .mailbox import JobSettings
from .pacing import RunPacing
from .presets import PRESETS
from .provision import REFUSED, KerioProvisioning, ProvisionResult, provision, report_section
from .report import describe_server, plural
from .script import COMPLETED as SCRIPT_AFTER
from .script import PostMigrateScript, ScriptRunner
from .servers import AUTO, ServerConfig, connect, open_connection
from .worker import worker_main

if TYPE_CHECKING:
    from .cluster import Coordinator

log = logging.getLogger("kimt.engine")

MAX_ADMIN_PROBES = 3  # accounts tried before deciding the destination admin login is wrong


def worker_processes() -> int:
    """How many worker processes a run may start: half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass
class RunRequest:
    accounts: list[Account]
    settings: JobSettings
    workers: int = 4
    verify: bool = False  # compare only (`kimt verify`)
    log_base: str | None = None
    users_file: str = ""
    provision: KerioProvisioning | None = None  # create destination accounts first (Kerio)
    post_migrate: PostMigrateScript | None = None  # run after each completed mailbox



class Engine:
    """Runs one request; `stop()` may be called from any thread."""

    def __init__(self, request: RunRequest, on_event: Callable[[Event], None],
                 cluster: Coordinator | None = None):
        s = request.settings
        if s.use_journal and s.state_dir is None:
            # Resolved here, in the process the user started: a worker's environment is
            # the fork server's, which may have started under other settings.
            request = replace(request, settings=replace(s, state_dir=str(default_state_dir())))
        self.request = request
        self.on_event = on_event
        self._ctx = worker_context()
        self._jobs: multiprocessing.Queue | None = None
        self._events: multiprocessing.Queue | None = None
        self._workers: list = []
        self._per_process = 1  # mailboxes each worker process copies side by side
        self._stop = self._ctx.Event()
        # The run's rates and connection caps, shared by every worker (a Process argument).
        self._pacing = RunPacing.create(request.settings.limits, self._ctx)
        self._hard_stop = threading.Event()
        self.logs: RunLogs | None = None
        self.provisioned: ProvisionResult | None = None  # what the Kerio step did
        self._detected: dict[str, Detected] = {}  # role -> security decided ('auto')
        self.cluster = cluster  # the mailboxes run on Dask workers (`kimt migrate --cluster`)
        self._cluster_problem = ""  # why the cluster could not be reached
        self._fatal_server = ""  # the server a failed preflight was about (RunFinished.fix_on)

    def stop(self) -> None:
        """Finish the batch in flight everywhere, then stop."""
        self._stop.set()

    def stop_now(self) -> None:
        """Stop at once: workers are terminated (a re-run still finishes the job)."""
        self._stop.set()
        self._hard_stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _emit(self, event: Event) -> None:
        if self.logs is not None:
            self.logs.handle(event)
        self.on_event(event)

    def _header(self) -> str:
        r = self.request
        s = r.settings
        lines = [
            f"Source: {describe_server(s.source)}",
            f"Destination: {describe_server(s.destination)}",
            f"Users file: {r.users_file or '-'}; selected mailboxes: {len(r.accounts)}",
            self.cluster.describe() if self.cluster else f"Workers: {r.workers}",
            f"Migration journal: {self._journal_words()}",
        ] + self._kinds() + s.folders.describe() + s.limits.describe() + (
            [f"Public folders of the source: copied into {s.public_into} under "
             "'Public Folders/'"] if s.public_into else [])
        if r.provision and not r.verify:
            lines.append(
                f"Destination accounts: created if missing through the Kerio admin API at "
                f"{r.provision.admin.address} as {r.provision.admin.user}; new users get "
                + ("a generated password" if r.provision.generate_passwords
                   else "the password from the users file"))
        if r.post_migrate and not r.verify:
            lines.append(
                f"Post-migrate script: {r.post_migrate.path}, after each mailbox that "
                f"completes (time limit {r.post_migrate.timeout / 60:g} min): the address as "
                "its argument, the password on its standard input and in KIMT_PASSWORD")
        return "\n".join(lines)

    def _kinds(self) -> list[str]:
        kinds = self.request.settings.kinds
        if kinds == ("generic", "generic"):
            return []
        return [f"Server kinds: source {PRESETS[kinds[0]].title}, destination "
                f"{PRESETS[kinds[1]].title} (their figures and folder rules: see "
                "docs/providers.md)"]

    def _where(self) -> dict:
        """RunFinished's logs and account outcome: a front end asks the engine nothing."""
        assert self.logs is not None
        return {"report_path": str(self.logs.report_path),
                "debug_path": str(self.logs.debug_path), "log_dir": str(self.logs.dir),
                "accounts": self.provisioned.without_passwords() if self.provisioned else None}

    def _journal_words(self) -> str:
        s = self.request.settings
        if not s.use_journal:
            return "not used"
        if self.cluster:
            return ("on each worker machine, in its own state folder (KIMT's memory of what "
                    "it put where; a machine without it compares message keys in full, which "
                    "alone prevents duplicates)")
        if s.destination.security == AUTO:  # it is named after the address detected
            return "named below, once the destination's security is detected"
        path = journal_path(s.state_dir, s.destination.address)
        return (f"{path} (KIMT's memory of what it put where; deleting it is safe: the next "
                "run compares in full)")

    def run(self) -> RunFinished:
        r = self.request
        secrets = [a.password for a in r.accounts] + [a.destination_password for a in r.accounts]
        secrets += [r.settings.source.master_password, r.settings.destination.master_password]
        if r.provision:
            secrets.append(r.provision.admin.password)
        self.logs = RunLogs(r.log_base, Redactor(secrets), self._header(), r.verify)
        started = time.monotonic()
        try:
            self._emit(RunStarted([a.email for a in r.accounts], str(self.logs.dir),
                                  "verify" if r.verify else "migrate"))
            # Starting the workers waits for the fork server's imports: meanwhile the
            # preflight reaches the servers.
            starting = threading.Thread(target=self._start_workers, name="start-workers")
            starting.start()
            fatal = self._preflight()
            starting.join()
            server = self._fatal_server if fatal else ""
            fatal = fatal or self._cluster_problem
            if fatal:
                self._dismiss_workers()
                log.error("%s", fatal)
                finished = RunFinished([], time.monotonic() - started, False, fatal,
                                       fix_on=server, **self._where())
            else:
                results = self._with_refused(self._run_workers())
                self.logs.amend_header([f"Limits lowered during the run: {line}"
                                        for line in self._pacing.lowered()])
                finished = RunFinished(results, time.monotonic() - started,
                                       self._stop.is_set(), **self._where())
            self._emit(finished)
            return finished
        finally:
            self.logs.close()

    def _preflight(self) -> str:
        """Reach both servers and prove the destination admin login; '' when fine.

        The source is reached while the destination is checked. Where the admin
        login is tried anyway, it is the destination's reachability test too (one
        connection less); with Kerio's account creation the destination is reached
        first, so that no account is created for a server KIMT can't copy to.
        """
        s, r = self.request.settings, self.request
        admin_login = s.destination.auth in ("master", "kerio-master") and bool(r.accounts)
        provisioning = bool(r.provision) and not r.verify
        # (with security 'auto', the admin login waits for the destination's detection)
        admin_first = admin_login and not provisioning and s.destination.security != AUTO
        with ThreadPoolExecutor(1, thread_name_prefix="preflight") as side:
            source = side.submit(self._reach, s.source)
            destination = self._admin_login() if admin_first else self._reach(s.destination)
            fatal = source.result() or destination
        # whose settings to look at: every later check is the destination's
        self._fatal_server = "source" if source.result() else "destination"
        if fatal:
            return fatal
        self._use_detected()
        if not provisioning:
            return self._admin_login() if admin_login and not admin_first else ""
        fatal = self._provision()
        if fatal or not self.request.accounts or not admin_login:
            return fatal
        return self._admin_login()

    def _reach(self, config: ServerConfig) -> str:
        """Reach a server, no login; '' when fine. Security 'auto' is decided here."""
        try:
            if config.security == AUTO:
                self._detected[config.role] = detect(config)
            else:
                open_connection(config).logout()
        except KimtError as e:
            return f"cannot reach the {config.role} server: {e}"
        return ""

    def _use_detected(self) -> None:
        """Hand the workers the security the preflight detected; the Report says which."""
        if not self._detected:
            return
        found = self._detected
        settings = replace(self.request.settings,
                           **{role: d.config for role, d in found.items()})
        self.request = replace(self.request, settings=settings)
        lines = [f"{role.capitalize()} security: {d.words()}"
                 for role, d in sorted(found.items(), reverse=True)]  # source first
        if "destination" in found:
            lines.append(f"Migration journal: {self._journal_words()}")
        assert self.logs is not None
        self.logs.write_report("\n".join(lines) + "\n")

    def _admin_login(self) -> str:
        """Log in as the destination admin for the first accounts; '' when it works."""
        s = self.request.settings
        errors = []
        for account in self.request.accounts[:MAX_ADMIN_PROBES]:
            try:
                connect(s.destination, account.email).close()
                return ""
            except LoginError as e:
                errors.append(str(e))
            except ConnectError as e:
                return f"cannot reach the destination server: {e}"
        # quoted as Test connection quotes it: "the admin login admin" reads as a typo
        admin = (f'"{s.destination.master_user}"' if s.destination.master_user
                 else "(Kerio master authentication)")
        return (f"the destination refused the admin login {admin} for "
                f"{plural(len(errors), 'mailbox', 'mailboxes')} ({errors[0]}); check the "
                "admin name and "
                "password (and that the accounts exist there). Nothing was copied.")

    # -- destination accounts (Kerio Connect) ---------------------------------------------

    def _provision(self) -> str:
        """Create the missing accounts; '' when the run can go on.

        Users Kerio refused are failed here and left out of the workers' jobs;
        the ones created get the password KIMT set as their `destination_password`
        (it reaches the workers through the job queue, never a command line).
        Generated passwords are added to the redactor before anything can log
        them, and written in full only into the Report's account section.
        """
        r = self.request
        assert r.provision is not None and self.logs is not None
        try:
            outcome: ProvisionResult = provision(r.provision, r.accounts)
        except KimtError as e:
            return f"cannot create the destination accounts: {e}. Nothing was copied."
        self.provisioned = outcome
        generated = list(outcome.generated.values())
        self.logs.redact.add(generated)
        self.logs.write_report("\n" + report_section(outcome), keep=generated)
        keep: list[Account] = []
        self._refused: list[MailboxResult] = []
        for account in r.accounts:
            o = outcome.of(account.email)
            if o is not None and o.state == REFUSED:
                result = MailboxResult(account.email, FAILED, o.reason, advice=(
                    "Fix this in Kerio Connect or in the users file, then run again."))
                self._refused.append(result)
                self._emit(MailboxFinished(result))
                continue
            if o is not None and o.password is not None:
                account = replace(account, destination_password=o.password)
            keep.append(account)
        self.request = replace(r, accounts=keep)  # the caller's request stays as it was
        self._order = [a.email for a in r.accounts]
        return ""

    def _with_refused(self, results: list[MailboxResult]) -> list[MailboxResult]:
        """The workers' results plus the users provisioning refused, in file order."""
        refused = getattr(self, "_refused", [])
        if not refused:
            return results
        by_email = {x.email: x for x in results + refused}
        return [by_email[e] for e in self._order if e in by_email]

    def _start_worker(self):
        p = self._ctx.Process(target=worker_main, name="kimt-worker", daemon=True,
                              args=(self._jobs, self._events, self._stop,
                                    self.request.verify, self._per_process, self._pacing))
        p.start()
        return p

    def _start_workers(self) -> None:
        """The workers start now and wait for accounts (the preflight runs meanwhile)."""
        r = self.request
        if self.cluster is not None:
            limits = r.settings.limits
            self._cluster_problem = self.cluster.start(
                {"source": limits.source_connections,
                 "destination": limits.destination_connections})
            return
        self._jobs, self._events = self._ctx.Queue(), self._ctx.Queue()
        count = max(1, min(r.workers, len(r.accounts)))
        processes = min(count, worker_processes())
        self._per_process = -(-count // processes)  # rounded up
        self._workers = [self._start_worker() for _ in range(processes)]

    def _dismiss_workers(self) -> None:
        if self.cluster is not None:
            self.cluster.close()
            return
        assert self._jobs is not None
        for _ in range(len(self._workers) * self._per_process):
            self._jobs.put(None)
        for p in self._workers:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()

    def _run_cluster(self) -> list[MailboxResult]:
        r = self.request
        assert self.cluster is not None
        try:
            results = self.cluster.run(r.accounts, r.settings, r.verify, self._emit,
                                       self._stop.is_set, self._hard_stop.is_set)
        finally:
            self.cluster.close()
        return self._left_over([a.email for a in r.accounts], results, {})

    def _run_workers(self) -> list[MailboxResult]:
        if self.cluster is not None:
            return self._run_cluster()
        r = self.request
        jobs, events = self._jobs, self._events
        assert jobs is not None and events is not None
        for account in r.accounts:
            jobs.put((account, r.settings))
        start_worker = self._start_worker
        workers = self._workers
        for _ in range(len(workers) * self._per_process):
            jobs.put(None)
        results: dict[str, MailboxResult] = {}
        in_flight: dict[int, list[str]] = {}  # worker pid -> its mailboxes
        order = [a.email for a in r.accounts]
        # A completed mailbox's result waits for its post-migrate script (in a thread here).
        scripts = (ScriptRunner(r.post_migrate, r.accounts, r.workers)
                   if r.post_migrate and not r.verify else None)

        def finish_scripts(finished: list[MailboxResult]) -> None:
            for result in finished:
                results[result.email] = result
                self._emit(MailboxFinished(result))

        try:
            while len(results) < len(order):
                if self._hard_stop.is_set():
                    break
                if scripts:
                    finish_scripts(scripts.finished())
                    if len(results) == len(order):
                        break
                try:
                    batch: list[Event] = events.get(timeout=0.2)  # a worker's `_Outbox`
                except queue.Empty:
                    workers = self._reap(workers, in_flight, results, start_worker, jobs)
                    if (not any(p.is_alive() for p in workers) and events.empty()
                            and not (scripts and scripts.pending)):
                        break
                    continue
                for event in batch:
                    self._take(event, in_flight, results, scripts)
        finally:
            hard = self._hard_stop.is_set()
            for p in workers:
                if hard:
                    p.terminate()
                p.join(timeout=None if not hard else 5)
                if p.is_alive():
                    p.kill()
            if scripts:  # waited for (killed when stopping at once)
                finish_scripts(scripts.wait(kill=hard or sys.exc_info()[0] is not None))
        return self._left_over(order, results, in_flight)

    def _take(self, event: Event, in_flight: dict[int, list[str]],
              results: dict[str, MailboxResult], scripts: ScriptRunner | None) -> None:
        """One event from a worker: who works on what, results, then the front end."""
        if isinstance(event, MailboxStarted):
            in_flight.setdefault(event.pid, []).append(event.email)
        elif isinstance(event, MailboxFinished):
            for emails in in_flight.values():
                if event.result.email in emails:
                    emails.remove(event.result.email)
            if scripts and event.result.state in SCRIPT_AFTER:
                scripts.start(event.result)
                event = ScriptStarted(event.result.email, event.result.state)
            else:
                results[event.result.email] = event.result
        self._emit(event)

    def _left_over(self, order: list[str], results: dict[str, MailboxResult],
                   in_flight: dict[int, list[str]]) -> list[MailboxResult]:
        """Every mailbox's result in file order: those without one stopped or failed."""
        for email in order:
            if email not in results:
                state, why = (STOPPED, "stopped by the user") if self._stop.is_set() else (
                    FAILED, "not processed (the worker stopped unexpectedly)")
                taken = any(email in emails for emails in in_flight.values())
                if taken and not self._stop.is_set():
                    why = "the worker process stopped unexpectedly"
                elif taken:  # stopped at once: its worker ended before its result was sent
                    why = "stopped at once while it was being copied"
                if self.cluster is not None and not self._stop.is_set():
                    why = "not finished: the Dask scheduler lost it (it stopped answering)"
                results[email] = MailboxResult(email, state, why,
                                               started=taken or state != STOPPED)
                self._emit(MailboxFinished(results[email]))
        return [results[e] for e in order]

    def _reap(self, workers, in_flight, results, start_worker, jobs):
        """Fail the mailbox of a worker that died, and replace the worker."""
        alive = []
        for p in workers:
            if p.is_alive() or p.exitcode == 0:
                alive.append(p)
                continue
            for email in in_flight.pop(p.pid, []):
                if email not in results:
                    result = MailboxResult(email, FAILED,
                                           f"the worker process stopped unexpectedly "
                                           f"(exit code {p.exitcode})")
                    results[email] = result
                    self._emit(MailboxFinished(result))
            log.error("worker %s died with exit code %s", p.pid, p.exitcode)
            freed = self._pacing.reclaim(p.pid)
            if freed:  # it could not give them back: the others would wait for them
                log.info("%s of worker %s free again", plural(freed, "connection permit"),
                         p.pid)
            if len(results) < len(self.request.accounts):
                for _ in range(self._per_process):  # its stop marks were maybe unused
                    jobs.put(None)
                alive.append(start_worker())
        return [p for p in alive if p.is_alive() or p.exitcode is None]
