"""The words of the Report log: settings, one section per mailbox, totals.

Kept apart from the files (`logs`) so the CLI's closing summary and the
GUI's result page say exactly what the Report says.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

from .events import (
    DAY_OVER,
    DONE,
    FAILED,
    PROBLEMS,
    SCRIPT_FAILED,
    STOPPED,
    MailboxResult,
    ScriptOutcome,
    Skipped,
)
from .servers import AUTO, ServerConfig
from .tls import verified_against

SECURITY_WORDS = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "no encryption",
                  AUTO: "detected"}


def number(n: int) -> str:
    """1234567 -> '1 234 567' (what admins read in Kerio's reports)."""
    return f"{n:,}".replace(",", " ")


def plural(n: int, word: str, words: str | None = None) -> str:
    """3, 'line' -> '3 lines'; 1 -> '1 line' (`words` when the plural is not word + s)."""
    return f"{number(n)} {word if n == 1 else words or word + 's'}"


def size(n: float) -> str:
    """In KB, MB or GB, as admins read sizes (never a count of bytes)."""
    n /= 1024
    for unit in ("KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


# Refusals that will repeat on every run: what to change instead of running again.
_REPEATING = (
    (("appendlimit", "too large", "too big", "size limit", "exceeds", "message size",
      "quota"),
     "the destination refuses messages this large or over quota: raise its size limit or "
     "quota, then run again (running again alone refuses them again)"),
    (("8bit", "8-bit", "non-ascii", "unencoded", "invalid character", "header"),
     "the destination refuses raw 8-bit bytes in message headers: allow them there (Cyrus: "
     "reject8bit: no), then run again (running again alone refuses them again)"),
)


def skipped_advice(skipped: list[Skipped]) -> str:
    """What to do about skipped messages: change something, or simply run again."""
    reasons = " ".join(s.reason.lower() for s in skipped)
    advice = [text for words, text in _REPEATING if any(w in reasons for w in words)]
    if not advice:
        return "Run again to retry them."
    return "To copy them, " + "; ".join(advice) + "."


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return (f"{h} h {m} min" if h else f"{m} min {s} s")


def describe_server(config: ServerConfig) -> str:
    if config.security == AUTO:  # decided by the preflight, which the Report says below
        text = (f"{config.host}, security detected: SSL/TLS, else STARTTLS "
                + (f"on port {config.port}" if config.port else "(ports 993, 143)")
                + ", never plain text")
    else:
        text = f"{config.address}, {SECURITY_WORDS[config.security]}"
    if config.security != "none":
        text += (f", certificate pinned to {config.fingerprint}" if config.fingerprint
                 else f", certificate verified against {verified_against()}")
    if config.auth == "master":
        style = {"authzid": "SASL PLAIN authorization identity",
                 "combined": f"'{config.master_user}\\user' login"}.get(
            config.master_style, f"'user{config.master_separator}{config.master_user}' login")
        text += f"; logs in as the admin \"{config.master_user}\" for each user ({style})"
    elif config.auth == "kerio-master":
        text += "; logs in for each user with Kerio's master authentication (X-MASTERAUTH)"
    elif config.auth == "xoauth2":
        text += ("; each user logs in with XOAUTH2, token from "
                 + ("the token command" if config.oauth_token_command else "the users file"))
    else:
        text += "; each user logs in with their own password"
    if config.login_name == "local":
        text += " (login name: the part before @)"
    return text


# A state as it is counted ("2 done, 1 done but their script failed"): one without a comma.
STATE_COUNT_WORDS = {SCRIPT_FAILED: "done but their script failed"}


def state_counts(results: Iterable[MailboxResult]) -> str:
    """'2 done, 1 failed': how many mailboxes ended in each state."""
    by_state: dict[str, int] = {}
    for r in results:
        by_state[r.state] = by_state.get(r.state, 0) + 1
    return ", ".join(f"{n} {STATE_COUNT_WORDS.get(s, s)}" for s, n in sorted(by_state.items()))


def script_verdict(r: MailboxResult) -> str:
    """What a failed post-migrate script means for the admin."""
    assert r.script is not None
    return (f"Post-migrate script FAILED ({r.script.problem}): fix it, then run it by hand "
            f"for {r.email}, or run again (nothing is copied twice; the script runs again).")


def script_lines(outcome: ScriptOutcome) -> list[str]:
    """The Report's lines about one post-migrate script: how it ended, its last output."""
    how = f"exit code {outcome.exit_code}" if outcome.ok else f"FAILED, {outcome.problem}"
    lines = [f"  Post-migrate script: {how} ({duration(outcome.seconds)})"]
    if outcome.output:
        lines.append("    Its last lines of output:")
        lines += [f"      | {line}" for line in outcome.output]
    elif outcome.exit_code is not None or outcome.seconds:
        lines.append("    (no output)")
    return lines


def local_time(epoch: float) -> str:
    """'Tue 1 Dec 09:30 (local time)': when a stopped day may go on, as the admin's clock
    shows it."""
    t = time.localtime(epoch)
    return f"{time.strftime('%a', t)} {t.tm_mday} {time.strftime('%b %H:%M', t)} (local time)"


def resume_at(results: Iterable[MailboxResult]) -> float | None:
    """When every mailbox a daily limit stopped may go on; None when none was."""
    return max((r.resume_at for r in results if r.state == DAY_OVER), default=None)


def day_over_advice(results: list[MailboxResult]) -> str:
    """The closing words when a daily limit stopped mailboxes ('' when none)."""
    stopped = [r for r in results if r.state == DAY_OVER]
    when = resume_at(stopped)
    if when is None:
        return ""
    return (f"A daily limit stopped {plural(len(stopped), 'mailbox', 'mailboxes')} at a "
            "clean point (nothing "
            f"failed). Run the same migration again after {local_time(when)} to go on "
            "where it stopped: nothing is copied twice.")


def verdict(r: MailboxResult, verify: bool = False) -> str:
    if r.state == SCRIPT_FAILED and r.script is not None:
        return f"{verdict(replace(r, state=r.script.mail_state), verify)} {script_verdict(r)}"
    on_dest = r.copied + r.already
    if r.state == FAILED:
        done = f"; {number(on_dest)} of {number(r.total)} messages were on the destination" \
            if r.total else ""
        return f"FAILED: {r.error.rstrip('.')}{done}. {r.advice or 'Run again to finish.'}"
    if r.state == DAY_OVER:
        there = (f": {number(on_dest)} of {number(r.total)} messages are on the destination"
                 if r.folders else "")
        return (f"stopped for today ({r.error.rstrip('.')}){there}. Run again after "
                f"{local_time(r.resume_at)} to go on (nothing is copied twice).")
    if r.state == STOPPED:
        return stopped_words(r, verify) + (
            ". Run again to finish (nothing is copied twice)." if r.started
            else ". Run again to copy it.")
    altered = r.altered_total
    differently = (f" ({number(altered)} of them stored differently by the destination"
                   + (", listed above)" if r.altered else ", reported when they were copied)")
                   if altered else "")
    if r.state == DONE:
        if r.total == 1:
            return f"its 1 message is on the destination{differently}."
        return f"all {number(r.total)} messages are on the destination{differently}."
    parts = [f"{number(on_dest)} of {number(r.total)} messages are on the destination"
             + differently]
    if verify:
        parts.append(f"{number(r.missing)} missing")
    if r.skipped:
        parts.append(f"{number(len(r.skipped))} skipped (refused by the destination, listed "
                     f"above). {skipped_advice(r.skipped)}")
    failed = r.failed_folders
    if failed:
        parts.append(f"{plural(len(failed), 'folder')} not finished, listed above. Run again to "
                     "finish them")
    if r.folder_problems:
        parts.append(f"{plural(len(r.folder_problems), 'folder problem')}, listed above")
    return "; ".join(parts) + "."


def stopped_words(r: MailboxResult, verify: bool = False) -> str:
    """How far a stopped mailbox got, counted against the whole mailbox (its folders'
    STATUS at the start), never against only the folders it had reached."""
    if not r.started:
        return "not started"
    if not r.folders:  # stopped while logging in or listing, or its worker was ended
        return "stopped before its folders were listed" if r.error.startswith(
            "stopped by the user") else r.error
    on_dest = r.copied + r.already
    if not r.counted:  # the STATUS at the start failed: the folders not reached are unknown
        return (f"stopped: {number(on_dest)} messages are on the destination; the folders "
                "not reached yet were not counted")
    if verify:
        return (f"stopped: {number(r.already)} of {number(r.total)} messages found on the "
                "destination so far")
    if r.already:
        return (f"stopped: {number(on_dest)} of {number(r.total)} messages are on the "
                f"destination ({number(r.copied)} copied in this run)")
    return f"stopped: {number(r.copied)} of {number(r.total)} copied"


def source_messages(results: list[MailboxResult]) -> str:
    """The messages on the source of the mailboxes a run reached; those it never started
    were not counted, which is said."""
    text = number(sum(r.total for r in results))
    waiting = sum(not r.started for r in results)
    if waiting:
        text += f" ({waiting} mailbox{'es' if waiting > 1 else ''} not started, not counted)"
    return text


def _message_lines(title: str, items: list[Skipped], limit: int = 200,
                   reason: bool = True) -> list[str]:
    lines = [f"  {title} ({len(items)}):"]
    for s in items[:limit]:
        lines.append(f"    '{s.folder}' uid {s.uid}, {s.date or 'no date'}, "
                     f"\"{s.subject or '(no subject)'}\", {size(s.size)}"
                     + (f": {s.reason}" if reason else ""))
    if len(items) > limit:
        lines.append(f"    ... and {len(items) - limit} more")
    return lines


def finish_line(r: MailboxResult) -> str:
    """A re-run's news for one mailbox: new messages, flag changes, source deletions."""
    parts = [f"{plural(r.copied, 'new message')} copied"]
    if r.flags_changed or r.flags_kept:
        parts.append(f"flags changed on {number(r.flags_changed)}"
                     + (f" ({number(r.flags_kept)} left as the user changed them on the "
                        "new server)" if r.flags_kept else ""))
    if r.source_deleted:
        parts.append(f"{number(len(r.source_deleted))} deleted on the old server left on the "
                     "new one")
    return ", ".join(parts)


def mailbox_section(r: MailboxResult, verify: bool = False) -> str:
    lines = [f"=== {r.email} — {r.state} ({duration(r.seconds)})"]
    if r.folders:
        unchanged = sum(1 for f in r.folders if f.unchanged)
        lines.append(f"  Folders: {len(r.folders)}"
                     + (f" ({unchanged} unchanged since the last run)" if unchanged else ""))
        if verify:
            lines.append(f"  Messages: {number(r.total)} on the source; {number(r.already)} on "
                         f"the destination; {number(r.missing)} missing")
        else:
            lines.append(f"  Messages: {number(r.total)} on the source; {number(r.copied)} "
                         f"copied, {number(r.already)} already there, "
                         f"{number(len(r.skipped))} skipped")
            lines.append(f"  Size copied: {size(r.bytes_copied)}")
            if r.rerun:
                lines.append(f"  Since the last run: {finish_line(r)}")
        for f in r.folders:
            to = "" if f.destination == f.folder else f" -> '{f.destination}'"
            if f.unchanged:
                what = f"{number(f.total)} on the source, unchanged since the last run"
            elif verify:
                what = f"{number(f.already)} of {number(f.total)} on the destination"
            else:
                what = (f"{number(f.total)} on the source, {number(f.copied)} copied, "
                        f"{number(f.already)} already there"
                        + (f", {len(f.skipped)} skipped" if f.skipped else ""))
            if f.error:
                if not (f.total or f.copied):
                    what = "its messages could not be listed"
                what += f"; NOT FINISHED: {f.error}"
            lines.append(f"    '{f.folder}'{to}: {what}")
    if r.retries:
        lines.append(f"  Reconnects: {r.retries}")
    if r.throttled_seconds:
        lines.append(f"  Waited for the servers (they asked to slow down, or slowed down): "
                     f"{r.throttled_seconds:.0f} s")
    if r.paced_seconds >= 1:
        lines.append(f"  Waited for the run's own speed limit: {r.paced_seconds:.0f} s")
    for f in r.folders:
        if f.dropped_flags:
            lines.append(f"  Flags the destination does not keep, dropped in '{f.folder}': "
                         + ", ".join(sorted(f.dropped_flags)))
    for note in r.notes:
        lines.append(f"  Note: {note}")
    for name in r.skipped_namespaces:
        lines.append(f"  Shared/public folder not migrated: {name}")
    for line in r.folders_left_out:
        lines.append(f"  Folder not migrated: {line}")
    for p in r.folder_problems:
        lines.append(f"  Problem: {p}")
    for f in r.failed_folders:
        lines.append(f"  Problem: folder '{f.folder}' not finished: {f.error}")
    if r.script is not None:
        lines += script_lines(r.script)
    if r.skipped:
        lines += _message_lines("Skipped messages", r.skipped)
        lines.append(f"    {skipped_advice(r.skipped)}")
    if r.altered:
        lines += _message_lines(
            "Stored differently by the destination (they are there, and are not copied "
            "again)" if not verify else "Stored differently by the destination", r.altered)
    if r.source_deleted:
        lines += _message_lines("Deleted on the old server since the last run, left on the new "
                                "one", r.source_deleted, reason=False)
    if r.loose:
        lines += _message_lines(
            "Matched loosely (no journal entry and another key on the destination: paired "
            "by Message-ID, or date, sender and size; not copied again)", r.loose)
    if verify:
        missing = [m for f in r.folders for m in f.missing_messages]
        if missing:
            lines += _message_lines("Missing on the destination", missing, reason=False)
    lines.append(f"  Verdict: {verdict(r, verify)}")
    return "\n".join(lines) + "\n"


def totals(results: Iterable[MailboxResult], seconds: float, verify: bool = False) -> str:
    results = list(results)
    copied = sum(r.copied for r in results)
    nbytes = sum(r.bytes_copied for r in results)
    lines = ["=== Totals",
             f"  Time: {duration(seconds)}",
             f"  Mailboxes: {len(results)} ({state_counts(results)})",
             f"  Folders: {number(sum(len(r.folders) for r in results))}",
             f"  Messages on the source: {source_messages(results)}"]
    if verify:
        lines.append(f"  Missing on the destination: {number(sum(r.missing for r in results))}")
    else:
        lines += [
            f"  Copied: {number(copied)} ({size(nbytes)}"
            + (f", {copied / seconds:.0f} messages/s, {size(nbytes / seconds)}/s)"
               if seconds > 0 and copied else ")"),
            f"  Already on the destination: {number(sum(r.already for r in results))}",
            f"  Skipped: {number(sum(len(r.skipped) for r in results))}",
        ]
        altered = sum(r.altered_total for r in results)
        if altered:
            lines.append(f"  Stored differently by the destination: {number(altered)} "
                         "(there, not copied again)")
        loose = sum(len(r.loose) for r in results)
        if loose:
            lines.append(f"  Matched loosely: {number(loose)}")
        if any(r.rerun for r in results):
            lines.append(f"  Flags carried over from the old server: "
                         f"{number(sum(r.flags_changed for r in results))}"
                         f" ({number(sum(r.flags_kept for r in results))} left as the user "
                         "changed them on the new server)")
            lines.append(f"  Deleted on the old server since the last run, left on the new "
                         f"one: {number(sum(len(r.source_deleted) for r in results))}")
    scripts = [r for r in results if r.script is not None]
    if scripts:
        lines.append(f"  Post-migrate script: ran after "
                     f"{plural(len(scripts), 'mailbox', 'mailboxes')}, "
                     f"failed for {sum(not r.script.ok for r in scripts)}")
    failed = [r for r in results if r.mail_state in (FAILED, STOPPED, PROBLEMS, DAY_OVER)]
    if failed:
        lines.append("  Not complete:")
        lines += [f"    {r.email}: {verdict(r, verify)}" for r in failed]
    day = day_over_advice(results)
    if day:
        lines.append(f"  {day}")
    script_failed = [r for r in results if r.state == SCRIPT_FAILED and r.script]
    if script_failed:
        lines.append("  Post-migrate script failed:")
        lines += [f"    {r.email}: {r.script.problem}" for r in script_failed]
    return "\n".join(lines) + "\n"


def closing_lines(results: list[MailboxResult], verify: bool = False) -> list[str]:
    """What a run found beyond the totals: altered messages, loose matches, a re-run's news."""
    lines = []
    altered = sum(r.altered_total for r in results)
    if altered:
        lines.append(f"{plural(altered, 'message')} {'was' if altered == 1 else 'were'} "
                     "stored differently by the destination "
                     "(it changed header bytes, dates or sizes on arrival): they are there, "
                     "are listed in the Report log and are never copied again.")
    loose = sum(len(r.loose) for r in results)
    if loose:
        lines.append(f"{plural(loose, 'message')} {'was' if loose == 1 else 'were'} matched "
                     "loosely (listed in the Report "
                     "log).")
    rerun = [r for r in results if r.rerun]
    if rerun and not verify:
        together = MailboxResult("", folders=[f for r in rerun for f in r.folders])
        lines.append("Since the last run: " + finish_line(together) + ".")
    return lines


def next_step(incomplete: list[MailboxResult]) -> str:
    """The closing advice: run again only where that helps."""
    helps = [r for r in incomplete if not r.advice and not (
        r.skipped and skipped_advice(r.skipped) != "Run again to retry them.")]
    if len(helps) == len(incomplete):
        return "Run the same command again to copy what is missing (nothing is copied twice)."
    if not helps:
        return "Running again alone won't help: the Report log says what to change first."
    return (f"For {len(incomplete) - len(helps)} of them the Report log says what to change "
            "first; running the same command again finishes the others (nothing is copied "
            "twice).")
