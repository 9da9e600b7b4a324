"""The command line's options, and what they become: `build_parser` draws every
command's options (`kimt migrate`, `verify`, `check`, `check-csv`, `4d2kms` through
`cli_4d`, the `cluster-*` commands through `cli_cluster`), `_server_config` and
`_kerio_provisioning` turn a side's options into the core's configuration, reading
a password from a file, the environment or a prompt — never from anywhere else.
`cli` runs the commands; the exit codes are drawn here, with the help that lists them.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from . import __version__
from .cli_cluster import add_cluster_commands, add_cluster_options
from .core.errors import InputError
from .core.folder_rules import FolderRules, folder_rules
from .core.options import (
    DEFAULT_BATCH_MB,
    DEFAULT_CONNECTIONS,
    DEFAULT_SCRIPT_MINUTES,
    MASTER_LOGINS,
    MAX_CONNECTIONS,
    kerio_provisioning,
    server_config,
)
from .core.presets import PRESETS
from .core.provision import KerioProvisioning
from .core.servers import AUTHENTICATORS, MASTER_STYLES, SECURITY_CHOICES, ServerConfig

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
                            f"{MAX_CONNECTIONS}; on a fast network one more for every 50 "
                            "messages only)")
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


