"""`kimt migrate --passwords-only`: the old passwords onto existing accounts, no mail copied.

The command-line face of `core.passwords` (IceWarp's "Migrate passwords only"):
the same options as `kimt migrate` choose the users and both servers, each
user gets one line, and the run folder's Report log gets a section with
every outcome (no password in it): `passwords.run_passwords`, which the wizard
runs too. Exit 0 when every password is set or already the same, 1 when some
are not, 3 when a server can't be reached.
"""

from __future__ import annotations

import argparse
import sys

from .cli import _load_accounts
from .cli_options import (
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_UNREACHABLE,
    _kerio_provisioning,
    _server_config,
)
from .core import passwords
from .core.accounts import format_problems
from .core.errors import InputError
from .core.logs import copy_report
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

    def show(o: passwords.PasswordOutcome) -> None:
        if not args.quiet:
            print(f"{'ok' if o.ok else '!!'} {o.email}: {o.words()}", flush=True)

    finished = passwords.run_passwords(
        source, destination, provision.admin if provision else None, chosen,
        describe_users(accounts), log_dir=args.log_dir, workers=args.workers, on_outcome=show)
    if finished.fatal:
        print(f"kimt: {finished.fatal}", file=sys.stderr)
        code = EXIT_UNREACHABLE
    else:
        print(f"\n{passwords.summary(finished.outcomes)}")
        code = EXIT_OK if finished.ok and not accounts.problems else EXIT_PROBLEMS
    print(f"Report log: {finished.report_path}")
    if args.log_file:
        try:
            print(f"Report copy: {copy_report(finished.report_path, args.log_file)}")
        except InputError as e:
            print(f"kimt: {e}", file=sys.stderr)
            code = code or EXIT_PROBLEMS
    return code
