"""The destination refuses (issue 6, point 4): quota, size limits, folder names.

Each refused message or folder is listed in the Report with the server's
words, the rest of the mailbox and the other mailboxes go on, the exit code
is 1 ("finished with problems"), and a re-run adds no duplicate.
"""

from __future__ import annotations

import pytest
from dovecot import make_message
from helpers import assert_same_mail, kimt, mailbox_content, migrate_args, report_of, write_csv

USER, PASSWORD = "jdoe@example.com", "Src-Secret-7x!"
USER2, PASSWORD2 = "anna@example.com", "Anna-Pass-9q?"


def section_of(report: str, user: str) -> str:
    return report.split(f"=== {user}")[1].split("\n===")[0]


@pytest.fixture
def users_csv(tmp_path):
    return write_csv(tmp_path / "users.csv", [(USER, PASSWORD), (USER2, PASSWORD2)])


def add_users(src, dst):
    for user, password in ((USER, PASSWORD), (USER2, PASSWORD2)):
        src.add_user(user, password)
        dst.add_user(user, "x")
    src.append(USER2, "INBOX", make_message("anna's only message"))


def test_quota_exceeded_messages_are_listed_and_a_rerun_adds_nothing(dovecot_factory,
                                                                     tmp_path, users_csv):
    src = dovecot_factory()
    dst = dovecot_factory(quota_storage="2M")
    add_users(src, dst)
    src.append_many(USER, "INBOX", [make_message(f"Scan {i}", size=100_000) for i in range(30)])
    args = migrate_args(src, dst, users_csv, tmp_path / "logs")
    proc = kimt(*args, check_rc=1)
    section = section_of(report_of(proc), USER)
    landed = len(dst.messages(USER, "INBOX"))
    refused = [ln for ln in section.splitlines() if "OVERQUOTA" in ln]
    assert 10 <= landed < 30 and len(refused) == 30 - landed, section
    assert all("Quota exceeded" in ln and "'INBOX' uid" in ln for ln in refused)
    assert "done with problems" in section.splitlines()[0]
    assert section_of(report_of(proc), USER2).startswith(" — done ")

    again = kimt(*args, check_rc=1)
    assert f"0 copied, {landed} already there, {30 - landed} skipped" in again.stdout
    assert len(dst.messages(USER, "INBOX")) == landed


def test_message_over_the_advertised_appendlimit_is_not_even_sent(dovecot_factory, tmp_path,
                                                                  users_csv):
    src = dovecot_factory()
    # The size limit the server announces (RFC 7889), and enforces through its quota plugin.
    dst = dovecot_factory(quota_max_mail_size="1M",
                          extra_config="imap_capability = +APPENDLIMIT=1048576")
    add_users(src, dst)
    src.append(USER, "INBOX", make_message("Huge", size=1_500_000))
    src.append(USER, "INBOX", make_message("small"))
    proc = kimt(*migrate_args(src, dst, users_csv, tmp_path / "logs"), check_rc=1)
    section = section_of(report_of(proc), USER)
    line = next(ln for ln in section.splitlines() if '"Huge"' in ln)
    assert "larger than the destination's limit of 1.0 MB (APPENDLIMIT)" in line
    assert [m["size"] < 1_000_000 for m in dst.messages(USER, "INBOX")] == [True]


def test_folder_the_destination_will_not_create_is_listed(dovecot_factory, tmp_path,
                                                          users_csv):
    src = dovecot_factory()  # "/" separator: each level is a directory of its own
    dst = dovecot_factory(separator=".", prefix="INBOX.")  # the whole path is one name
    add_users(src, dst)
    deep = "a" * 90 + "/" + "b" * 90 + "/" + "c" * 90
    src.create_folder(USER, deep)
    src.append(USER, deep, make_message("in a deep folder"))
    src.append(USER, "INBOX", make_message("in the inbox"))
    proc = kimt(*migrate_args(src, dst, users_csv, tmp_path / "logs"), check_rc=1)
    section = section_of(report_of(proc), USER)
    assert f"Problem: folder '{deep}' could not be created on the destination" in section
    # Dovecot's own words for this refusal (without its timing noise)
    assert "could not be created on the destination: Not found." in section
    assert "1 of 2 messages are on the destination" in section
    assert len(dst.messages(USER, "INBOX")) == 1
    assert_same_mail(src, dst, USER2)
    assert sum(mailbox_content(dst, USER)["INBOX"].values()) == 1
