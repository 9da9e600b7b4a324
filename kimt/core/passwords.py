"""Migrate passwords only (IceWarp's option; `kimt migrate --passwords-only`).

For accounts that already exist on the destination, their mail moved by other
means: each user's password from the users file is checked against the old
server with an IMAP login (LOGIN and LOGOUT, nothing else: the source stays
read-only), then tried on the destination (the users file's 4th column, when
it gives one, is the password wanted there). Where the destination refuses it,
KIMT sets it where it manages accounts — Kerio Connect, with `Users.set` —
and logs in once more to prove it took. No mail is copied.

The logins run in threads (`workers` at a time); the Kerio calls go through
one admin session, one after the other. Each user ends in one `PasswordOutcome`
in the admin's words: set, already the same, login refused on the old server,
not on the destination, or what failed. Passwords are never in an outcome,
its repr or a log line. `run_passwords` is the whole run as the command line
(`kimt migrate --passwords-only`) and the wizard both do it: both servers
reached first (security 'auto' decided once), a run folder whose Report log
lists every outcome, and a `PasswordsFinished` that tells a front end all.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from . import survey
from .accounts import Account
from .errors import KimtError, LoginError, SettingsError
from .kerio import KerioAdmin, KerioApiError, KerioClient
from .logs import Redactor, RunLogs
from .report import describe_server
from .servers import ServerConfig, close_quietly, connect

log = logging.getLogger("kimt.passwords")

SET, SAME, SOURCE_REFUSED, MISSING, FAILED = (
    "set", "already the same", "login refused on the old server", "not on the destination",
    "failed")


@dataclass(frozen=True)
class PasswordOutcome:
    email: str
    state: str  # SET, SAME, SOURCE_REFUSED, MISSING or FAILED
    reason: str = ""  # the server's or Kerio's words, when there are any

    @property
    def ok(self) -> bool:
        return self.state in (SET, SAME)

    def words(self) -> str:
        return self.state + (f": {self.reason}" if self.reason else "")


def _login(config: ServerConfig, account: Account) -> str | None:
    """None when `account` logs in with its password; else why not (LoginError's words)."""
    try:
        close_quietly(connect(config, account.email, account.password))
    except LoginError as e:
        return str(e)
    return None


def _wanted(account: Account) -> Account:
    """The account with the password it should have on the destination: the old server's,
    or the users file's 4th column when it gives one."""
    return replace(account, password=account.destination_password or account.password)


def per_user(destination: ServerConfig) -> ServerConfig:
    """The destination as each user logs in there with their own password."""
    return replace(destination, auth="user", master_user=None, master_password=None,
                   oauth_token_command=None)


STOPPED_WORDS = "not checked: the run was stopped"


def migrate_passwords(source: ServerConfig, destination: ServerConfig,
                      admin: KerioAdmin | None, accounts: Iterable[Account],
                      on_outcome: Callable[[PasswordOutcome], None] = lambda o: None,
                      workers: int = 4,
                      stopped: Callable[[], bool] = lambda: False) -> list[PasswordOutcome]:
    """Check and carry over every account's password; outcomes in the accounts' order.

    Once `stopped()` says so, the users not yet checked (or set) are left as they
    are, each said so. Raises KimtError only when a server can't be used at all
    (the Kerio admin login).
    """
    if source.auth != "user":
        raise SettingsError("passwords only: each user's own password is checked on the old "
                            "server, so its users must log in with their own password")
    accounts = list(accounts)
    destination = per_user(destination)
    outcomes: dict[str, PasswordOutcome] = {}

    def done(outcome: PasswordOutcome) -> None:
        outcomes[outcome.email] = outcome
        log.info("password of %s: %s", outcome.email, outcome.state)
        on_outcome(outcome)

    def check(account: Account) -> Account | None:
        """Both logins; the account back when its password has to be set."""
        if stopped():
            done(PasswordOutcome(account.email, FAILED, STOPPED_WORDS))
            return None
        try:
            refused = _login(source, account)
            if refused is not None:
                done(PasswordOutcome(account.email, SOURCE_REFUSED, refused))
                return None
            if _login(destination, _wanted(account)) is None:
                done(PasswordOutcome(account.email, SAME))
                return None
        except KimtError as e:
            done(PasswordOutcome(account.email, FAILED, str(e)))
            return None
        return account

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="passwords") as pool:
        to_set = [a for a in pool.map(check, accounts) if a is not None]
    if to_set and stopped():
        for account in to_set:
            done(PasswordOutcome(account.email, FAILED, "checked, not set: the run was "
                                 "stopped"))
    elif to_set and admin is None:
        for account in to_set:
            done(PasswordOutcome(account.email, FAILED, "the destination has another "
                                 "password; KIMT sets passwords only where the destination "
                                 "is Kerio Connect"))
    elif to_set:
        assert admin is not None
        set_now = _set_in_kerio(admin, to_set, done)
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="passwords") as pool:
            for account, refused in zip(set_now, pool.map(
                    lambda a: _login(destination, _wanted(a)), set_now), strict=True):
                done(PasswordOutcome(account.email, SET) if refused is None else
                     PasswordOutcome(account.email, FAILED, "Kerio took the password, but the "
                                     f"login with it still fails: {refused}"))
    return [outcomes[a.email] for a in accounts]


def _set_in_kerio(admin: KerioAdmin, accounts: list[Account],
                  done: Callable[[PasswordOutcome], None]) -> list[Account]:
    """Users.set for each; the accounts whose password Kerio took."""
    taken: list[Account] = []
    with KerioClient(admin) as api:
        domain_of: dict[str, str] = {}
        for d in api.domains():
            for name in [d.get("name", "")] + list(d.get("aliasList") or []):
                if isinstance(name, str) and name:
                    domain_of.setdefault(name.casefold(), str(d.get("id")))
        users: dict[str, dict[str, str]] = {}  # domain id -> {login casefolded: user id}
        for account in accounts:
            domain_id = domain_of.get(account.domain.casefold())
            if domain_id is not None and domain_id not in users:
                users[domain_id] = {str(u.get("loginName", "")).casefold(): str(u.get("id"))
                                    for u in api.users(domain_id)}
            user_id = users.get(domain_id or "", {}).get(account.local_part.casefold())
            if user_id is None:
                done(PasswordOutcome(account.email, MISSING, "create the account first, or "
                                     "migrate it with its mail (not passwords only)"))
                continue
            try:
                api.set_password(user_id, _wanted(account).password)
            except KerioApiError as e:
                done(PasswordOutcome(account.email, FAILED,
                                     f"Kerio refused the password: {e.message}"))
                continue
            taken.append(account)
    return taken


def summary(outcomes: list[PasswordOutcome]) -> str:
    count = {s: sum(o.state == s for o in outcomes)
             for s in (SET, SAME, SOURCE_REFUSED, MISSING, FAILED)}
    return (f"Passwords: {count[SET]} set, {count[SAME]} already the same, "
            f"{count[SOURCE_REFUSED]} refused by the old server, {count[MISSING]} not on the "
            f"destination, {count[FAILED]} failed.")


def report_section(outcomes: list[PasswordOutcome]) -> str:
    lines = ["=== Passwords only (no mail copied)"]
    lines += [f"  {o.email}: {o.words()}" for o in outcomes]
    lines.append(f"  {summary(outcomes)}")
    return "\n".join(lines) + "\n"


@dataclass
class PasswordsFinished:
    """The end of a passwords-only run: everything a front end shows."""

    outcomes: list[PasswordOutcome]
    seconds: float
    fatal: str = ""  # why it could not start (a server unreachable) or finish (Kerio)
    report_path: str = ""
    debug_path: str = ""
    log_dir: str = ""

    @property
    def ok(self) -> bool:
        return not self.fatal and all(o.ok for o in self.outcomes)


def run_passwords(source: ServerConfig, destination: ServerConfig, admin: KerioAdmin | None,
                  accounts: list[Account], users_text: str, *,
                  log_dir: str | os.PathLike | None = None, workers: int = 4,
                  on_outcome: Callable[[PasswordOutcome], None] = lambda o: None,
                  stopped: Callable[[], bool] = lambda: False) -> PasswordsFinished:
    """A passwords-only run with its run folder and Report log; never raises for a server.

    Both servers are reached first (with security 'auto', decided here once);
    `on_outcome` hears each user as they are done (from worker threads).
    """
    started = time.monotonic()
    secrets = [a.password for a in accounts] + [a.destination_password for a in accounts]
    secrets += [source.master_password, destination.master_password,
                admin.password if admin else None]
    reached = [survey.try_connection(config) for config in (source, destination)]
    fatal = next((r.text for r in reached if not r.ok), "")
    if not fatal:
        source, destination = (r.config or c for r, c in zip(reached, (source, destination),
                                                             strict=True))
    header = "\n".join([
        f"Source: {describe_server(source)}",
        f"Destination: {describe_server(destination)}",
        f"Users: {users_text}; selected users: {len(accounts)}",
        "Passwords only: each password checked on the source by a login, set on the "
        + (f"destination through the Kerio admin API at {admin.address}" if admin
           else "destination only where KIMT manages accounts (Kerio Connect)")
        + "; no mail is copied"])
    logs = RunLogs(log_dir, Redactor(secrets), header)
    outcomes: list[PasswordOutcome] = []
    try:
        if fatal:
            logs.write_report(f"\nThe run could not start: {fatal}\n")
        else:
            try:
                outcomes = migrate_passwords(source, destination, admin, accounts,
                                             on_outcome, workers, stopped)
                logs.write_report("\n" + report_section(outcomes))
            except KimtError as e:
                fatal = str(e)
                logs.write_report(f"\nThe run could not finish: {fatal}\n")
    finally:
        logs.close()
    return PasswordsFinished(outcomes, time.monotonic() - started, fatal,
                             str(logs.report_path), str(logs.debug_path), str(logs.dir))
