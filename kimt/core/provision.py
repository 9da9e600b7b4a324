"""Destination accounts: created through Kerio Connect's Administration API before copying.

`provision` runs once per run in the main process, before any mailbox is
copied (the API client is `kerio`): every domain of the selected users is
created if missing (a domain's aliases count as the domain), every user
likewise, with the destination password from the users file (4th column,
else the source password) or, when the admin chooses, a generated one.
Existing users are left exactly as they are. Whatever Kerio refuses is kept
per user with Kerio's words; that user is then skipped by the engine and the
others go on.

Domains can also be asked for by name with their aliases (`DomainPlan`, one
per 4D WebSTAR post office), by the rules of Kerio's 4D migration: a domain
Kerio has is left as it is, and said so; a new one is created, then given
its aliases with `Domains.set`; when Kerio refuses it or its aliases (a name
that is already a domain or an alias there), that domain fails with Kerio's
words, is removed again if it was just created, and its users are skipped.

`check_admin` is the "Test connection" of the wizard's destination page.
Only "none" (accounts exist) and Kerio Connect are kinds of destination
today; another server's admin API would be a sibling of `kerio` with the
same `provision` shape.
"""

from __future__ import annotations

import logging
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass

from .accounts import Account
from .events import CREATED, EXISTING, REFUSED, AccountOutcome, DomainOutcome, ProvisionResult
from .kerio import ALREADY_EXISTS, KerioAdmin, KerioApiError, KerioClient, kerio_message
from .report import plural

log = logging.getLogger("kimt.provision")


@dataclass(frozen=True)
class DomainPlan:
    """A domain to have in Kerio, with its aliases (a 4D post office)."""

    name: str
    aliases: tuple[str, ...] = ()
    origin: str = ""  # what it stands for, for the Report: "post office Sales"


@dataclass(frozen=True)
class KerioProvisioning:
    """What the engine needs to create the destination accounts (`RunRequest.provision`)."""

    admin: KerioAdmin
    generate_passwords: bool = False  # new users without a 4th-column password get one
    domains: tuple[DomainPlan, ...] = ()  # created first by the 4D rules, with their aliases
    password_source: str = "the users file"  # for the Report: "created (password from …)"


# ----------------------------------------------------------------------------- provisioning

_PASSWORD_ALPHABETS = (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-_.!#%+=")


def generate_password(length: int = 16) -> str:
    """A strong password with every character class (Kerio's complexity policy) and
    no character that trips a CSV, a shell or a reader (no quotes, ; , $ ` space)."""
    everything = "".join(_PASSWORD_ALPHABETS)
    while True:
        pw = "".join(secrets.choice(everything) for _ in range(length))
        if all(any(c in alphabet for c in pw) for alphabet in _PASSWORD_ALPHABETS):
            return pw


def _destination_password(account: Account, generate: bool) -> tuple[str, bool]:
    if account.destination_password is not None:
        return account.destination_password, False
    if generate:
        return generate_password(), True
    return account.password, False


def provision(settings: KerioProvisioning, accounts: Iterable[Account]) -> ProvisionResult:
    """Create the missing domains and users; raises only when Kerio can't be used at all."""
    accounts = list(accounts)
    out = ProvisionResult(password_source=settings.password_source)
    with KerioClient(settings.admin) as api:
        domain_ids = _ensure_planned(api, settings.domains, out) if settings.domains else {}
        others = [a.domain for a in accounts if a.domain.casefold() not in domain_ids]
        if others:
            domain_ids.update(_ensure_domains(api, others, out))
        by_domain: dict[str, list[Account]] = {}
        for a in accounts:
            by_domain.setdefault(a.domain.casefold(), []).append(a)
        for key, group in by_domain.items():
            domain_id = domain_ids.get(key)
            if isinstance(domain_id, AccountOutcome):  # the domain itself was refused
                out.accounts += [AccountOutcome(a.email, REFUSED, domain_id.reason)
                                 for a in group]
                continue
            assert domain_id is not None
            _ensure_users(api, domain_id, group, settings.generate_passwords, out)
    order = {a.email: i for i, a in enumerate(accounts)}
    out.accounts.sort(key=lambda o: order.get(o.email, 0))
    log.info("Kerio provisioning: domains created: %d; users: %d created, %d already there, "
             "%d refused", len(out.domains_created),
             sum(o.state == CREATED for o in out.accounts),
             sum(o.state == EXISTING for o in out.accounts),
             sum(o.state == REFUSED for o in out.accounts))
    return out


def _ensure_domains(api: KerioClient, names: list[str], out: ProvisionResult
                    ) -> dict[str, str | AccountOutcome]:
    """{domain casefolded: Kerio domain id, or a REFUSED outcome holding the reason}."""

    def known() -> dict[str, str]:
        ids: dict[str, str] = {}
        for d in api.domains():
            for name in [d.get("name", "")] + list(d.get("aliasList") or []):
                if isinstance(name, str) and name:
                    ids.setdefault(name.casefold(), str(d.get("id")))
        return ids

    ids: dict[str, str | AccountOutcome] = dict(known())
    wanted = list(dict.fromkeys(n for n in names if n.casefold() not in ids))
    if wanted:
        created, errors = api.create("Domains.create", "domains", [{"name": n} for n in wanted])
        for i, name in enumerate(wanted):
            if i in created:
                ids[name.casefold()] = created[i]
                out.domains_created.append(name)
                log.info("Kerio: domain %s created", name)
            elif i in errors and int(errors[i].get("code") or 0) != ALREADY_EXISTS:
                reason = f"Kerio refused to create the domain {name}: {kerio_message(errors[i])}"
                ids[name.casefold()] = AccountOutcome("", REFUSED, reason)
                log.warning("%s", reason)
        missing = [n for n in wanted if n.casefold() not in ids]
        if missing:  # 1001 (created meanwhile) or no answer for it: look again
            again = known()
            for name in missing:
                ids[name.casefold()] = again.get(name.casefold()) or AccountOutcome(
                    "", REFUSED, f"Kerio did not create the domain {name} (no reason given)")
    return ids


def _ensure_planned(api: KerioClient, plans: tuple[DomainPlan, ...], out: ProvisionResult
                    ) -> dict[str, str | AccountOutcome]:
    """The 4D rules: {domain casefolded: Kerio id, or a REFUSED outcome with the reason}."""
    existing = {str(d.get("name", "")).casefold(): d for d in api.domains()}
    ids: dict[str, str | AccountOutcome] = {}
    new: list[DomainPlan] = []
    for plan in plans:
        there = existing.get(plan.name.casefold())
        if there is None:
            new.append(plan)
            continue
        ids[plan.name.casefold()] = str(there.get("id"))
        has = {str(a).casefold() for a in there.get("aliasList") or []}
        lacking = [a for a in plan.aliases if a.casefold() not in has]
        out.domains.append(DomainOutcome(plan.name, EXISTING, origin=plan.origin, reason=(
            f"its aliases {', '.join(lacking)} were not added" if lacking else "")))
        log.info("Kerio: domain %s exists, left as it is", plan.name)
    if not new:
        return ids

    def refuse(plan: DomainPlan, reason: str) -> None:
        ids[plan.name.casefold()] = AccountOutcome("", REFUSED, reason)
        out.domains.append(DomainOutcome(plan.name, REFUSED, reason=reason, origin=plan.origin))
        log.warning("%s", reason)

    created, errors = api.create("Domains.create", "domains", [{"name": p.name} for p in new])
    for i, plan in enumerate(new):
        if i not in created:
            reason = kerio_message(errors[i]) if i in errors else "no answer for this domain"
            refuse(plan, f"Kerio refused to create the domain {plan.name}: {reason}")
            continue
        if plan.aliases:
            error = _answer(api.set_domain, created[i], {"aliasList": list(plan.aliases)})
            if error is not None:
                reason = (f"Kerio refused the aliases {', '.join(plan.aliases)} of the domain "
                          f"{plan.name}: {error}")
                undone = _answer(api.remove_domain, created[i])
                reason += ("; the domain was removed again" if undone is None else
                           f"; the domain was created without them and could not be removed "
                           f"again ({undone}): remove it in Kerio's administration before "
                           "running again")
                refuse(plan, reason)
                continue
        ids[plan.name.casefold()] = created[i]
        out.domains_created.append(plan.name)
        out.domains.append(DomainOutcome(plan.name, CREATED, list(plan.aliases),
                                         origin=plan.origin))
        log.info("Kerio: domain %s created with %d alias(es)", plan.name, len(plan.aliases))
    return ids


def _answer(call, *args) -> str | None:
    """Kerio's words when it refused this call (for its item or as a whole); None if not."""
    try:
        error = call(*args)
    except KerioApiError as e:
        return e.message.rstrip(".")
    return None if error is None else kerio_message(error).rstrip(".")


def _ensure_users(api: KerioClient, domain_id: str, group: list[Account], generate: bool,
                  out: ProvisionResult) -> None:
    existing = {str(u.get("loginName", "")).casefold() for u in api.users(domain_id)}
    new: list[tuple[Account, str, bool]] = []
    for a in group:
        if a.local_part.casefold() in existing:
            out.accounts.append(AccountOutcome(a.email, EXISTING))
        else:
            password, generated = _destination_password(a, generate)
            new.append((a, password, generated))
    if not new:
        return
    items = [{"domainId": domain_id, "loginName": a.local_part, "fullName": a.full_name,
              "password": password, "isEnabled": True} for a, password, _ in new]
    created, errors = api.create("Users.create", "users", items)
    for i, (a, password, generated) in enumerate(new):
        if i in created:
            out.accounts.append(AccountOutcome(a.email, CREATED, password=password,
                                               generated=generated))
            log.info("Kerio: user %s created", a.email)
        elif i in errors and int(errors[i].get("code") or 0) == ALREADY_EXISTS:
            out.accounts.append(AccountOutcome(a.email, EXISTING))
        else:
            reason = kerio_message(errors[i]) if i in errors else "no answer for this user"
            out.accounts.append(AccountOutcome(a.email, REFUSED,
                                               f"Kerio refused to create the account: {reason}"))
            log.warning("Kerio refused to create %s: %s", a.email, reason)


def check_admin(admin: KerioAdmin) -> str:
    """Log in to the admin API and out again; a sentence for a "Test connection" button.

    Raises CertificateError (with the fingerprint to confirm), ConnectError,
    LoginError or ServerError with a text for the admin.
    """
    with KerioClient(admin) as api:
        domains = api.domains()
    names = ", ".join(sorted(str(d.get("name")) for d in domains)[:5])
    return (f"Logged in to the Kerio admin API at {admin.address} as {admin.user}; "
            f"{plural(len(domains), 'domain')}" + (f": {names}" if names else "") + ".")


def outcome_words(o: AccountOutcome, with_password: bool = False,
                  password_source: str = "the users file") -> str:
    """'created (…)', 'already there, left as it was', 'NOT created — …': the Report's words.

    A generated password is written out only `with_password` (the Report);
    elsewhere the words say where to find it.
    """
    if o.state == CREATED:
        if not o.generated:
            return f"created (password from {password_source})"
        shown = (o.password or "") if with_password else "in the Report log"
        return f"created (generated password: {shown})"
    if o.state == EXISTING:
        return "already there, left as it was"
    return f"NOT created — {o.reason}; this user is skipped"


def domain_words(d: DomainOutcome) -> str:
    """'created with the aliases …', 'already in Kerio, left as it was', 'NOT created — …'."""
    if d.state == CREATED:
        return "created" + (f" with the aliases {', '.join(d.aliases)}" if d.aliases else "")
    if d.state == EXISTING:
        return "already in Kerio, left as it was" + (f" ({d.reason})" if d.reason else "")
    return f"NOT created — {d.reason}; its users are skipped"


def summary(result: ProvisionResult) -> str:
    """One sentence on what the provisioning did (the CLI's closing line, the wizard's result)."""
    count = {state: sum(o.state == state for o in result.accounts)
             for state in (CREATED, EXISTING, REFUSED)}
    domains = f"{plural(len(result.domains_created), 'domain')} created"
    if result.domains:
        domains += (f", {sum(d.state == EXISTING for d in result.domains)} already there, "
                    f"{sum(d.state == REFUSED for d in result.domains)} refused")
    text = (f"Kerio: {domains}; users: {count[CREATED]} "
            f"created, {count[EXISTING]} already there, {count[REFUSED]} refused.")
    if any(o.generated for o in result.accounts):  # (a front end's copy has no passwords)
        text += " Their generated passwords are in the Report log (and nowhere else)."
    return text


def report_section(result: ProvisionResult) -> str:
    """The Report's account section; generated passwords are written in full here only."""
    lines = ["=== Destination accounts (Kerio Connect)"]
    if result.domains_created:
        lines.append("  Domains created: " + ", ".join(result.domains_created))
    lines += [f"  Domain {d.name}" + (f" ({d.origin})" if d.origin else "")
              + f": {domain_words(d)}" for d in result.domains]
    lines += [f"  {o.email}: {outcome_words(o, True, result.password_source)}"
              for o in result.accounts]
    if result.generated:
        lines.append("  Give each user their generated password; it is written nowhere else.")
    return "\n".join(lines) + "\n"
