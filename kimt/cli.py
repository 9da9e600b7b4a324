"""`kimt` on the command line: migrate, verify, check-csv (and the wizard, without arguments).

A thin layer: it turns options into a `RunRequest`, renders the engine's
events as text, and maps the outcome to an exit code. It never handles a
password beyond reading it from a file, the environment or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence

from . import __version__
from .core import report
from .core.accounts import AccountList, format_problems, read_accounts
from .core.copier import CopyOptions
from .core.engine import Engine, RunRequest
from .core.errors import InputError, KimtError
from .core.events import (
    DONE,
    Event,
    FolderProgress,
    MailboxFinished,
    MailboxStarted,
    Notice,
    RunFinished,
)
from .core.mailbox import JobSettings
from .core.servers import SECURITY_CHOICES, ServerConfig, parse_host

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_STOPPED = 0, 1, 2, 3, 130

EXIT_CODES_HELP = """\
exit codes:
  0    every selected mailbox is complete on the destination
  1    finished, but some messages were skipped or some users failed (see the Report log)
  2    bad command line or users file
  3    a server can't be reached, or the destination refused the admin login
       (nothing was copied)
  130  stopped by the user (Ctrl+C); run the same command again to finish
"""

CSV_HELP = "users file: one 'user@domain.com;password;Full Name[;destination password]' a line"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with our wording, no traceback
        self.print_usage(sys.stderr)
        print(f"kimt: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _server_options(p: argparse.ArgumentParser, side: str, word: str) -> None:
    g = p.add_argument_group(f"{word} server")
    g.add_argument(f"--{side}-host", required=True, metavar="HOST[:PORT]",
                   help=f"the {word} IMAP server")
    g.add_argument(f"--{side}-port", type=int, metavar="N",
                   help="port (default 993 for ssl, 143 otherwise)")
    g.add_argument(f"--{side}-security", choices=SECURITY_CHOICES, default="ssl",
                   help="ssl = implicit TLS (default), starttls, or none (plain text)")
    g.add_argument(f"--{side}-fingerprint", metavar="SHA256:…",
                   help="trust exactly this self-signed certificate")
    g.add_argument(f"--{side}-auth", choices=("user", "master"), default="user",
                   help="user: each user's own password from the users file; "
                        "master: an admin logs in for each user")
    g.add_argument(f"--{side}-master-style", choices=("authzid", "separator"),
                   default="authzid",
                   help="authzid: SASL PLAIN with authorization identity (default); "
                        "separator: Dovecot-style 'user*admin' login")
    g.add_argument(f"--{side}-master-separator", default="*", metavar="C",
                   help="separator for --%(prog)s-master-style separator (default *)"
                   .replace("%(prog)s", side))
    g.add_argument(f"--{side}-user", metavar="ADMIN", help="admin (master) user name")
    g.add_argument(f"--{side}-pass-file", metavar="FILE",
                   help="file whose first line is the admin password")
    g.add_argument(f"--{side}-pass", metavar="PASSWORD",
                   help="admin password on the command line (visible to other users: "
                        f"prefer --{side}-pass-file or KIMT_{side.upper()}_PASS)")
    g.add_argument(f"--{side}-login", choices=("email", "local"), default="email",
                   help="users log in with their full address (default) or the part before @")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="kimt", description="KIMT moves whole mail accounts from an old IMAP "
                "server to a new one. Without a command it starts the wizard.")
    p.add_argument("--version", action="version", version=f"KIMT {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    for name, text in (
        ("migrate", "copy every selected mailbox to the destination (a re-run copies only "
                    "what is missing)"),
        ("verify", "compare every selected mailbox on both servers, copying nothing"),
    ):
        c = sub.add_parser(name, help=text, description=text + ".",
                           epilog=EXIT_CODES_HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        c.add_argument("--users", required=True, metavar="FILE", help=CSV_HELP)
        c.add_argument("--users-encoding", metavar="ENC",
                       help="encoding of the users file (default: detected)")
        c.add_argument("--only", metavar="A,B", help="only these addresses (comma-separated)")
        _server_options(c, "source", "source (old)")
        _server_options(c, "target", "destination (new)")
        c.add_argument("--workers", type=int, default=4, metavar="N",
                       help="mailboxes migrated at the same time (default 4)")
        c.add_argument("--timeout", type=float, default=120, metavar="S",
                       help="seconds to wait for a server's answer (default 120)")
        c.add_argument("--retries", type=int, default=5, metavar="N",
                       help="reconnects per mailbox after a broken connection before that "
                            "mailbox is given up (default 5)")
        c.add_argument("--batch-mb", type=float, default=16, metavar="MB",
                       help="message bytes fetched and appended in one batch (default 16)")
        c.add_argument("--log-dir", metavar="DIR",
                       help="where the KimtLogs run folders go (default: the system's place)")
        c.add_argument("--quiet", action="store_true", help="print only the final summary")

    c = sub.add_parser("check-csv", help="check a users file without connecting anywhere",
                       description="Check a users file: prints each problem with its line "
                                   "number. Exit 0 when every line is good, 2 otherwise.")
    c.add_argument("file")
    c.add_argument("--encoding", metavar="ENC", help="read with this encoding")
    return p


# ----------------------------------------------------------------------------- options

def _read_secret(args: argparse.Namespace, side: str) -> str | None:
    passfile = getattr(args, f"{side}_pass_file")
    literal = getattr(args, f"{side}_pass")
    env = f"KIMT_{side.upper()}_PASS"
    if passfile:
        try:
            with open(passfile, encoding="utf-8-sig") as f:
                secret = f.readline().rstrip("\r\n")
        except OSError as e:
            raise InputError(f"cannot read the password file {passfile}: {e.strerror}") from None
        if not secret:
            raise InputError(f"the password file {passfile} is empty")
        return secret
    if literal is not None:
        print(f"kimt: warning: --{side}-pass is visible to other users of this computer "
              f"(ps); prefer --{side}-pass-file or {env}", file=sys.stderr)
        return literal
    if os.environ.get(env):
        return os.environ.pop(env)  # so the worker processes don't inherit it
    if sys.stdin.isatty():
        return getpass.getpass(f"Password of the {side} admin {getattr(args, f'{side}_user')}: ")
    return None


def _server_config(args: argparse.Namespace, side: str, role: str) -> ServerConfig:
    security = getattr(args, f"{side}_security")
    host, port = parse_host(getattr(args, f"{side}_host"))
    port = getattr(args, f"{side}_port") or port
    auth = getattr(args, f"{side}_auth")
    master_user = getattr(args, f"{side}_user")
    master_password = None
    if auth == "master":
        if not master_user:
            raise InputError(f"--{side}-auth master needs --{side}-user (the admin name)")
        master_password = _read_secret(args, side)
        if not master_password:
            raise InputError(f"no admin password for {role}: use --{side}-pass-file FILE, "
                             f"KIMT_{side.upper()}_PASS, or run on a terminal to be asked")
    return ServerConfig(
        host=host, port=port, security=security,
        fingerprint=getattr(args, f"{side}_fingerprint"),
        read_timeout=args.timeout, auth=auth,
        master_style=getattr(args, f"{side}_master_style"), master_user=master_user,
        master_password=master_password,
        master_separator=getattr(args, f"{side}_master_separator"),
        login_name=getattr(args, f"{side}_login"), role=role)


# ----------------------------------------------------------------------------- rendering

class ConsoleView:
    """Prints the engine's events: a live line on a terminal, plain lines otherwise."""

    def __init__(self, total: int, quiet: bool, dry_run: bool):
        self.total = total
        self.quiet = quiet
        self.dry_run = dry_run
        self.started = 0
        self.finished = 0
        self.live = sys.stdout.isatty() and not quiet
        self._last_draw = 0.0
        self._live_text = ""

    def _clear(self) -> None:
        if self.live and self._live_text:
            print("\r" + " " * len(self._live_text) + "\r", end="")
            self._live_text = ""

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(text, flush=True)

    def __call__(self, event: Event) -> None:
        match event:
            case MailboxStarted(email=email):
                self.started += 1
                self.say(f"[{self.started}/{self.total}] {email}: "
                         + ("comparing" if self.dry_run else "migrating"))
            case FolderProgress() if self.live:
                now = time.monotonic()
                if now - self._last_draw < 0.2 and event.done < event.total:
                    return
                self._last_draw = now
                width = shutil.get_terminal_size((100, 20)).columns - 1
                text = (f"  {event.email}  folder {event.folder_number}/{event.folder_count} "
                        f"'{event.folder}'  {report.number(event.done)}/"
                        f"{report.number(event.total)}  {report.size(event.bytes_copied)}")
                text = text[:width]
                self._clear()
                print(text, end="", flush=True)
                self._live_text = text
            case Notice(email=email, text=text):
                self.say(f"  ! {email}: {text}")
            case MailboxFinished(result=r):
                self.finished += 1
                mark = "ok" if r.state == DONE else "!!"
                if self.dry_run:
                    what = f"{report.number(r.already)} of {report.number(r.total)} there"
                else:
                    what = (f"{report.number(r.copied)} copied, {report.number(r.already)} "
                            f"already there, {len(r.skipped)} skipped, "
                            f"{report.size(r.bytes_copied)}")
                line = f"{mark} {r.email}: {r.state}"
                line += f" — {what} ({report.duration(r.seconds)})" if r.folders else ""
                if r.state != DONE:
                    line += f"\n   {report.verdict(r, self.dry_run)}"
                self.say(line)
            case RunFinished():
                self._clear()


# ----------------------------------------------------------------------------- commands

def _load_accounts(args: argparse.Namespace) -> tuple[AccountList, list]:
    accounts = read_accounts(args.users, args.users_encoding)
    chosen = accounts.select([s for s in args.only.split(",") if s.strip()]) if args.only \
        else list(accounts.accounts)
    if not chosen:
        raise InputError(f"{args.users}: no usable users"
                         + (f"\n{format_problems(accounts)}" if accounts.problems else ""))
    return accounts, chosen


def cmd_run(args: argparse.Namespace, dry_run: bool) -> int:
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
        print(f"kimt: the {len(accounts.problems)} line(s) above are left out; the other "
              f"{len(accounts.accounts)} users go on.", file=sys.stderr)
    source = _server_config(args, "source", "source")
    target = _server_config(args, "target", "destination")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    if args.retries < 0 or args.timeout <= 0:
        raise InputError("--retries must be 0 or more and --timeout more than 0")
    settings = JobSettings(source=source, target=target, max_retries=args.retries,
                           copy=CopyOptions(batch_bytes=int(args.batch_mb * 2**20)))
    described = f"{args.users} ({len(accounts.accounts)} users, encoding {accounts.encoding})"
    if accounts.problems:
        described += "; lines left out: " + "; ".join(
            f"line {p.line}: {p.reason}" for p in accounts.problems)
    request = RunRequest(chosen, settings, args.workers, dry_run, args.log_dir, described)
    view = ConsoleView(len(chosen), args.quiet, dry_run)
    engine = Engine(request, view)

    def on_signal(signum, frame):
        if engine.stopping:
            view.say("Stopping now.")
            engine.stop_now()
        else:
            view.say("Stopping after the batch in flight… (press Ctrl+C again to stop at once)")
            engine.stop()

    old_int = signal.signal(signal.SIGINT, on_signal)
    old_term = signal.signal(signal.SIGTERM, lambda s, f: engine.stop_now())
    try:
        finished = engine.run()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    logs = engine.logs
    assert logs is not None
    if finished.fatal:
        print(f"kimt: {finished.fatal}", file=sys.stderr)
        print(f"Report log: {logs.report_path}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print()
    print(report.totals(finished.results, finished.seconds, dry_run).rstrip())
    print(f"Report log: {logs.report_path}")
    print(f"Debug log:  {logs.debug_path}")
    if finished.stopped:
        print("Stopped. Run the same command again to finish: nothing is copied twice.")
        return EXIT_STOPPED
    complete = all(r.state == DONE for r in finished.results)
    if complete and not dry_run and not accounts.problems:
        print("Every message is on the destination.")
    return EXIT_OK if complete and not accounts.problems else EXIT_PROBLEMS


def cmd_check_csv(args: argparse.Namespace) -> int:
    accounts = read_accounts(args.file, args.encoding)
    print(format_problems(accounts).rstrip())
    return EXIT_OK if not accounts.problems and accounts.accounts else EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a DOS code page must not crash on '•••'
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("migrate", "verify"):
            return cmd_run(args, dry_run=args.command == "verify")
        if args.command == "check-csv":
            return cmd_check_csv(args)
        return start_gui()
    except InputError as e:
        print(f"kimt: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KimtError as e:
        print(f"kimt: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print("\nkimt: stopped.", file=sys.stderr)
        return EXIT_STOPPED


def start_gui() -> int:
    try:
        from .gui import app  # noqa: F401  (arrives with the wizard)
    except ImportError:
        build_parser().print_help()
        print("\nThe wizard is not part of this build yet; use 'kimt migrate'.",
              file=sys.stderr)
        return EXIT_USAGE
    return app.main()
