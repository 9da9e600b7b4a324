"""The words of the Report log: settings, one section per mailbox, totals.

Kept apart from the files (`logs`) so the CLI's closing summary and the
GUI's result page say exactly what the Report says.
"""

from __future__ import annotations

from collections.abc import Iterable

from .events import DONE, FAILED, PROBLEMS, STOPPED, MailboxResult
from .servers import ServerConfig

SECURITY_WORDS = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "none": "no encryption"}


def number(n: int) -> str:
    """1234567 -> '1 234 567' (what admins read in Kerio's reports)."""
    return f"{n:,}".replace(",", " ")


def size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{seconds:.1f} s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return (f"{h} h {m} min" if h else f"{m} min {s} s")


def describe_server(config: ServerConfig) -> str:
    text = f"{config.address}, {SECURITY_WORDS[config.security]}"
    if config.security != "none":
        text += (f", certificate pinned to {config.fingerprint}" if config.fingerprint
                 else ", certificate verified")
    if config.auth == "master":
        style = ("SASL PLAIN authorization identity" if config.master_style == "authzid"
                 else f"'user{config.master_separator}{config.master_user}' login")
        text += f"; logs in as admin {config.master_user} for each user ({style})"
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


def verdict(r: MailboxResult, dry_run: bool = False) -> str:
    on_dest = r.copied + r.already
    if r.state == FAILED:
        done = f"; {number(on_dest)} of {number(r.total)} messages were on the destination" \
            if r.total else ""
        return f"FAILED: {r.error.rstrip('.')}{done}. {r.advice or 'Run again to finish.'}"
    if r.state == STOPPED:
        return (f"stopped: {number(on_dest)} of {number(r.total)} messages are on the "
                "destination. Run again to finish (nothing is copied twice).")
    if r.state == DONE:
        return f"all {number(r.total)} messages are on the destination."
    parts = [f"{number(on_dest)} of {number(r.total)} messages are on the destination"]
    if dry_run:
        parts.append(f"{number(r.missing)} missing")
    if r.skipped:
        parts.append(f"{number(len(r.skipped))} skipped (refused by the destination, listed above)")
    if r.folder_problems:
        parts.append(f"{len(r.folder_problems)} folder problem(s), listed above")
    return "; ".join(parts) + "."


def mailbox_section(r: MailboxResult, dry_run: bool = False) -> str:
    lines = [f"=== {r.email} — {r.state} ({duration(r.seconds)})"]
    if r.folders:
        lines.append(f"  Folders: {len(r.folders)}")
        if dry_run:
            lines.append(f"  Messages: {number(r.total)} on the source; {number(r.already)} on "
                         f"the destination; {number(r.missing)} missing")
        else:
            lines.append(f"  Messages: {number(r.total)} on the source; {number(r.copied)} "
                         f"copied, {number(r.already)} already there, "
                         f"{number(len(r.skipped))} skipped")
            lines.append(f"  Size copied: {size(r.bytes_copied)}")
        for f in r.folders:
            target = "" if f.target == f.folder else f" -> '{f.target}'"
            if dry_run:
                what = f"{number(f.already)} of {number(f.total)} on the destination"
            else:
                what = (f"{number(f.total)} on the source, {number(f.copied)} copied, "
                        f"{number(f.already)} already there"
                        + (f", {len(f.skipped)} skipped" if f.skipped else ""))
            lines.append(f"    '{f.folder}'{target}: {what}")
    if r.retries:
        lines.append(f"  Reconnects: {r.retries}")
    for f in r.folders:
        if f.dropped_flags:
            lines.append(f"  Flags the destination does not keep, dropped in '{f.folder}': "
                         + ", ".join(sorted(f.dropped_flags)))
    for note in r.notes:
        lines.append(f"  Note: {note}")
    for name in r.skipped_namespaces:
        lines.append(f"  Shared/public folder not migrated: {name}")
    for p in r.folder_problems:
        lines.append(f"  Problem: {p}")
    skipped = r.skipped
    if skipped:
        lines.append(f"  Skipped messages ({len(skipped)}):")
        for s in skipped:
            lines.append(f"    '{s.folder}' uid {s.uid}, {s.date or 'no date'}, "
                         f"\"{s.subject or '(no subject)'}\", {size(s.size)}: {s.reason}")
    if dry_run:
        missing = [m for f in r.folders for m in f.missing]
        if missing:
            lines.append(f"  Missing on the destination ({len(missing)}):")
            for m in missing[:200]:
                lines.append(f"    '{m.folder}' uid {m.uid}, {m.date or 'no date'}, "
                             f"\"{m.subject or '(no subject)'}\", {size(m.size)}")
            if len(missing) > 200:
                lines.append(f"    ... and {len(missing) - 200} more")
    lines.append(f"  Verdict: {verdict(r, dry_run)}")
    return "\n".join(lines) + "\n"


def totals(results: Iterable[MailboxResult], seconds: float, dry_run: bool = False) -> str:
    results = list(results)
    by_state: dict[str, int] = {}
    for r in results:
        by_state[r.state] = by_state.get(r.state, 0) + 1
    copied = sum(r.copied for r in results)
    nbytes = sum(r.bytes_copied for r in results)
    lines = ["=== Totals",
             f"  Time: {duration(seconds)}",
             f"  Mailboxes: {len(results)} ("
             + ", ".join(f"{n} {s}" for s, n in sorted(by_state.items())) + ")",
             f"  Folders: {number(sum(len(r.folders) for r in results))}",
             f"  Messages on the source: {number(sum(r.total for r in results))}"]
    if dry_run:
        lines.append(f"  Missing on the destination: {number(sum(r.missing for r in results))}")
    else:
        lines += [
            f"  Copied: {number(copied)} ({size(nbytes)}"
            + (f", {copied / seconds:.0f} messages/s, {nbytes / seconds / 2**20:.1f} MB/s)"
               if seconds > 0 and copied else ")"),
            f"  Already on the destination: {number(sum(r.already for r in results))}",
            f"  Skipped: {number(sum(len(r.skipped) for r in results))}",
        ]
    failed = [r for r in results if r.state in (FAILED, STOPPED, PROBLEMS)]
    if failed:
        lines.append("  Not complete:")
        lines += [f"    {r.email}: {verdict(r, dry_run)}" for r in failed]
    return "\n".join(lines) + "\n"
