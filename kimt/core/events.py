"""Plain records that cross from the worker processes to the GUI, CLI and logs.

Only dataclasses of str/int/float/list: they are pickled through a
multiprocessing queue, and a GUI renders them without knowing the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .copier import FolderResult, Skipped

# Mailbox states, as a user sees them.
WAITING, MIGRATING, DONE, PROBLEMS, FAILED, STOPPED = (
    "waiting", "migrating", "done", "done with problems", "failed", "stopped")


@dataclass
class MailboxResult:
    email: str
    state: str = WAITING
    error: str = ""
    folders: list[FolderResult] = field(default_factory=list)
    folder_problems: list[str] = field(default_factory=list)  # folders not created, etc.
    notes: list[str] = field(default_factory=list)  # renames, special-use mapping
    skipped_namespaces: list[str] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0
    # What to fix before a re-run can help (a refused login or account); "" when
    # running again is all it takes (a broken connection, a stop).
    advice: str = ""

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


@dataclass
class RunStarted:
    mailboxes: list[str]
    log_dir: str
    mode: str  # "migrate" or "verify"


@dataclass
class MailboxStarted:
    email: str
    pid: int = 0  # the worker that took it


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
class MailboxFinished:
    result: MailboxResult


@dataclass
class RunFinished:
    results: list[MailboxResult]
    seconds: float
    stopped: bool
    fatal: str = ""  # the run could not start (destination unreachable, ...)


Event = (RunStarted | MailboxStarted | FolderProgress | Notice | LogLine | MailboxFinished
         | RunFinished)
