"""The post-migrate script (IceWarp's option; `--post-migrate-script`): the admin's own step
after each mailbox — move groupware data, send a welcome mail.

It runs once for every mailbox that completes in a run (done, or done with
problems; never for one that failed or was stopped), in the main process:
the engine hands each completed result to a `ScriptRunner`, whose threads
run the scripts while the engine goes on reading its workers' events, at
most as many at once as mailboxes are migrated at once. The run waits for
them before it finishes, and a stop at once kills them.

The script is started without a shell, with one argument: the address
(also in `KIMT_EMAIL`). The user's password goes on its standard input (one line) and in
`KIMT_PASSWORD`, never on a command line, where every local user can read
it (IceWarp passed it as a parameter). `KIMT_DESTINATION_PASSWORD` carries
the destination's password when that is another one (the users file's 4th
column, or the one Kerio was given), and `KIMT_RERUN=1` says KIMT's journal
knew the mailbox from an earlier run — a re-run runs the script again, and a
script that must act once (a welcome mail) can tell. No password is in an
outcome, an error text or a log line; what the script prints goes to the
Report through its redactor.

Its exit code and last lines of output (standard output and error together)
go to the mailbox's section of the Report. An exit code other than 0, a
script that can't be started, or one still running at the time limit (its
whole process group is killed) marks the mailbox "done, script failed"; the
run goes on.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from .accounts import Account
from .errors import SettingsError
from .events import DONE, PROBLEMS, SCRIPT_FAILED, MailboxResult, ScriptOutcome

log = logging.getLogger("kimt.script")

DEFAULT_TIMEOUT_MINUTES = 10.0
KEPT_LINES = 20  # of its output, for the Report
LINE_CHARACTERS = 300  # a longer line is cut
POLL_SECONDS = 0.2  # how often a running script is asked whether it ended (or must stop)
COMPLETED = (DONE, PROBLEMS)  # the mailbox states after which the script runs


@dataclass(frozen=True)
class PostMigrateScript:
    path: str
    timeout: float = DEFAULT_TIMEOUT_MINUTES * 60  # seconds


def post_migrate_script(path: str, timeout_minutes: float = DEFAULT_TIMEOUT_MINUTES
                        ) -> PostMigrateScript:
    """The script as a run takes it, checked before anything starts; raises SettingsError."""
    if not 0 < timeout_minutes <= 24 * 60:
        raise SettingsError(f"the post-migrate script's time limit must be more than 0 and at "
                            f"most 1440 minutes, not {timeout_minutes:g}")
    script = Path(path).expanduser()
    if not script.is_file():
        raise SettingsError(f"the post-migrate script {script} "
                            + ("is a folder" if script.is_dir() else "does not exist"))
    if sys.platform != "win32" and not os.access(script, os.X_OK):
        raise SettingsError(f"the post-migrate script {script} is not executable (chmod +x "
                            "it; it is run without a shell, so it needs its #! line)")
    return PostMigrateScript(str(script.resolve()), timeout_minutes * 60)


def _environment(account: Account, rerun: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()  # no admin password rides along
           if not (k.startswith("KIMT_") and k.endswith("_PASS"))}
    env["KIMT_EMAIL"] = account.email  # also the argument
    env["KIMT_PASSWORD"] = account.password
    env.pop("KIMT_DESTINATION_PASSWORD", None)
    if account.destination_password and account.destination_password != account.password:
        env["KIMT_DESTINATION_PASSWORD"] = account.destination_password
    env["KIMT_RERUN"] = "1" if rerun else "0"
    return env


def unsafe_for_cmd(path: str, email: str) -> bool:
    """Would cmd.exe (Windows runs .bat and .cmd files through it, whatever the caller
    asks) take part of this address for a command? Addresses may hold & | ^ % !"""
    return (Path(path).suffix.lower() in (".bat", ".cmd")
            and any(c in email for c in '&|<>^%!"()'))


def _kill(proc: subprocess.Popen) -> None:
    """The script and whatever it started (its own process group / session)."""
    try:
        if sys.platform == "win32":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)],
                           capture_output=True, timeout=10,
                           creationflags=subprocess.CREATE_NO_WINDOW)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


def _read_tail(stream, lines: deque) -> None:
    for raw in iter(lambda: stream.readline(64 * 1024), b""):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        lines.append(text if len(text) <= LINE_CHARACTERS else text[:LINE_CHARACTERS] + "…")
    stream.close()


def run_script(script: PostMigrateScript, account: Account, rerun: bool = False,
               stop: threading.Event | None = None) -> ScriptOutcome:
    """Run the script for one account; its outcome (never raises for the script's faults).

    `stop`, once set, kills a script still running (or keeps it from starting).
    """
    stop = stop or threading.Event()
    outcome = ScriptOutcome(script.path)
    if stop.is_set():
        outcome.problem = "not run: the run was stopped at once"
        return outcome
    if sys.platform == "win32" and unsafe_for_cmd(script.path, account.email):
        outcome.problem = ("not run: the address has characters that cmd.exe, which runs .bat "
                           "and .cmd files, would take as commands; use a program (.exe)")
        return outcome
    started = time.monotonic()
    extra = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW}
             if sys.platform == "win32" else {"start_new_session": True})
    log.debug("post-migrate script for %s: %s", account.email, script.path)
    try:
        proc = subprocess.Popen([script.path, account.email], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=_environment(account, rerun), **extra)
    except OSError as e:
        outcome.problem = f"it could not be started: {e.strerror or e}"
        log.debug("post-migrate script for %s: %s", account.email, outcome.problem)
        return outcome
    lines: deque[str] = deque(maxlen=KEPT_LINES)
    reader = threading.Thread(target=_read_tail, args=(proc.stdout, lines),
                              name="post-migrate-output", daemon=True)
    reader.start()
    try:
        assert proc.stdin is not None
        proc.stdin.write(account.password.encode("utf-8") + b"\n")
        proc.stdin.close()
    except OSError:  # it ended, or closed its input, without reading: its own business
        pass
    deadline = started + script.timeout
    while True:
        try:
            proc.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            if stop.is_set():
                outcome.problem = "stopped with the run (Stop now) before it ended"
            elif time.monotonic() >= deadline:
                outcome.problem = (f"it did not end within the time limit of "
                                   f"{script.timeout / 60:g} min and was stopped")
            else:
                continue
            _kill(proc)
            proc.wait()
            break
    reader.join(timeout=5)  # something it started may hold the output open: not waited for
    outcome.seconds = time.monotonic() - started
    outcome.output = list(lines)
    if not outcome.problem:
        outcome.exit_code = proc.returncode
        if proc.returncode < 0:
            outcome.problem = f"it was killed by signal {-proc.returncode}"
        elif proc.returncode:
            outcome.problem = f"exit code {proc.returncode}"
    log.debug("post-migrate script for %s: %s after %.1f s", account.email,
              outcome.problem or "exit code 0", outcome.seconds)
    return outcome


def with_outcome(result: MailboxResult, outcome: ScriptOutcome) -> MailboxResult:
    """The mailbox's result with its script's outcome; "done, script failed" if it failed."""
    outcome.mail_state = result.state
    return replace(result, script=outcome,
                   state=result.state if outcome.ok else SCRIPT_FAILED)


class ScriptRunner:
    """The post-migrate scripts of one run, `slots` at a time, in threads of the main process.

    The engine calls `start` with each completed result, `finished` to collect
    the results whose script ended, and `wait` at the end of the run.
    """

    def __init__(self, script: PostMigrateScript, accounts: list[Account], slots: int):
        self.script = script
        self._accounts = {a.email: a for a in accounts}
        self._pool = ThreadPoolExecutor(max(1, slots), thread_name_prefix="post-migrate")
        self._running: dict[str, tuple[MailboxResult, Future]] = {}
        self._stop = threading.Event()

    @property
    def pending(self) -> int:
        return len(self._running)

    def start(self, result: MailboxResult) -> None:
        account = self._accounts[result.email]
        future = self._pool.submit(run_script, self.script, account, result.rerun, self._stop)
        self._running[result.email] = (result, future)

    def finished(self) -> list[MailboxResult]:
        """The results whose script ended since the last call, with its outcome."""
        done = [email for email, (_, f) in self._running.items() if f.done()]
        return [self._collect(email) for email in done]

    def wait(self, kill: bool = False) -> list[MailboxResult]:
        """Every result still waiting for its script, once it ended (killed with `kill`)."""
        if kill:
            self._stop.set()
        results = [self._collect(email) for email in list(self._running)]
        self._pool.shutdown(wait=True)
        return results

    def _collect(self, email: str) -> MailboxResult:
        result, future = self._running.pop(email)
        try:
            outcome = future.result()
        except Exception as e:  # KIMT's own fault, not the script's: said, never lost
            log.exception("post-migrate script for %s", email)
            outcome = ScriptOutcome(self.script.path, problem=f"unexpected error: {e}")
        return with_outcome(result, outcome)
