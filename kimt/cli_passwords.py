"""`kimt migrate --passwords-only`: the old passwords onto existing accounts, no mail copied.

The command-line face of `core.passwords` (IceWarp's "Migrate passwords only"):
the same options as `kimt migrate` choose the users and both servers, each
user gets one line, and the run folder's Report log gets a section with
every outcome (no password in it). Exit 0 when every password is set or
already the same, 1 when some are not, 3 when a server can't be reached.
"""

from __future__ import annotations

import argparse
import sys

from .cli import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNREACHABLE,
    _kerio_provisioning,
    _load_accounts,
    _server_config,
)
from .core import passwords, report, survey
from .core.accounts import format_problems
from .core.errors import InputError, KimtError
from .core.logs import Redactor, RunLogs, copy_report
from .core.options import describe_users


def cmd_passwords(args: argparse.Namespace) -> int:
    """`kimt migrate --passwords-only`: the old passwords onto existing accounts, no mail."""
    if args.generate_passwords:
        raise InputError("--passwords-only carries the old passwords over; "
                         "--generate-passwords would make new ones: choose one")
    if args.post_migrate_script:
        raise InputError("--post-migrate-script runs after a mailbox's mail is copied; "
                         "--passwords-only copies none: choose one")
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
    source = _server_config(args, "source", "source")
    destination = _server_config(args, "target", "destination")
    provision = _kerio_provisioning(args, destination)
    reached = [survey.try_connection(config) for config in (source, destination)]
    for answer in reached:
        if not answer.ok:
            print(f"kimt: {answer.text}", file=sys.stderr)
            return EXIT_UNREACHABLE
    source, destination = (a.config or c for a, c in zip(reached, (source, destination),
                                                         strict=True))
    secrets = [a.password for a in chosen] + [a.destination_password for a in chosen]
    secrets += [source.master_password, destination.master_password,
                provision.admin.password if provision else None]
    header = "\n".join([
        f"Source: {report.describe_server(source)}",
        f"Destination: {report.describe_server(destination)}",
        f"Users file: {describe_users(accounts)}; selected users: {len(chosen)}",
        "Passwords only: each password checked on the source by a login, set on the "
        + (f"destination through the Kerio admin API at {provision.admin.address}"
           if provision else "destination only where KIMT manages accounts (Kerio Connect)")
        + "; no mail is copied"])
    logs = RunLogs(args.log_dir, Redactor(secrets), header)
    fatal = ""
    outcomes: list[passwords.PasswordOutcome] = []

    def show(o: passwords.PasswordOutcome) -> None:
        if not args.quiet:
            print(f"{'ok' if o.ok else '!!'} {o.email}: {o.words()}", flush=True)

    try:
        outcomes = passwords.migrate_passwords(
            source, destination, provision.admin if provision else None, chosen, show,
            args.workers)
        logs.write_report("\n" + passwords.report_section(outcomes))
    except KimtError as e:
        fatal = str(e)
        logs.write_report(f"\nThe run could not finish: {fatal}\n")
    finally:
        logs.close()
    if fatal:
        print(f"kimt: {fatal}", file=sys.stderr)
        code = EXIT_UNREACHABLE
    else:
        print(f"\n{passwords.summary(outcomes)}")
        code = EXIT_OK if all(o.ok for o in outcomes) and not accounts.problems \
            else EXIT_PROBLEMS
    print(f"Report log: {logs.report_path}")
    if args.log_file:
        try:
            print(f"Report copy: {copy_report(logs.report_path, args.log_file)}")
        except InputError as e:
            print(f"kimt: {e}", file=sys.stderr)
            code = code or EXIT_PROBLEMS
    return code
