"""The admin's choices turned into the engine's records: what the CLI and the wizard share.

`server_config`, `kerio_provisioning` and `run_request` take plain values
(already read from options, files, the environment or the wizard's fields)
and apply the rules that must be the same whichever front end asked: one
path builds a run, so the same inputs give the same run settings; a ':port' in the host
unless a port is given, only the login fields the chosen method uses (a
stale admin name or token command never rides along), a token command
checked for quoting mistakes, a master separator that can be sent,
Kerio's admin API on the destination's host at port 4040 unless told
otherwise, and a post-migrate script that exists and can be run. A 4D
WebSTAR migration (`webstar_source`, `webstar_request`) is the same run:
its users come from the 4D configuration instead of a users file, and its
post offices become the Kerio domains to create first.
Wording that names an option or a field stays with the caller.
"""

from __future__ import annotations

from dataclasses import replace

from .accounts import Account, AccountList
from .copier import CopyOptions
from .engine import RunRequest
from .errors import SettingsError
from .folder_rules import FolderRules
from .kerio import DEFAULT_PORT as KERIO_PORT
from .kerio import KerioAdmin
from .mailbox import JobSettings
from .oauth import split_command
from .presets import limits as preset_limits
from .presets import preset
from .provision import DomainPlan, KerioProvisioning
from .script import DEFAULT_TIMEOUT_MINUTES as DEFAULT_SCRIPT_MINUTES
from .script import post_migrate_script as post_migrate
from .servers import ServerConfig, parse_host
from .slowdown import SlowdownRule
from .webstar import DEFAULT_IMAP_PORT, WebstarConfig

MASTER_LOGINS = ("master", "kerio-master")  # the logins that need an admin (master) password
MAX_WORKERS = 64  # mailboxes at once: past this a server's connection limit is the bound
DEFAULT_WORKERS, DEFAULT_RETRIES, DEFAULT_BATCH_MB = 4, 5, 4.0
# Connection pairs per mailbox: folders copied side by side. Two halve a link's round
# trips for a mailbox of many folders; more rarely help and count against a server's
# per-user connection limit (Dovecot: 10 per user and address by default).
DEFAULT_CONNECTIONS, MAX_CONNECTIONS = 2, 8


def server_config(role: str, host: str, *, port: int | None = None, security: str = "ssl",
                  fingerprint: str | None = None, auth: str = "user",
                  master_style: str = "authzid", master_user: str | None = None,
                  master_password: str | None = None, master_separator: str = "*",
                  login_name: str = "email", oauth_token_command: str | None = None,
                  read_timeout: float = 120.0,
                  command_name: str = "--oauth-token-command",
                  trust_advice: str | None = None) -> ServerConfig:
    """A `ServerConfig` for `role` ("source" / "destination"); raises SettingsError.

    `command_name` and `trust_advice` are the caller's words for its token command
    field and for how a refused certificate is trusted (None: the CLI's option)."""
    host_name, host_port = parse_host(host)
    if auth == "xoauth2" and oauth_token_command:
        split_command(oauth_token_command, command_name)  # a quoting mistake, said now
    if auth == "master" and master_style == "separator":
        separator_problem(master_separator)
    return ServerConfig(
        host=host_name, port=port or host_port, security=security,
        fingerprint=fingerprint or None, read_timeout=read_timeout, auth=auth,
        master_style=master_style,
        master_user=master_user if auth == "master" else None,
        master_password=master_password if auth in MASTER_LOGINS else None,
        master_separator=master_separator, login_name=login_name, role=role,
        oauth_token_command=(oauth_token_command or None) if auth == "xoauth2" else None,
        trust_advice=trust_advice)


def separator_problem(separator: str) -> None:
    """Raise SettingsError unless `separator` can stand between user and admin names."""
    if not separator:
        raise SettingsError("the master separator is empty (Dovecot's default is *)")
    if any(c.isspace() or c in '"\\' for c in separator) or not separator.isprintable():
        raise SettingsError(f"the master separator {separator!r} can't contain spaces, "
                            "quotes or backslashes")


def kerio_address(text: str | None, target_host: str) -> tuple[str, int]:
    """Where Kerio's admin API is: 'host[:port]', or nothing for the destination at 4040."""
    if text and text.strip():
        host, port = parse_host(text, KERIO_PORT)
        return host, port or KERIO_PORT
    return target_host, KERIO_PORT


def kerio_provisioning(address: str | None, target_host: str, user: str, password: str,
                       fingerprint: str | None = None, generate_passwords: bool = False,
                       timeout: float = 30.0, trust_advice: str | None = None
                       ) -> KerioProvisioning:
    """What the engine needs to create the destination accounts in Kerio Connect."""
    host, port = kerio_address(address, target_host)
    admin = KerioAdmin(host, port, user, password, fingerprint or None, timeout=timeout,
                       trust_advice=trust_advice)
    return KerioProvisioning(admin, generate_passwords)


def describe_users(users: AccountList) -> str:
    """The users file as the Report's header names it, with the lines left out."""
    text = f"{users.path} ({len(users.accounts)} users, encoding {users.encoding})"
    if users.problems:
        text += "; lines left out: " + "; ".join(
            f"line {p.line}: {p.reason}" for p in users.problems)
    return text


def run_request(users: AccountList | None, chosen: list[Account], source: ServerConfig,
                destination: ServerConfig, *, workers: int = DEFAULT_WORKERS,
                retries: int = DEFAULT_RETRIES, batch_mb: float = DEFAULT_BATCH_MB,
                connections: int = DEFAULT_CONNECTIONS, verify: bool = False,
                log_dir: str | None = None,
                state_dir: str | None = None,
                provision: KerioProvisioning | None = None,
                users_text: str | None = None,
                folders: FolderRules | None = None,
                source_kind: str = "generic", destination_kind: str = "generic",
                max_connections: int | None = None,
                bytes_per_second: float | None = None,
                messages_per_second: float | None = None,
                bytes_per_day: int | None = None,
                public_into: str | None = None,
                post_migrate_script: str | None = None,
                post_migrate_minutes: float = DEFAULT_SCRIPT_MINUTES) -> RunRequest:
    """The one way a front end builds a run; raises SettingsError on a value out of range.

    `users_text` names where the users came from when it was no users file; `folders`
    are the folder choices (`folder_rules.folder_rules`); `source_kind` and
    `destination_kind` name the presets (`presets.PRESETS`) whose figures fill the
    limits not given and whose source folder rules follow the admin's; `public_into`
    is the mailbox (one of `chosen`) the source's public folders go into;
    `post_migrate_script`, a program to run after each completed mailbox (checked now).
    """
    if not 1 <= workers <= MAX_WORKERS:
        raise SettingsError(f"mailboxes at the same time (workers) must be 1 to {MAX_WORKERS}, "
                            f"not {workers}")
    if not 1 <= connections <= MAX_CONNECTIONS:
        raise SettingsError(f"connections per mailbox must be 1 to {MAX_CONNECTIONS}, "
                            f"not {connections}")
    if retries < 0:
        raise SettingsError(f"reconnects per mailbox (retries) can't be negative ({retries})")
    if not 0 < batch_mb <= 1024:
        raise SettingsError(f"the batch size must be more than 0 and at most 1024 MB, "
                            f"not {batch_mb:g}")
    public_into = (public_into or "").strip() or None
    if public_into and not any(a.email.casefold() == public_into.casefold() for a in chosen):
        raise SettingsError(f"the mailbox for the public folders, {public_into}, is not among "
                            "the users to migrate: it needs its line in the users file (and "
                            "to be selected) like any other")
    src_kind, dst_kind = preset(source_kind), preset(destination_kind)
    limits = preset_limits(src_kind, dst_kind, source_master=source.auth in MASTER_LOGINS,
                           destination_master=destination.auth in MASTER_LOGINS,
                           max_connections=max_connections,
                           bytes_per_second=bytes_per_second,
                           messages_per_second=messages_per_second,
                           bytes_per_day=bytes_per_day)
    copy = CopyOptions(batch_bytes=int(batch_mb * 2**20),
                       max_message_bytes=limits.max_message_bytes,
                       size_reason=limits.max_message_reason)
    settings = JobSettings(source=source, destination=destination, max_retries=retries,
                           copy=copy, state_dir=state_dir, connections=connections,
                           folders=(folders or FolderRules()).plus(src_kind.folders),
                           limits=limits, kinds=(src_kind.name, dst_kind.name),
                           public_into=public_into,
                           slowdown=SlowdownRule.from_environment())
    script = None
    if post_migrate_script and not verify:
        script = post_migrate(post_migrate_script, post_migrate_minutes)
    if users_text is None:
        users_text = describe_users(users) if users is not None else ""
    return RunRequest(list(chosen), settings, workers, verify, log_dir, users_text,
                      provision=provision, post_migrate=script)


def webstar_source(host: str, port: int | None = DEFAULT_IMAP_PORT, security: str = "none",
                   fingerprint: str | None = None, read_timeout: float = 120.0
                   ) -> ServerConfig:
    """4D's IMAP service: each user logs in with their 4D login name and password."""
    return server_config("source", host, port=port, security=security,
                         fingerprint=fingerprint, auth="user", login_name="local",
                         read_timeout=read_timeout)


def webstar_request(config: WebstarConfig, chosen: list[Account], source: ServerConfig,
                    destination: ServerConfig, provision: KerioProvisioning,
                    **choices) -> RunRequest:
    """A 4D WebSTAR migration to Kerio Connect, for the CLI (`4d2kms`) and the wizard.

    The post offices of the chosen users become the domains Kerio gets first,
    named after their first domain, the others their aliases; the Report
    names the configuration and every user left out, with the reason.
    """
    wanted = {config.post_office_of.get(a.email.casefold()) for a in chosen}
    plans = tuple(DomainPlan(po.domain, po.aliases, f"post office {po.name}")
                  for po in config.post_offices if po.domain and po.name in wanted)
    return run_request(None, chosen, source, destination,
                       provision=replace(provision, domains=plans, password_source="4D"),
                       users_text=config.describe(), **choices)
