"""`kimt` on the command line: migrate, verify, check, check-csv, 4d2kms, cluster-* (the
wizard without arguments).

A thin layer: it turns options into a `RunRequest`, renders the engine's
events as text, and maps the outcome to an exit code. It never handles a
password beyond reading it from a file, the environment or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from . import __version__
from .cli_cluster import COMMANDS as CLUSTER_COMMANDS
from .cli_cluster import add_cluster_commands, add_cluster_options, coordinator
from .core import report, survey
from .core.accounts import AccountList, format_problems, read_accounts
from .core.engine import Engine, RunRequest
from .core.errors import InputError, KimtError
from .core.events import (
    DAY_OVER,
    DONE,
    SCRIPT_FAILED,
    Event,
    FolderProgress,
    MailboxFinished,
    MailboxStarted,
    Notice,
    RunFinished,
    ScriptStarted,
)
from .core.folder_rules import FolderRules, folder_rules
from .core.logs import copy_report, log_file_problem
from .core.options import (
    DEFAULT_BATCH_MB,
    DEFAULT_CONNECTIONS,
    DEFAULT_SCRIPT_MINUTES,
    MASTER_LOGINS,
    MAX_CONNECTIONS,
    kerio_provisioning,
    run_request,
    server_config,
)
from .core.presets import PRESETS
from .core.provision import KerioProvisioning, domain_words
from .core.provision import summary as provision_summary
from .core.report import plural
from .core.servers import AUTHENTICATORS, MASTER_STYLES, SECURITY_CHOICES, ServerConfig
from .system.workers import start_early

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_STOPPED = 0, 1, 2, 3, 130
EXIT_DAY_OVER = 4

EXIT_CODES_HELP = """\
exit codes:
  0    every selected mailbox is complete on the destination
  1    finished, but some messages were skipped, some users failed or the post-migrate
       script failed (see the Report log)
  2    bad command line or users file
  3    a server can't be reached, or the destination refused the admin login
       (nothing was copied)
  4    a daily limit (a provider's, or --max-bytes-per-day) stopped mailboxes at a
       clean point, nothing else is wrong: run the same command again after the time
       printed to go on
  130  stopped by the user (Ctrl+C); run the same command again to finish
"""

AUTH_CHOICES = tuple(AUTHENTICATORS)  # user, master, kerio-master, xoauth2
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
                   help="port (default 993 for ssl, 143 otherwise; auto tries both ways "
                        "on the port given)")
    g.add_argument(f"--{side}-security", choices=SECURITY_CHOICES, default="ssl",
                   help="ssl = implicit TLS (default), starttls, auto = detect (SSL/TLS on "
                        "993, else STARTTLS on 143; never plain text), or none (plain text)")
    g.add_argument(f"--{side}-fingerprint", metavar="SHA256:…",
                   help="trust exactly this self-signed certificate")
    g.add_argument(f"--{side}-auth", choices=AUTH_CHOICES, default="user",
                   help="user: each user's own password from the users file; "
                        "master: an admin logs in for each user; kerio-master: Kerio "
                        f"Connect's master authentication (the master password in --{side}-pass-"
                        "file); xoauth2: an access token per user (the password column, or "
                        "--oauth-token-command)")
    g.add_argument(f"--{side}-master-style", choices=MASTER_STYLES,
                   default="authzid",
                   help="authzid: SASL PLAIN with authorization identity (default; Dovecot, "
                        "Cyrus, Zimbra, Exchange); separator: Dovecot-style 'user*admin' "
                        "login; combined: Exchange's 'DOMAIN\\admin\\user' login (the admin "
                        f"name as 'DOMAIN\\admin' or 'admin@domain' in --{side}-user)")
    g.add_argument(f"--{side}-preset", choices=tuple(PRESETS), default="generic",
                   help="the kind of server: gmail, m365 (Microsoft 365 / Exchange Online), "
                        "exchange (on-premises) fill in its connection caps, rates, size "
                        "limit and folder rules (docs/providers.md); generic: none (default)")
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


def _kerio_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("destination accounts (Kerio Connect)")
    g.add_argument("--target-kind", choices=("imap", "kerio"), default="imap",
                   help="imap: the accounts exist already (default); kerio: Kerio Connect, "
                        "whose missing domains and users KIMT creates first through its "
                        "admin API")
    g.add_argument("--kerio-host", metavar="HOST[:PORT]",
                   help="Kerio's admin API (default: the destination host, port 4040)")
    g.add_argument("--kerio-user", metavar="ADMIN",
                   help="Kerio administrator (default: --target-user)")
    g.add_argument("--kerio-pass-file", metavar="FILE",
                   help="file whose first line is that administrator's password (also "
                        "KIMT_KERIO_PASS; default: the --target-user password when it is the "
                        "same admin)")
    g.add_argument("--kerio-pass", metavar="PASSWORD",
                   help="on the command line (visible to other users: prefer the file)")
    g.add_argument("--kerio-fingerprint", metavar="SHA256:…",
                   help="trust exactly this self-signed certificate of the admin API")
    g.add_argument("--generate-passwords", action="store_true",
                   help="new users without a 4th-column password get a generated strong one, "
                        "written to the Report log only (else: the source password)")
    _oauth_option(p)


def _folder_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("folders", "Folder names as the source shows them, with '/' "
                             "between a folder and its subfolder (whatever the server uses); "
                             "upper or lower case alike. A folder chosen brings its "
                             "subfolders along.")
    g.add_argument("--exclude-folder", action="append", default=[], metavar="PATTERN",
                   help="leave out the source folders this matches, e.g. 'Trash' or "
                        "'Archive/20*' (* any characters, ? one; repeatable; wins over "
                        "--include-folder)")
    g.add_argument("--include-folder", action="append", default=[], metavar="PATTERN",
                   help="copy only the source folders these match (repeatable)")
    g.add_argument("--map-folder", action="append", default=[], metavar="SOURCE=DEST",
                   help="copy the source folder SOURCE into DEST on the destination, e.g. "
                        "'Old Sent=Sent' or 'Sent Items=\\Sent' (\\Sent, \\Drafts, "
                        "\\Trash, \\Junk, \\Archive: the destination's folder of that "
                        "use); wins over the automatic mapping of special folders "
                        "(repeatable)")


def _folder_rules(args: argparse.Namespace) -> FolderRules:
    return folder_rules(args.exclude_folder, args.include_folder,
                        getattr(args, "map_folder", []),
                        names=("--exclude-folder", "--include-folder", "--map-folder"))


def _oauth_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--oauth-token-command", metavar="CMD",
                   help="for --source-auth/--target-auth xoauth2: a command that prints an "
                        "access token; it gets the address on stdin and in KIMT_OAUTH_EMAIL "
                        "(KIMT_OAUTH_SIDE tells source or destination)")


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
        c.add_argument("--connections-per-mailbox", type=int, default=DEFAULT_CONNECTIONS,
                       metavar="N", dest="connections",
                       help="connections to each server per mailbox: its folders are copied "
                            f"side by side (default {DEFAULT_CONNECTIONS}, at most "
                            f"{MAX_CONNECTIONS})")
        c.add_argument("--batch-mb", type=float, default=DEFAULT_BATCH_MB, metavar="MB",
                       help="message bytes fetched and appended in one batch (default "
                            f"{DEFAULT_BATCH_MB:g})")
        c.add_argument("--max-connections", type=int, metavar="N",
                       help="connections open at once to each server, all mailboxes "
                            "together (default: the server kind's, else no cap)")
        c.add_argument("--max-bytes-per-second", type=float, metavar="B",
                       help="message bytes copied per second, the whole run together")
        c.add_argument("--max-messages-per-second", type=float, metavar="N",
                       help="messages copied per second, the whole run together (default: "
                            "the server kind's)")
        c.add_argument("--max-bytes-per-day", type=int, metavar="B",
                       help="message bytes copied per mailbox before KIMT stops that mailbox "
                            "for the day, so that a provider's daily cap never locks the "
                            "account; running again a day later goes on (default: 80%% of "
                            "the server kind's daily cap, Gmail's 2 500 MB download and 500 MB "
                            "upload; 0: none)")
        _folder_options(c)
        c.add_argument("--public-into", metavar="USER@DOMAIN",
                       help="copy the source's public (shared) folders, as the admin login "
                            "sees them, into this mailbox under 'Public Folders/' (it must "
                            "be one of the users migrated); without it they are left out "
                            "and listed")
        c.add_argument("--log-dir", metavar="DIR",
                       help="where the KimtLogs run folders go (default: the system's place)")
        c.add_argument("--log-file", metavar="PATH",
                       help="also put a copy of the Report log here (readable by you alone)")
        c.add_argument("--state-dir", metavar="DIR",
                       help="where the migration journal lives (default: your state folder, "
                            "see the README); deleting it is safe")
        c.add_argument("--quiet", action="store_true", help="print only the final summary")
        if name == "migrate":
            c.add_argument("--post-migrate-script", metavar="PATH",
                           help="run this program after each mailbox that completes (not for "
                                "failed or stopped ones), without a shell: the address is its "
                                "argument, the password comes on its standard input and in "
                                "KIMT_PASSWORD; its exit code and last lines of output go to "
                                "the Report, and a failure marks the mailbox 'done, script "
                                "failed'")
            c.add_argument("--post-migrate-timeout", type=float,
                           default=DEFAULT_SCRIPT_MINUTES, metavar="MIN",
                           help="minutes the script may run before it is stopped and counts "
                                f"as failed (default {DEFAULT_SCRIPT_MINUTES:g})")
            c.add_argument("--passwords-only", action="store_true",
                           help="copy no mail: check each user's password on the source (a "
                                "login, nothing else) and set it on the destination where it "
                                "differs (Kerio Connect, --target-kind kerio), for accounts "
                                "whose mail was moved by other means")
        add_cluster_options(c)
        _kerio_options(c)

    text = ("try every selected user's login on the source and estimate their mailboxes "
            "(reads only)")
    c = sub.add_parser("check", help=text, description=text + ". Exit 0 when every login "
                       "works, 1 when some fail, 2 on a bad users file, 3 when the source "
                       "can't be reached.")
    c.add_argument("--users", required=True, metavar="FILE", help=CSV_HELP)
    c.add_argument("--users-encoding", metavar="ENC",
                   help="encoding of the users file (default: detected)")
    c.add_argument("--only", metavar="A,B", help="only these addresses (comma-separated)")
    _server_options(c, "source", "source (old)")
    _oauth_option(c)
    c.add_argument("--no-estimate", action="store_true",
                   help="only check the logins, don't count folders and messages")
    _folder_options(c)
    c.add_argument("--workers", type=int, default=4, metavar="N",
                   help="users checked at the same time (default 4)")
    c.add_argument("--timeout", type=float, default=120, metavar="S",
                   help="seconds to wait for a server's answer (default 120)")

    c = sub.add_parser("check-csv", help="check a users file without connecting anywhere",
                       description="Check a users file: prints each problem with its line "
                                   "number. Exit 0 when every line is good, 2 otherwise.")
    c.add_argument("file")
    c.add_argument("--encoding", metavar="ENC", help="read with this encoding")

    from .cli_4d import HELP, add_4d2kms_options  # (it imports this module)

    add_4d2kms_options(sub.add_parser("4d2kms", help=HELP))
    add_cluster_commands(sub)
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
        who = getattr(args, f"{side}_user", None)
        what = f"Password of the {side} admin {who}: " if who else f"{side} master password: "
        return getpass.getpass(what)
    return None


def _server_config(args: argparse.Namespace, side: str, role: str) -> ServerConfig:
    auth = getattr(args, f"{side}_auth")
    master_user = getattr(args, f"{side}_user")
    master_password = None
    if auth == "master" and not master_user:
        raise InputError(f"--{side}-auth master needs --{side}-user (the admin name)")
    if auth in MASTER_LOGINS:
        master_password = _read_secret(args, side)
        if not master_password:
            raise InputError(f"no admin password for {role}: use --{side}-pass-file FILE, "
                             f"KIMT_{side.upper()}_PASS, or run on a terminal to be asked")
    return server_config(
        role, getattr(args, f"{side}_host"), port=getattr(args, f"{side}_port"),
        security=getattr(args, f"{side}_security"),
        fingerprint=getattr(args, f"{side}_fingerprint"), auth=auth,
        master_style=getattr(args, f"{side}_master_style"), master_user=master_user,
        master_password=master_password,
        master_separator=getattr(args, f"{side}_master_separator"),
        login_name=getattr(args, f"{side}_login"),
        oauth_token_command=args.oauth_token_command,
        read_timeout=args.timeout)


def _kerio_provisioning(args: argparse.Namespace,
                        destination: ServerConfig) -> KerioProvisioning | None:
    """The Kerio admin API settings of `--target-kind kerio`, None for a plain IMAP target."""
    if args.target_kind != "kerio":
        if args.generate_passwords:
            raise InputError("--generate-passwords needs --target-kind kerio (KIMT creates "
                             "accounts only through Kerio's admin API)")
        return None
    user = args.kerio_user or args.target_user
    if not user:
        raise InputError("--target-kind kerio needs the Kerio administrator: --kerio-user NAME")
    explicit = (args.kerio_pass_file or args.kerio_pass is not None
                or os.environ.get("KIMT_KERIO_PASS"))
    same_admin = user == args.target_user and destination.auth == "master"
    if not explicit and same_admin and destination.master_password:
        password = destination.master_password
    else:
        password = _read_secret(args, "kerio")
    if not password:
        raise InputError("no password for the Kerio administrator: use --kerio-pass-file FILE, "
                         "KIMT_KERIO_PASS, or run on a terminal to be asked")
    return kerio_provisioning(args.kerio_host, destination.host, user, password,
                              args.kerio_fingerprint, args.generate_passwords,
                              timeout=min(args.timeout, 60))


# ----------------------------------------------------------------------------- rendering

class ConsoleView:
    """Prints the engine's events: a live line on a terminal, plain lines otherwise."""

    def __init__(self, total: int, quiet: bool, verify: bool):
        self.total = total
        self.quiet = quiet
        self.verify = verify
        self.started = 0
        self.finished = 0
        self.live = sys.stdout.isatty() and not quiet
        self._last_draw = 0.0
        self._live_text = ""
        self.active: dict[str, str] = {}

    def _clear(self) -> None:
        if self.live and self._live_text:
            print("\r" + " " * len(self._live_text) + "\r", end="")
            self._live_text = ""

    def say(self, text: str) -> None:
        if self.quiet:
            return
        self._clear()
        print(text, flush=True)
        self._draw()

    def _draw(self) -> None:
        """One live line: every mailbox in progress with its folder and count."""
        if not self.live or not self.active:
            return
        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = f"  {self.finished}/{self.total} done | " + " | ".join(self.active.values())
        text = text if len(text) <= width else text[: width - 1] + "…"
        self._clear()
        print(text, end="", flush=True)
        self._live_text = text

    def __call__(self, event: Event) -> None:
        match event:
            case MailboxStarted(email=email):
                self.started += 1
                self.say(f"[{self.started}/{self.total}] {email}: "
                         + ("comparing" if self.verify else "migrating"))
            case FolderProgress() if self.live:
                self.active[event.email] = (f"{event.email} '{event.folder}' "
                                            f"{report.number(event.done)}/"
                                            f"{report.number(event.total)}")
                now = time.monotonic()
                if now - self._last_draw >= 0.2 or event.done >= event.total:
                    self._last_draw = now
                    self._draw()
            case Notice(email=email, text=text):
                self.say(f"  ! {email}: {text}")
            case ScriptStarted(email=email, state=state):
                self.active.pop(email, None)  # its mail is done: no more progress to draw
                self.say(f"   {email}: {state}; running the post-migrate script")
            case MailboxFinished(result=r):
                self.finished += 1
                self.active.pop(r.email, None)
                mark = "ok" if r.state == DONE else "!!"
                if self.verify:
                    what = f"{report.number(r.already)} of {report.number(r.total)} there"
                else:
                    what = (f"{report.number(r.copied)} copied, {report.number(r.already)} "
                            f"already there, {len(r.skipped)} skipped, "
                            f"{report.size(r.bytes_copied)}")
                line = f"{mark} {r.email}: {r.state}"
                line += f" — {what} ({report.duration(r.seconds)})" if r.folders else ""
                if r.script is not None and r.script.ok:
                    line += f"; post-migrate script: exit code {r.script.exit_code}"
                if r.state != DONE:
                    line += f"\n   {report.verdict(r, self.verify)}"
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


def build_request(args: argparse.Namespace, accounts: AccountList, chosen: list,
                  verify: bool) -> RunRequest:
    """The run these options ask for (through `options.run_request`, as the wizard)."""
    if args.timeout <= 0:
        raise InputError("--timeout must be more than 0")
    for option, value in (("--max-bytes-per-second", args.max_bytes_per_second),
                          ("--max-messages-per-second", args.max_messages_per_second)):
        if value is not None and not value > 0:
            raise InputError(f"{option} must be more than 0, not {value:g}")
    if args.max_bytes_per_day is not None and args.max_bytes_per_day < 0:
        raise InputError(f"--max-bytes-per-day can't be negative ({args.max_bytes_per_day})")
    if args.max_connections is not None and args.max_connections < 1:
        raise InputError(f"--max-connections must be at least 1, not {args.max_connections}")
    source = _server_config(args, "source", "source")
    destination = _server_config(args, "target", "destination")
    return run_request(accounts, chosen, source, destination, workers=args.workers,
                       retries=args.retries, batch_mb=args.batch_mb,
                       connections=args.connections, verify=verify,
                       log_dir=args.log_dir, state_dir=args.state_dir,
                       provision=_kerio_provisioning(args, destination),
                       folders=_folder_rules(args), source_kind=args.source_preset,
                       destination_kind=args.target_preset,
                       max_connections=args.max_connections,
                       bytes_per_second=args.max_bytes_per_second,
                       messages_per_second=args.max_messages_per_second,
                       bytes_per_day=args.max_bytes_per_day,
                       public_into=args.public_into,
                       post_migrate_script=getattr(args, "post_migrate_script", None),
                       post_migrate_minutes=getattr(args, "post_migrate_timeout",
                                                    DEFAULT_SCRIPT_MINUTES))


def check_log_file(args: argparse.Namespace) -> None:
    """A --log-file that can't be written is said before the run, not after it."""
    problem = log_file_problem(args.log_file) if args.log_file else None
    if problem:
        raise InputError(f"--log-file: {problem}")


def cmd_run(args: argparse.Namespace, verify: bool) -> int:
    check_log_file(args)
    _folder_rules(args)  # a mistake in them is said before the users file is read
    cluster = coordinator(args)  # a wrong address or a missing extra, said now
    if cluster is not None and getattr(args, "passwords_only", False):
        raise InputError("--passwords-only runs on this computer: leave out --cluster")
    if getattr(args, "passwords_only", False):
        from .cli_passwords import cmd_passwords  # (it imports this module)

        return cmd_passwords(args)
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
        n = len(accounts.problems)
        print(f"kimt: the {'line' if n == 1 else f'{n} lines'} above "
              f"{'is' if n == 1 else 'are'} left out; the other "
              f"{plural(len(accounts.accounts), 'user')} go on.", file=sys.stderr)
    request = build_request(args, accounts, chosen, verify)
    finished = run_engine(request, ConsoleView(len(chosen), args.quiet, verify), cluster)
    left_out = (f"{plural(len(accounts.problems), 'line')} of the users file "
                f"{'was' if len(accounts.problems) == 1 else 'were'} left out (listed at "
                "the start and in the Report log)." if accounts.problems else "")
    return closing(finished, verify, left_out, args.log_file)


def run_engine(request: RunRequest, view: ConsoleView, cluster=None) -> RunFinished:
    """Run with Ctrl+C as Stop (a second one stops at once) and SIGTERM as stop now;
    with `cluster` (a `cluster.Coordinator`), on its Dask workers."""
    engine = Engine(request, view, cluster)

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
        return engine.run()
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def closing(finished: RunFinished, verify: bool, left_out: str = "",
            log_file: str | None = None) -> int:
    """Print how the run ended; the exit code. `left_out`: users the input left out;
    `log_file`: where a copy of the Report goes (a copy that fails makes 0 a 1)."""
    code = _closing(finished, verify, left_out)
    if log_file and finished.report_path:
        try:
            print(f"Report copy: {copy_report(finished.report_path, log_file)}",
                  file=sys.stderr if finished.fatal else sys.stdout)
        except InputError as e:
            print(f"kimt: {e}", file=sys.stderr)
            code = code or EXIT_PROBLEMS
    return code


def _closing(finished: RunFinished, verify: bool, left_out: str) -> int:
    if finished.fatal:
        print(f"kimt: {finished.fatal}", file=sys.stderr)
        print(f"Report log: {finished.report_path}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print()
    if finished.accounts is not None:
        print(provision_summary(finished.accounts))
        for d in finished.accounts.domains:
            print(f"  {d.name}" + (f" ({d.origin})" if d.origin else "")
                  + f": {domain_words(d)}")
    print(report.totals(finished.results, finished.seconds, verify).rstrip())
    print(f"Report log: {finished.report_path}")
    print(f"Debug log:  {finished.debug_path}")
    if finished.stopped:
        print("Stopped. Run the same command again to finish: nothing is copied twice.")
        return EXIT_STOPPED
    incomplete = [r for r in finished.results if r.mail_state != DONE]
    script_failed = [r for r in finished.results if r.state == SCRIPT_FAILED]
    for line in report.closing_lines(finished.results, verify):
        print(line)
    day_over = [r for r in incomplete if r.state == DAY_OVER]
    if day_over and len(day_over) == len(incomplete) and not script_failed and not left_out:
        return EXIT_DAY_OVER  # the totals said when (report.day_over_advice)
    if incomplete:
        print(f"Not complete: {len(incomplete)} of "
              f"{plural(len(finished.results), 'mailbox', 'mailboxes')}, see "
              "the Report log." + ("" if verify else " " + report.next_step(incomplete)))
    elif not verify:
        print("Every message is on the destination.")
    if script_failed:
        print("The post-migrate script failed for "
              f"{plural(len(script_failed), 'mailbox', 'mailboxes')}, listed "
              "in the Report log with its exit code and last lines of output: fix it, then "
              "run it by hand for them, or run again (nothing is copied twice; the script "
              "runs again).")
    if left_out:
        print(left_out)
    return EXIT_OK if not incomplete and not script_failed and not left_out else EXIT_PROBLEMS


def cmd_check(args: argparse.Namespace) -> int:
    accounts, chosen = _load_accounts(args)
    if accounts.problems:
        print(format_problems(accounts).rstrip(), file=sys.stderr)
    source = _server_config(args, "source", "source")
    folders = _folder_rules(args).plus(PRESETS[args.source_preset].folders)
    reached = survey.try_connection(source)
    if not reached.ok:
        print(f"kimt: {reached.text}", file=sys.stderr)
        if reached.untrusted_fingerprint:
            print(f"If you trust exactly this certificate, run again with "
                  f"--source-fingerprint {reached.untrusted_fingerprint}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(reached.text)
    if reached.offered:
        print(f"Before login the server offers {', '.join(reached.offered)}.")
    source = reached.config or source  # security 'auto' decided once, for every login

    def one(account):
        if args.no_estimate:
            return survey.check_login(source, account), None
        return survey.check_and_estimate(source, account, folders)

    failed = 0
    total = survey.Estimate("", 0, 0, 0)
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        for login, found in pool.map(one, chosen):
            if not login.ok:
                failed += 1
                print(f"!! {login.email}: failed — {login.reason}")
                continue
            line = f"ok {login.email}"
            if found is not None:
                line += f": {found.describe()}"
                if found.ok:
                    total = survey.Estimate("", total.folders + found.folders,
                                            total.messages + found.messages,
                                            total.bytes + found.bytes)
            print(line, flush=True)
    print(f"\n{len(chosen) - failed} of {len(chosen)} logins work.")
    if not args.no_estimate:
        print(f"Estimate: {total.describe()} to migrate.")
    return EXIT_OK if not failed and not accounts.problems else EXIT_PROBLEMS


def cmd_check_csv(args: argparse.Namespace) -> int:
    accounts = read_accounts(args.file, args.encoding)
    print(format_problems(accounts).rstrip())
    return EXIT_OK if not accounts.problems and accounts.accounts else EXIT_USAGE


def main(argv: Sequence[str] | None = None,
         parser: argparse.ArgumentParser | None = None) -> int:
    """`kimt`; with `parser`, a command of its own (`4d2kms`) whose parser names it."""
    multiprocessing.freeze_support()  # first: a frozen worker process must stop here
    argv = sys.argv[1:] if argv is None else list(argv)
    start_early(argv if parser is None else [parser.prog, *argv])  # `python -m kimt` did
    for stream in (sys.stdout, sys.stderr):  # a DOS code page must not crash on '•••'
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    args = (parser or build_parser()).parse_args(argv)
    name = parser.prog if parser is not None else "kimt"
    try:
        if args.command in ("migrate", "verify"):
            return cmd_run(args, verify=args.command == "verify")
        if args.command == "check":
            return cmd_check(args)
        if args.command == "check-csv":
            return cmd_check_csv(args)
        if args.command in CLUSTER_COMMANDS:
            return CLUSTER_COMMANDS[args.command](args)
        if args.command == "4d2kms":
            from .cli_4d import cmd_4d2kms

            return cmd_4d2kms(args)
        return start_gui()
    except InputError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KimtError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:
        print(f"\n{name}: stopped.", file=sys.stderr)
        return EXIT_STOPPED


def start_gui() -> int:
    try:
        from .gui import app
    except ImportError as e:  # e.g. a Python without Tk
        build_parser().print_help()
        print(f"\nThe wizard can't start here ({e}); use 'kimt migrate'.", file=sys.stderr)
        return EXIT_USAGE
    return app.main()
