"""The run folder with its two logs: `report.log` for the admin, `debug.log` for support.

Both files are created owner-only (the Report holds the destination
passwords KIMT generated, in one section written with `keep=`: the one
place where the redactor lets those secrets through). The Report is written
as the run goes — settings first, a section as each mailbox finishes,
totals last — so a killed run still leaves what it did. Every line of both
passes through a `Redactor` that knows every password of the run: a safety
net behind the rule that no code formats a password in the first place.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from .. import __version__
from ..system.paths import new_run_dir
from . import report
from .errors import InputError
from .events import (
    Event,
    LogLine,
    MailboxFinished,
    MailboxStarted,
    Notice,
    RunFinished,
    RunStarted,
    ScriptStarted,
)

MASK = "•••"


class Redactor:
    """Replaces any known secret in a text with •••."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str | None]) -> None:
        """Learn secrets made during the run (generated destination passwords)."""
        # Longest first, so a password containing another is masked whole.
        known = set(self._secrets) | {s for s in secrets if s and len(s) >= 3}
        self._secrets = sorted(known, key=len, reverse=True)

    def __call__(self, text: str, keep: Iterable[str] = ()) -> str:
        """`text` with every secret masked, except those in `keep` (see RunLogs)."""
        kept = set(keep)
        for s in self._secrets:
            if s in text and s not in kept:
                text = text.replace(s, MASK)
        return text


def open_private(path: Path) -> IO[str]:
    """Create a new text file readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


def log_file_problem(path: str | os.PathLike) -> str | None:
    """Why a copy of the Report can't go to `path` (`--log-file`), checked before a run."""
    target = Path(path)
    if target.is_dir():
        return f"{target} is a folder: name the file the copy of the Report should be"
    if not target.parent.is_dir():
        return f"the folder {target.parent} does not exist"
    if not os.access(target.parent, os.W_OK):
        return f"the folder {target.parent} can't be written to"
    return None


def copy_report(report_path: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """A copy of the Report where the admin wants one (`--log-file`, the wizard's Save a copy).

    Readable by its owner alone, like the Report itself: it may hold the destination
    passwords KIMT generated. A file already there is replaced; written beside it first,
    so a copy that fails half-way leaves the old one. Raises InputError naming the place.
    """
    target = Path(destination)
    problem = log_file_problem(target)
    if problem:
        raise InputError(f"cannot copy the Report log: {problem}")
    partial = target.with_name(f".{target.name}.kimt-partial")
    try:
        data = Path(report_path).read_bytes()
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(partial, target)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise InputError(f"cannot copy the Report log to {target}: "
                         f"{e.strerror or e}") from None
    return target


class _DebugHandler(logging.Handler):
    def __init__(self, logs: RunLogs):
        super().__init__(logging.DEBUG)
        self.logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.logs.debug(record.levelname, record.name, record.getMessage())
        except Exception:
            self.handleError(record)


class RunLogs:
    """Owns one run folder; fed with every event of the run."""

    def __init__(self, base: str | os.PathLike | None, redact: Redactor, header: str,
                 verify: bool = False):
        self.dir = new_run_dir(base)
        self.report_path = self.dir / "report.log"
        self.debug_path = self.dir / "debug.log"
        self.redact = redact
        self.verify = verify
        self._report = open_private(self.report_path)
        self._debug = open_private(self.debug_path)
        self._handler = _DebugHandler(self)
        logging.getLogger("kimt").addHandler(self._handler)
        logging.getLogger("kimt").setLevel(logging.DEBUG)
        title = "comparison" if verify else "migration"
        self.write_report(f"KIMT {__version__} — {title} report\n"
                          f"Started: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n{header}\n")
        self._header_end = self._report.tell()

    def amend_header(self, lines: list[str]) -> None:
        """Add lines to the header once the run knows them (a connection cap a server
        made lower): the Report is rewritten beside itself, then put in its place."""
        if not lines:
            return
        self._report.close()
        data = self.report_path.read_bytes()
        added = self.redact("".join(f"{line}\n" for line in lines)).encode("utf-8")
        partial = self.report_path.with_name(".report.log.kimt-partial")
        partial.unlink(missing_ok=True)
        with open_private(partial) as f:
            f.buffer.write(data[:self._header_end] + added + data[self._header_end:])
        os.replace(partial, self.report_path)
        self._report = open(self.report_path, "a", encoding="utf-8", newline="\n")

    def write_report(self, text: str, keep: Iterable[str] = ()) -> None:
        """Append to the Report, secrets masked; `keep` names the ones this text may show
        (only the generated passwords, in their own section; they stay masked elsewhere)."""
        self._report.write(self.redact(text, keep))
        self._report.flush()

    def debug(self, level: str, name: str, text: str, email: str = "") -> None:
        stamp = time.strftime("%H:%M:%S")
        who = f" [{email}]" if email else ""
        self._debug.write(self.redact(f"{stamp} {level:<7} {name}{who}: {text}\n"))
        self._debug.flush()

    def handle(self, event: Event) -> None:
        match event:
            case LogLine(level=level, logger=name, text=text, email=email):
                self.debug(level, name, text, email)
            case RunStarted(mailboxes=boxes):
                self.debug("INFO", "kimt.engine", f"run of {len(boxes)} mailboxes started")
            case MailboxStarted(email=email, where=where):
                self.debug("INFO", "kimt.engine",
                           f"mailbox started on {where}" if where else "mailbox started", email)
            case Notice(email=email, text=text):
                self.debug("WARNING", "kimt.engine", text, email)
            case ScriptStarted(email=email, state=state):
                self.debug("INFO", "kimt.engine", f"mailbox {state}; its post-migrate script "
                           "runs", email)
            case MailboxFinished(result=r):
                self.write_report("\n" + report.mailbox_section(r, self.verify))
            case RunFinished(results=results, seconds=seconds, stopped=stopped, fatal=fatal):
                if fatal:
                    self.write_report(f"\nThe run could not start: {fatal}\n")
                else:
                    if stopped:
                        self.write_report("\nThe run was stopped by the user.\n")
                    self.write_report("\n" + report.totals(results, seconds, self.verify))

    def close(self) -> None:
        logging.getLogger("kimt").removeHandler(self._handler)
        for f in (self._report, self._debug):
            try:
                f.close()
            except OSError:
                pass
