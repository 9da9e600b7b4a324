"""Sample 4D WebSTAR Mailbox Server configurations, written the ways docs/4d.md accepts.

`write_sample(folder)` writes `WSMailboxServer.prefs.xml` with three post
offices, each with several domains: one inline, two in files of their own
referenced from the main file, in differing spellings (attributes or child
elements, other element names, other case). Its users have non-ASCII full
names; among them a user without a password, a disabled one and three
whose passwords look hashed (hex MD5, crypt, {SSHA}). `form="plist"` writes
the same as Apple property lists (XML main file, binary post office file).
`damage="Sales"` truncates that post office's file; `missing="Sales"`
leaves it out. `extra_users=n` adds n plain users to every post office.

The returned `Sample` says what a reader must find: the post offices with
their domains, the accounts to migrate (address, login, password, full
name) and the users left out with a word of their reason. `seed` gives the
users to migrate their mail in a Dovecot standing in for 4D's IMAP service.
"""

from __future__ import annotations

import plistlib
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from dovecot import make_message

MAIN = "WSMailboxServer.prefs.xml"


@dataclass(frozen=True)
class SampleUser:
    login: str
    password: str | None
    full_name: str
    enabled: bool = True
    left_out: str = ""  # a word the reason must contain; "" = migrated
    hashed_mark: dict = field(default_factory=dict)  # attributes marking a hashed password


@dataclass(frozen=True)
class SamplePostOffice:
    name: str
    domains: tuple[str, ...]
    users: tuple[SampleUser, ...]
    file: str = ""  # its own file, relative to the folder; "" = inline in the main file


@dataclass
class Sample:
    folder: Path
    main: Path
    post_offices: list[SamplePostOffice]

    @property
    def accounts(self) -> dict[str, SampleUser]:
        """{address: user} of everyone to migrate."""
        return {f"{u.login}@{po.domains[0]}": u for po in self.post_offices for u in po.users
                if not u.left_out}

    @property
    def left_out(self) -> dict[str, str]:
        """{address: a word of the reason} of everyone left out."""
        return {f"{u.login}@{po.domains[0]}": u.left_out for po in self.post_offices
                for u in po.users if u.left_out}

    def file_of(self, name: str) -> Path:
        po = next(p for p in self.post_offices if p.name == name)
        return self.folder / po.file if po.file else self.main


def seed(imap, sample: Sample) -> None:
    """4D's IMAP service (a `Dovecot`): every user that can be migrated, by login name, with
    a few messages in INBOX and in a folder with a non-ASCII name."""
    for n, (email, user) in enumerate(sample.accounts.items()):
        imap.add_user(user.login, user.password)
        imap.create_folder(user.login, "Projekty/Účty 2024")
        imap.append_many(user.login, "INBOX", [
            make_message(f"{user.full_name} #{i}", body=f"body {i} of {email}\r\n")
            for i in range(2 + n % 3)])
        imap.append(user.login, "Projekty/Účty 2024", make_message(f"Účet {email}"),
                    ["\\Seen"])


def post_offices(extra_users: int = 0) -> list[SamplePostOffice]:
    def extra(tag: str) -> tuple[SampleUser, ...]:
        return tuple(SampleUser(f"{tag}{n:02d}", f"{tag.title()}-Pw-{n:02d}x", f"User {n} {tag}")
                     for n in range(1, extra_users + 1))

    return [
        SamplePostOffice("Head Office", ("example.com", "example.net", "example.org"), (
            SampleUser("jdoe", "Jdoe-4D-pw1", "John Doe"),
            SampleUser("zoe", "Zoe's \"Pw\" 2", "Zo\u00eb \u00dcnal-\u0141ukasiewicz"),
            SampleUser("nopass", None, "No Password", left_out="no password"),
            SampleUser("gone", "Gone-Pw-3", "Disabled Person", enabled=False,
                       left_out="disabled"),
            SampleUser("md5user", "5f4dcc3b5aa765d61d8327deb882cf99", "Hex Hash",
                       left_out="hashed"),
        ) + extra("ho")),
        SamplePostOffice("Sales", ("sales.example.com", "shop.example.com"), (
            SampleUser("anna", "Anna&<Pw>9", "Anna Nov\u00e1kov\u00e1"),
            SampleUser("bob", "Bob-Pw-10", "Bob Builder"),
            SampleUser("cryptic", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "Crypt User",
                       left_out="hashed"),
        ) + extra("sa"), file="PostOffices/Sales.xml"),
        SamplePostOffice("Praha", ("firma.cz", "firma.eu", "firma.sk"), (
            SampleUser("jiri", "Jiri-Heslo-11", "Ji\u0159\u00ed Dvo\u0159\u00e1k"),
            SampleUser("marie", "Marie-Heslo-12", "Marie \u010cern\u00e1"),
            SampleUser("ssha", "{SSHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "Salted Hash",
                       left_out="hashed"),
            SampleUser("marked", "notreally", "Marked Encrypted", left_out="hashed",
                       hashed_mark={"encrypted": "yes"}),
        ) + extra("pr"), file="PostOffices/praha.XML"),
    ]


def write_sample(folder: Path, *, form: str = "xml", damage: str = "", missing: str = "",
                 extra_users: int = 0) -> Sample:
    folder.mkdir(parents=True, exist_ok=True)
    offices = post_offices(extra_users)
    if form == "plist":  # Sales in a file of its own, the others inline
        offices = [SamplePostOffice(p.name, p.domains, p.users,
                                    "PostOffices/Sales.plist" if p.name == "Sales" else "")
                   for p in offices]
    sample = Sample(folder, folder / MAIN, offices)
    writer = _write_plist if form == "plist" else _write_xml
    writer(sample)
    for po in offices:
        if po.file and po.name == missing:
            (folder / po.file).unlink()
        elif po.file and po.name == damage:
            data = (folder / po.file).read_bytes()
            (folder / po.file).write_bytes(data[: len(data) // 2])
    return sample


# ----------------------------------------------------------------------------- XML

def _write_xml(sample: Sample) -> None:
    head, sales, praha = sample.post_offices
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             "<!-- 4D WebSTAR V Mailbox Server preferences (sample written by KIMT's tests) -->",
             '<WSMailboxServer version="5.4">',
             '  <IMAPServer enabled="true" port="143"/>',
             "  <PostOffices>",
             f"    <PostOffice name={quoteattr(head.name)}>",
             "      <LocalMailDomains>"]
    lines += [f"        <Domain>{d}</Domain>" for d in head.domains]
    lines += ["      </LocalMailDomains>", "      <Users>"]
    for u in head.users:  # attributes, a full name element
        attrs = f"login={quoteattr(u.login)}"
        if u.password is not None:
            attrs += f" password={quoteattr(u.password)}"
        attrs += f' enabled="{"true" if u.enabled else "false"}"'
        lines.append(f"        <User {attrs}><FullName>{_text(u.full_name)}</FullName>"
                     f"<Address>{u.login}@{head.domains[1]}</Address></User>")
    lines += ["      </Users>", "    </PostOffice>",
              f'    <PostOffice name={quoteattr(sales.name)} file="{sales.file}"/>',
              f"    <postoffice Name={quoteattr(praha.name)} ConfigFile="
              f"{quoteattr(praha.file)} />",
              "  </PostOffices>", "</WSMailboxServer>", ""]
    sample.main.write_text("\n".join(lines), encoding="utf-8")

    # Sales: child elements, other names, a comma-separated domain list
    body = ["<?xml version='1.0' encoding='UTF-8'?>", "<PostOffice>",
            f"  <Domains>{', '.join(sales.domains)}</Domains>", "  <Accounts>"]
    for u in sales.users:
        body += ["    <Account>", f"      <LoginName>{_text(u.login)}</LoginName>"]
        if u.password is not None:
            body.append(f"      <Password>{_text(u.password)}</Password>")
        body += [f"      <RealName>{_text(u.full_name)}</RealName>",
                 f"      <LoginEnabled>{'yes' if u.enabled else 'no'}</LoginEnabled>",
                 "    </Account>"]
    body += ["  </Accounts>", "</PostOffice>", ""]
    _write(sample.folder / sales.file, "\n".join(body).encode("utf-8"))

    # Praha: ISO 8859-2, upper-case names, space-separated domains, a disabled= flag
    body = ['<?xml version="1.0" encoding="ISO-8859-2"?>',
            f'<POSTOFFICE DOMAINS="{" ".join(praha.domains)}">', "<USERS>"]
    for u in praha.users:
        attrs = f"USERNAME={quoteattr(u.login)} FULL-NAME={quoteattr(u.full_name)}"
        attrs += f' DISABLED="{"no" if u.enabled else "yes"}"'
        mark = "".join(f" {k.upper()}={quoteattr(v)}" for k, v in u.hashed_mark.items())
        password = (f"<PASSWORD{mark}>{_text(u.password)}</PASSWORD>"
                    if u.password is not None else "")
        body.append(f"<USER {attrs}>{password}</USER>")
    body += ["</USERS>", "</POSTOFFICE>", ""]
    _write(sample.folder / praha.file, "\n".join(body).encode("iso-8859-2"))


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


# ----------------------------------------------------------------------------- plist

def _plist_user(u: SampleUser) -> dict:
    d: dict = {"Login": u.login, "FullName": u.full_name, "LoginEnabled": u.enabled}
    if u.password is not None:
        d["Password"] = u.password
    if u.hashed_mark:
        d["PasswordEncrypted"] = True
    return d


def _write_plist(sample: Sample) -> None:
    head, sales, praha = sample.post_offices
    inline = [{"Name": po.name, "LocalMailDomains": list(po.domains),
               "Users": [_plist_user(u) for u in po.users]} for po in (head, praha)]
    main = {"Version": "5.4", "IMAPPort": 143,
            "PostOffices": [inline[0], {"Name": sales.name, "File": sales.file}, inline[1]]}
    # the main file as an XML property list; one post office as a binary one
    sample.main.write_bytes(plistlib.dumps(main, fmt=plistlib.FMT_XML))
    own = {"Domains": list(sales.domains), "Users": [_plist_user(u) for u in sales.users]}
    _write(sample.folder / sales.file, plistlib.dumps(own, fmt=plistlib.FMT_BINARY))
