"""The 4D WebSTAR configuration reader (`kimt.core.webstar`): what it finds, and what it refuses.

The samples come from `webstar_samples.write_sample`: three post offices in
three spellings (inline XML, a file of child elements, an ISO 8859-2 file in
capitals), or the same as Apple property lists. No server is needed.
"""

from __future__ import annotations

import plistlib
import re

import pytest
from webstar_samples import MAIN, write_sample

from kimt.core import webstar
from kimt.core.webstar import WebstarError


@pytest.mark.parametrize("form", ["xml", "plist"])
def test_a_sample_is_read_whole(tmp_path, form):
    sample = write_sample(tmp_path / "4d", form=form)
    config = webstar.load(sample.folder)
    assert config.path == str(sample.main)
    assert [(po.name, po.domains) for po in config.post_offices] == [
        (po.name, po.domains) for po in sample.post_offices]
    assert config.post_offices[1].file == str(sample.file_of("Sales"))
    got = {a.email: a for a in config.accounts}
    assert list(got) == list(sample.accounts)  # in the file's order
    for email, user in sample.accounts.items():
        assert (got[email].password, got[email].full_name) == (user.password, user.full_name)
    assert got["jiri@firma.cz"].full_name == "Jiří Dvořák"
    assert got["zoe@example.com"].full_name == "Zoë Ünal-Łukasiewicz"
    reasons = {x.who: x.reason for x in config.left_out}
    assert set(reasons) == set(sample.left_out)
    for who, word in sample.left_out.items():
        assert word in reasons[who], (who, reasons[who])
    assert "like an MD5 hash" in reasons["md5user@example.com"]
    assert "crypt()" in reasons["cryptic@sales.example.com"]
    assert "{SSHA}" in reasons["ssha@firma.cz"]
    assert config.counts() == ("3 post offices, 8 domains, 12 users (6 to migrate, "
                               "6 left out)")
    assert config.post_office_of["anna@sales.example.com"] == "Sales"


def test_the_report_names_the_file_and_everyone_left_out(tmp_path):
    sample = write_sample(tmp_path / "4d")
    config = webstar.load(sample.main)  # the file itself works as well as its folder
    text = config.describe()
    assert text.startswith(f"4D WebSTAR configuration {sample.main}: 3 post offices")
    assert "nopass@example.com (post office Head Office): no password in 4D" in text
    assert "gone@example.com (post office Head Office): login is disabled in 4D" in text
    assert config.post_office_lines()[0] == ("Head Office: example.com (aliases example.net, "
                                            "example.org) — 5 users")


def test_no_password_in_a_repr_or_an_error(tmp_path):
    sample = write_sample(tmp_path / "4d")
    config = webstar.load(sample.folder)
    shown = repr(config) + repr(config.post_offices) + repr(config.accounts)
    shown += config.describe() + "".join(config.left_out_lines())
    for user in sample.accounts.values():
        assert user.password not in shown
    # a damaged file whose password comes right before the damage: the error names
    # the place, never the content
    sales = sample.file_of("Sales")
    text = sales.read_text()
    sales.write_text(text[: text.index("Bob-Pw-10") + 9])
    with pytest.raises(WebstarError) as e:
        webstar.load(sample.folder)
    assert "Bob-Pw-10" not in str(e.value) and str(sales) in str(e.value)


@pytest.mark.parametrize("form,damage,missing,where", [
    ("xml", "Sales", "", "PostOffices/Sales.xml"),
    ("xml", "Praha", "", "PostOffices/praha.XML"),
    ("xml", "", "Sales", "PostOffices/Sales.xml"),
    ("plist", "Sales", "", "PostOffices/Sales.plist"),
    ("plist", "", "Sales", "PostOffices/Sales.plist"),
])
def test_a_missing_or_damaged_post_office_stops_with_its_name(tmp_path, form, damage, missing,
                                                              where):
    sample = write_sample(tmp_path / "4d", form=form, damage=damage, missing=missing)
    with pytest.raises(WebstarError) as e:
        webstar.load(sample.folder)
    assert str(e.value).startswith(f"{sample.folder / where}: ")
    assert ("does not exist" if missing else "damaged") in str(e.value)
    assert e.value.path == str(sample.folder / where)


def test_the_main_file_is_looked_for(tmp_path):
    with pytest.raises(WebstarError, match="no such file or folder"):
        webstar.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(WebstarError) as e:
        webstar.load(tmp_path / "empty")
    assert str(e.value) == (f"{tmp_path / 'empty'}: there is no {MAIN} in this folder (4D "
                            "WebSTAR's Mailbox Server keeps it there)")
    other = tmp_path / "copy"
    other.mkdir()
    (other / MAIN.lower()).write_text('<PostOffice domain="a.cz"><User name="x" '
                                      'password="pw"/></PostOffice>')
    assert webstar.find_config(other) == other / MAIN.lower()  # another file system's case
    (other / MAIN.lower()).write_text("   \n")
    with pytest.raises(WebstarError, match="empty: it is damaged"):
        webstar.load(other)
    (other / MAIN.lower()).write_text("<Preferences><Port>143</Port></Preferences>")
    with pytest.raises(WebstarError, match="no post office found in it"):
        webstar.load(other)


def write(tmp_path, text: str | bytes) -> webstar.WebstarConfig:
    path = tmp_path / MAIN
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return webstar.load(path)


def test_names_in_any_case_namespace_and_place(tmp_path):
    config = write(tmp_path, """<?xml version="1.0"?>
<ws:Prefs xmlns:ws="urn:4d">
  <ws:Post-Office ws:Title="One" Local_Mail_Domains="one.cz two.cz">
    <ws:Mail-Users>
      <ws:Mail-User><ws:User_Name>adam</ws:User_Name><ws:PASSWD>{PLAIN}Adam-1</ws:PASSWD>
        <ws:Display-Name>Adam Ševčík</ws:Display-Name><ws:Is_Enabled>YES</ws:Is_Enabled>
      </ws:Mail-User>
      <ws:MailUser shortName="eva" pwd="Eva-2" logindisabled="0"/>
      <ws:MailUser shortName="ota" pwd="Ota-3" active="maybe"/>
    </ws:Mail-Users>
  </ws:Post-Office>
  <PostOffice name="Two"><Domain name="Three.CZ."/><Domain value="bad domain"/>
    <User login="ivo" password="Ivo-4" enabled="true"/></PostOffice>
</ws:Prefs>""")
    one, two = config.post_offices
    assert (one.name, one.domains, two.name, two.domains) == (
        "One", ("one.cz", "two.cz"), "Two", ("three.cz",))
    assert two.notes == ("'bad' is not a domain name: left out",
                         "'domain' is not a domain name: left out")
    assert [(a.email, a.password, a.full_name) for a in config.accounts] == [
        ("adam@one.cz", "Adam-1", "Adam Ševčík"), ("eva@one.cz", "Eva-2", ""),
        ("ivo@three.cz", "Ivo-4", "")]
    assert [x.reason for x in config.left_out] == [
        "the file's enabled flag is unreadable: check the user in 4D"]


def test_one_post_office_written_at_the_top(tmp_path):
    config = write(tmp_path, plistlib.dumps({
        "Domains": "solo.org, alias.org",
        "Users": [{"Login": "kim", "Password": "Kim-Pw-5", "RealName": "Kim"}]}))
    assert [(po.name, po.domains) for po in config.post_offices] == [
        ("solo.org", ("solo.org", "alias.org"))]
    assert [a.email for a in config.accounts] == ["kim@solo.org"]


@pytest.mark.parametrize("stored,marks,why", [
    ("5F4DCC3B5AA765D61D8327DEB882CF995F4DCC3B", "", "like an SHA-1 hash"),
    ("$2y$10$abcdefghijklmnopqrstuuK8lAh1OFGfDsIqQp7Z1oFhKxCMYaaRi", "", "crypt()"),
    ("{MD5}X03MO1qnZdYdgyfeuILPmQ==", "", "{MD5}"),
    ("W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "", "base64, like a hash"),
    ("secret", ' encoding="md5"', "scheme 'md5' in the file"),
    ("secret", ' hashed="true"', "marked as encrypted"),
])
def test_passwords_that_look_hashed_are_left_out_with_why(tmp_path, stored, marks, why):
    config = write(tmp_path, f'<PostOffice domain="h.cz"><User login="u">'
                             f'<Password{marks}>{stored}</Password></User></PostOffice>')
    assert not config.accounts
    assert why in config.left_out[0].reason and stored not in config.left_out[0].reason


def test_plain_passwords_that_are_not_hashes(tmp_path):
    config = write(tmp_path, '<PostOffice domain="h.cz">'
                             '<User login="a" password="{CLEARTEXT}Pw-1" scheme="plain"/>'
                             '<User login="b" password="cafe-babe-1234"/>'
                             '<User login="c"><Password encoding="plain">Abc==</Password></User>'
                             '<User login="d" password="Pw" passwordType="Clear"/>'
                             '</PostOffice>')
    assert [a.password for a in config.accounts] == ["Pw-1", "cafe-babe-1234", "Abc==", "Pw"]


def test_clashes_between_post_offices_leave_users_out(tmp_path):
    config = write(tmp_path, """<Prefs>
  <PostOffice name="A" domains="a.cz shared.cz"><User login="jan" password="Jan-1"/></PostOffice>
  <PostOffice name="B" domains="b.cz shared.cz"><User login="eva" password="Eva-1"/></PostOffice>
  <PostOffice name="C" domains="c.cz"><User login="JAN" password="Jan-2"/>
    <User login="x@c.cz" password="X-1"/><User password="Nobody-1"/></PostOffice>
  <PostOffice name="D"><User login="d" password="D-1"/></PostOffice>
</Prefs>""")
    assert [a.email for a in config.accounts] == ["jan@a.cz"]
    assert [(x.who, x.reason) for x in config.left_out] == [
        ("eva@b.cz", "the domain shared.cz of its post office is also in the post office A"),
        ("JAN@c.cz", "the login name JAN is also used in the post office A: 4D's IMAP "
                     "service can't tell them apart"),
        ("x@c.cz", "the login name 'x@c.cz' can't be the first part of an address"),
        ("(a user without a login name)", "no login name"),
        ("d", "its post office has no mail domain")]


def test_the_examples_in_the_docs_are_read_alike(tmp_path):
    """docs/4d.md shows the structure in both forms: both must say the same."""
    from helpers import ROOT

    blocks = re.findall(r"```xml\n(.*?)```", (ROOT / "docs" / "4d.md").read_text("utf-8"),
                        re.S)
    assert len(blocks) == 2
    found = []
    for n, block in enumerate(blocks):
        folder = tmp_path / str(n)
        (folder / "PostOffices").mkdir(parents=True)
        (folder / "PostOffices" / "Sales.xml").write_text('<PostOffice domains="sales.cz"/>')
        (folder / MAIN).write_text(block)
        config = webstar.load(folder)
        head = config.post_offices[0]
        found.append((head.name, head.domains, [(a.email, a.password, a.full_name)
                                                for a in config.accounts]))
    assert found[0][:2] == found[1][:2] == ("Head Office", ("example.com", "example.net"))
    assert found[0][2] == [("jdoe@example.com", "secret", "John Doe")]
    assert found[1][2] == [("jdoe@example.com", "secret", "")]
