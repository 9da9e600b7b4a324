"""Plain records that cross from the worker processes to the GUI, CLI and logs.

Only dataclasses of str/int/float/list: they are pickled through a
multiprocessing queue, and a GUI renders them without knowing the engine.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

# The mailbox a worker thread works for, which its log lines name. A thread a
# mailbox starts runs in a copy of its context (`contextvars.copy_context().run`).
MAILBOX: ContextVar[str] = ContextVar("kimt_mailbox", default="")

# Mailbox states, as a user sees them. SCRIPT_FAILED: the mail is done (with or without
# problems: `MailboxResult.mail_state`), its post-migrate script failed. RUNNING_SCRIPT is
# shown between the mail's end and the script's (`ScriptStarted`).
WAITING, MIGRATING, DONE, PROBLEMS, FAILED, STOPPED = (
    "waiting", "migrating", "done", "done with problems", "failed", "stopped")
SCRIPT_FAILED, RUNNING_SCRIPT = "done, script failed", "running the script"


@dataclass
class Skipped:
    """One message the Report names: skipped, missing, altered or matched loosely, and why."""

    folder: str
    uid: int
    subject: str
    date: str
    size: int
    reason: str


@dataclass
class FolderResult:
    folder: str  # source, logical
    destination: str  # destination, logical
    total: int = 0
    copied: int = 0
    already: int = 0
    bytes_copied: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    vanished: int = 0  # deleted on the source while KIMT worked
    dropped_flags: set[str] = field(default_factory=set)
    # what a comparison found missing, message by message (MailboxResult.missing counts)
    missing_messages: list[Skipped] = field(default_factory=list)
    # Stored differently by the destination (reason: what differs), found in this run;
    # and how many the journal knew of from earlier runs.
    altered: list[Skipped] = field(default_factory=list)
    altered_before: int = 0
    loose: list[Skipped] = field(default_factory=list)  # matched loosely in this run
    flags_changed: int = 0  # source flag changes carried to the destination
    flags_kept: int = 0  # changed on the source, but the user changed them on the destination
    # deleted on the source since the last run; left on the destination
    source_deleted: list[Skipped] = field(default_factory=list)
    unchanged: bool = False  # nothing changed since the last run: one STATUS each side
    error: str = ""  # why this folder could not be finished
    seconds: float = 0.0
    # Source UIDs appended in this run, so a retried folder counts them as copied, not
    # as already there; emptied before the result leaves the worker.
    copied_uids: set[int] = field(default_factory=set, repr=False)

    @property
    def complete(self) -> bool:
        return (self.copied + self.already + self.vanished >= self.total and not self.skipped
                and not self.error)


@dataclass
class ScriptOutcome:
    """What the post-migrate script did after a mailbox (`script`)."""

    path: str
    exit_code: int | None = None  # None: it did not end by itself (not started, stopped)
    output: list[str] = field(default_factory=list)  # its last lines, stdout and stderr
    seconds: float = 0.0
    problem: str = ""  # why it counts as failed; "" when it exited with 0
    mail_state: str = DONE  # the mailbox's state before the script ran

    @property
    def ok(self) -> bool:
        return not self.problem


@dataclass
class MailboxResult:
    email: str
    state: str = WAITING
    error: str = ""
    folders: list[FolderResult] = field(default_factory=list)
    folder_problems: list[str] = field(default_factory=list)  # folders not created, etc.
    notes: list[str] = field(default_factory=list)  # renames, special-use mapping
    skipped_namespaces: list[str] = field(default_factory=list)
    # source folders not copied, as "'name': reason" (folder choices, a preset's rules)
    folders_left_out: list[str] = field(default_factory=list)
    retries: int = 0
    throttled_seconds: float = 0.0  # waited because a server asked to slow down
    paced_seconds: float = 0.0  # waited for the run's own rate limits
    seconds: float = 0.0
    # What to fix before a re-run can help (a refused login or account); "" when
    # running again is all it takes (a broken connection, a stop).
    advice: str = ""
    rerun: bool = False  # the journal knew this mailbox: a run after an earlier one
    script: ScriptOutcome | None = None  # the post-migrate script's, when it ran
    # Every folder to copy was counted (STATUS) before the first was copied, so `total`
    # is the whole mailbox even when it stopped half-way; False: only what was listed.
    counted: bool = False
    started: bool = True  # False: the run stopped before this mailbox's turn

    @property
    def mail_state(self) -> str:
        """The state of the mail alone (SCRIPT_FAILED is a done mailbox whose script failed)."""
        return self.script.mail_state if self.state == SCRIPT_FAILED and self.script else \
            self.state

    @property
    def total(self) -> int:
        return sum(f.total for f in self.folders)

    @property
    def copied(self) -> int:
        return sum(f.copied for f in self.folders)

    @property
    def already(self) -> int:
        return sum(f.already for f in self.folders)

    @property
    def bytes_copied(self) -> int:
        return sum(f.bytes_copied for f in self.folders)

    @property
    def skipped(self) -> list[Skipped]:
        return [s for f in self.folders for s in f.skipped]

    @property
    def missing(self) -> int:
        """Source messages not (yet) on the destination."""
        return sum(max(0, f.total - f.copied - f.already - f.vanished) for f in self.folders)

    @property
    def altered(self) -> list[Skipped]:
        return [s for f in self.folders for s in f.altered]

    @property
    def altered_total(self) -> int:
        return sum(len(f.altered) + f.altered_before for f in self.folders)

    @property
    def loose(self) -> list[Skipped]:
        return [s for f in self.folders for s in f.loose]

    @property
    def flags_changed(self) -> int:
        return sum(f.flags_changed for f in self.folders)

    @property
    def flags_kept(self) -> int:
        return sum(f.flags_kept for f in self.folders)

    @property
    def source_deleted(self) -> list[Skipped]:
        return [s for f in self.folders for s in f.source_deleted]

    @property
    def failed_folders(self) -> list[FolderResult]:
        return [f for f in self.folders if f.error]


@dataclass
class RunStarted:
    mailboxes: list[str]
    log_dir: str
    mode: str  # "migrate" or "verify"


@dataclass
class MailboxStarted:
    email: str
    pid: int = 0  # the worker that took it
    where: str = ""  # the worker machine that took it (a cluster run)


@dataclass
class ListingFolders:
    """A mailbox is logged in and lists its folders, then counts their messages (seconds
    for a big one, before the first `FolderProgress`)."""

    email: str


@dataclass
class MailboxCounted:
    """The folders a mailbox copies and their messages on the source, counted (STATUS)
    before the first is copied: what its progress and its result are counted against."""

    email: str
    folders: int
    messages: int


@dataclass
class FolderProgress:
    email: str
    folder: str
    folder_number: int  # 1-based
    folder_count: int
    done: int  # messages handled in this folder (copied, already there, or skipped)
    total: int
    bytes_copied: int  # in this folder so far


@dataclass
class Notice:
    """Something the admin should see while it runs (a retry, a dropped flag)."""

    email: str
    text: str


@dataclass
class LogLine:
    """One Debug log line produced in a worker."""

    level: str
    logger: str
    text: str
    email: str = ""


@dataclass
class ScriptStarted:
    """A mailbox's mail is done (`state`); its post-migrate script runs now, and its
    MailboxFinished follows when the script ended."""

    email: str
    state: str


@dataclass
class MailboxFinished:
    result: MailboxResult


# What the Kerio step did to one destination account.
CREATED, EXISTING, REFUSED = "created", "already there", "refused"


@dataclass
class AccountOutcome:
    email: str
    state: str  # CREATED, EXISTING or REFUSED
    reason: str = ""  # Kerio's words, for REFUSED
    password: str | None = field(default=None, repr=False)  # what KIMT set (CREATED)
    generated: bool = False


@dataclass
class DomainOutcome:
    """What the Kerio step did to a domain it was asked to create with its aliases
    (a 4D post office): created, left as it was, or refused."""

    name: str
    state: str  # CREATED, EXISTING or REFUSED
    aliases: list[str] = field(default_factory=list)  # given to it (CREATED)
    reason: str = ""  # Kerio's words (REFUSED); what was left as it was (EXISTING)
    origin: str = ""  # what it stands for: "post office Sales"


@dataclass
class ProvisionResult:
    domains_created: list[str] = field(default_factory=list)
    accounts: list[AccountOutcome] = field(default_factory=list)
    domains: list[DomainOutcome] = field(default_factory=list)  # of the domains asked for
    password_source: str = "the users file"  # where a new user's password came from

    def of(self, email: str) -> AccountOutcome | None:
        return next((a for a in self.accounts if a.email.casefold() == email.casefold()), None)

    @property
    def generated(self) -> dict[str, str]:
        """{address: generated password} of the accounts created with one."""
        return {a.email: a.password for a in self.accounts if a.generated and a.password}

    def without_passwords(self) -> ProvisionResult:
        """The same outcome for a front end: a generated password stays in the Report."""
        return ProvisionResult(list(self.domains_created), [
            AccountOutcome(a.email, a.state, a.reason, None, a.generated)
            for a in self.accounts], list(self.domains), self.password_source)


@dataclass
class RunFinished:
    """The last event: everything a front end shows at the end, nothing to ask the engine."""

    results: list[MailboxResult]
    seconds: float
    stopped: bool
    fatal: str = ""  # the run could not start (destination unreachable, ...)
    report_path: str = ""
    debug_path: str = ""
    log_dir: str = ""
    accounts: ProvisionResult | None = None  # what the Kerio step did (no passwords)


Event = (RunStarted | MailboxStarted | ListingFolders | MailboxCounted | FolderProgress | Notice
         | LogLine | ScriptStarted | MailboxFinished | RunFinished)
