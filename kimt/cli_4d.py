"""`4d2kms`: Kerio's 4D WebSTAR migration command, as admins have it in their notes.

    4d2kms [--target-host HOST] --target-user USER --target-pass PASSWORD [--source-host HOST]
           [--source-path PATH] [--source-port PORT] [--quiet] [--help]

It reads 4D WebSTAR's Mailbox Server configuration (`core.webstar`), has
Kerio Connect create one domain per post office (named after its first
domain, the others its aliases) and one account per user with the user's
4D password, then copies their mail from 4D's IMAP service: the same
engine, built by the same `core.options` as `kimt migrate --target-kind
kerio`, so a re-run creates nothing and copies only what is missing. The
options of Kerio's manual keep their meaning and defaults; KIMT's own (a
password file, TLS and fingerprints, master authentication, --list) come
on top. It is `kimt 4d2kms …` and the `4d2kms` console script alike.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .cli import ConsoleView, check_log_file, closing, run_engine
from .cli import main as kimt_main
from .cli_options import EXIT_OK, EXIT_USAGE, _read_secret
from .core.engine import RunRequest
from .core.errors import InputError
from .core.options import kerio_provisioning, server_config, webstar_request, webstar_source
from .core.report import plural
from .core.servers import SECURITY_CHOICES, parse_host
from .core.webstar import DEFAULT_FOLDER, DEFAULT_IMAP_PORT, MAIN_FILE, WebstarConfig, load

HELP = ("migrate 4D WebSTAR's mail server on this computer to Kerio Connect (Kerio's "
        "4d2kms command)")
USAGE = ("[--target-host HOST] --target-user USER --target-pass PASSWORD [--source-host HOST]"
         "\n{indent}[--source-path PATH] [--source-port PORT] [--quiet] [--help]")
MASTER_VARIABLE = "KIMT_KERIO_MASTER_PASS"

EPILOG = f"""\
The post offices in {MAIN_FILE} become Kerio domains named
after their first domain, with the others as aliases; a domain Kerio has
already is left as it is. Every user becomes a Kerio account with their 4D
password, then their mail is copied from 4D's IMAP service. Users without a password, with login
disabled or with a hashed password are listed and not migrated. Running it
again creates nothing and copies only what is missing.

exit codes:
  0    every user was migrated and every mailbox is complete in Kerio
  1    finished, but some users were left out or failed (see the Report log)
  2    bad command line, or the 4D configuration is missing or damaged
  3    a server can't be reached, or Kerio refused the admin login
  130  stopped (Ctrl+C); run the same command again to finish
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # the usage and exit 2, as Kerio's tool did
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def add_4d2kms_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `4d2kms`, onto its own parser or `kimt`'s subcommand."""
    indent = " " * (len("usage: ") + len(p.prog) + 1)
    p.usage = f"%(prog)s {USAGE.format(indent=indent)}"
    p.description = HELP[0].upper() + HELP[1:] + "."
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(command="4d2kms")
    g = p.add_argument_group("as in Kerio's manual")
    g.add_argument("--target-host", default="localhost", metavar="HOST",
                   help="Kerio Connect: its administration (port 4040) and IMAP service "
                        "(default localhost)")
    g.add_argument("--target-user", required=True, metavar="USER",
                   help="Kerio's administrator")
    g.add_argument("--target-pass", metavar="PASSWORD",
                   help="the administrator's password (visible to other users of this "
                        "computer: prefer --target-pass-file or KIMT_TARGET_PASS; without "
                        "any, a terminal asks for it)")
    g.add_argument("--source-host", default="localhost", metavar="HOST",
                   help="4D's IMAP service (default localhost)")
    g.add_argument("--source-path", default=DEFAULT_FOLDER, metavar="PATH",
                   help=f"the folder of {MAIN_FILE}, or the file (default {DEFAULT_FOLDER})")
    g.add_argument("--source-port", type=int, default=DEFAULT_IMAP_PORT, metavar="PORT",
                   help=f"port of 4D's IMAP service (default {DEFAULT_IMAP_PORT})")
    g.add_argument("--quiet", action="store_true", help="print only the final summary")

    g = p.add_argument_group("KIMT's additions")
    g.add_argument("--target-pass-file", metavar="FILE",
                   help="file whose first line is the administrator's password")
    g.add_argument("--list", action="store_true",
                   help="show the post offices, domains and users found, and who can't be "
                        "migrated; contacts no server")
    g.add_argument("--target-port", type=int, metavar="N",
                   help="Kerio's IMAP port (default 993 for ssl, 143 otherwise)")
    g.add_argument("--target-security", choices=SECURITY_CHOICES, default="ssl",
                   help="Kerio's IMAP: ssl (default), starttls, auto (detect: SSL/TLS, "
                        "else STARTTLS; never plain text) or none")
    g.add_argument("--target-fingerprint", metavar="SHA256:…",
                   help="trust exactly this self-signed certificate of Kerio (its IMAP and, "
                        "unless --kerio-fingerprint says otherwise, its administration)")
    g.add_argument("--kerio-host", metavar="HOST[:PORT]",
                   help="Kerio's administration (default: --target-host, port 4040)")
    g.add_argument("--kerio-fingerprint", metavar="SHA256:…",
                   help="trust exactly this certificate of Kerio's administration")
    g.add_argument("--master-pass-file", metavar="FILE",
                   help="write the mail with Kerio's master authentication (X-MASTERAUTH), "
                        f"this file's first line its password (also {MASTER_VARIABLE}); "
                        "without it each user logs in to Kerio with their 4D password")
    g.add_argument("--source-security", choices=SECURITY_CHOICES, default="none",
                   help="4D's IMAP service: none (default: it is on this computer), "
                        "starttls, ssl or auto")
    g.add_argument("--source-fingerprint", metavar="SHA256:…",
                   help="trust exactly this self-signed certificate of 4D's IMAP service")
    g.add_argument("--workers", type=int, default=4, metavar="N",
                   help="mailboxes migrated at the same time (default 4)")
    g.add_argument("--timeout", type=float, default=120, metavar="S",
                   help="seconds to wait for a server's answer (default 120)")
    g.add_argument("--log-dir", metavar="DIR",
                   help="where the KimtLogs run folders go (default: the system's place)")
    g.add_argument("--log-file", metavar="PATH",
                   help="also put a copy of the Report log here (readable by you alone)")
    g.add_argument("--state-dir", metavar="DIR",
                   help="where the migration journal lives; deleting it is safe")
    return p


def build_parser(prog: str = "4d2kms") -> argparse.ArgumentParser:
    return add_4d2kms_options(_Parser(prog=prog))


def _master_password(args: argparse.Namespace) -> str | None:
    if args.master_pass_file:
        try:
            with open(args.master_pass_file, encoding="utf-8-sig") as f:
                secret = f.readline().rstrip("\r\n")
        except OSError as e:
            raise InputError(f"cannot read the password file {args.master_pass_file}: "
                             f"{e.strerror}") from None
        if not secret:
            raise InputError(f"the password file {args.master_pass_file} is empty")
        return secret
    return os.environ.pop(MASTER_VARIABLE, None) or None  # no worker inherits it


def show_config(config: WebstarConfig, quiet: bool) -> None:
    """What the configuration holds; who is left out always goes to stderr, with why."""
    if not quiet:
        print(f"4D WebSTAR configuration {config.path}: {config.counts()}")
        for line in config.post_office_lines():
            print(f"  {line}")
    if config.left_out:
        print(f"Not migrated ({len(config.left_out)}):", file=sys.stderr)
        for line in config.left_out_lines():
            print(f"  {line}", file=sys.stderr)


def cmd_4d2kms(args: argparse.Namespace) -> int:
    if args.timeout <= 0:
        raise InputError("--timeout must be more than 0")
    check_log_file(args)
    config = load(args.source_path)
    show_config(config, args.quiet)
    if args.list:
        return EXIT_OK
    if not config.accounts:
        raise InputError(f"{config.path}: no user of the 4D configuration can be migrated")
    request = build_request(args, config)
    finished = run_engine(request, ConsoleView(len(config.accounts), args.quiet, False))
    n = len(config.left_out)
    left_out = (f"{plural(n, 'user')} of the 4D configuration {'was' if n == 1 else 'were'} "
                "not migrated "
                "(listed at the start and in the Report log)." if config.left_out else "")
    return closing(finished, False, left_out, args.log_file)


def build_request(args: argparse.Namespace, config: WebstarConfig) -> RunRequest:
    """The run these options ask for (`options.webstar_request`, as the wizard builds it)."""
    password = _read_secret(args, "target")
    if not password:
        build_parser().print_usage(sys.stderr)
        raise InputError("no password for the Kerio administrator: use --target-pass-file "
                         "FILE, KIMT_TARGET_PASS, --target-pass, or run on a terminal to be "
                         "asked")
    master = _master_password(args)
    kerio_host = parse_host(args.target_host)[0]
    destination = server_config(
        "destination", args.target_host, port=args.target_port,
        security=args.target_security, fingerprint=args.target_fingerprint,
        auth="kerio-master" if master else "user", master_password=master,
        read_timeout=args.timeout)
    provision = kerio_provisioning(
        args.kerio_host, kerio_host, args.target_user, password,
        args.kerio_fingerprint or args.target_fingerprint, timeout=min(args.timeout, 60))
    source = webstar_source(args.source_host, args.source_port, args.source_security,
                            args.source_fingerprint, read_timeout=args.timeout)
    return webstar_request(config, config.accounts, source, destination, provision,
                           workers=args.workers, log_dir=args.log_dir,
                           state_dir=args.state_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """The `4d2kms` console script."""
    return kimt_main(argv, parser=build_parser())
