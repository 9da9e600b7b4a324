"""Provider presets on Dovecot: Gmail's and Exchange's folder layouts reproduced (names and
special-use flags, a message in three label folders, a star), checked message by message;
Microsoft 365's size limit as the destination; the figures as the Report names them."""

from __future__ import annotations

from collections import Counter

import pytest
from dovecot import DEFAULT_SPECIAL_USE, make_message
from helpers import (
    ADMIN_PASSWORD,
    PASSWORD,
    USER,
    kimt,
    mailbox_content,
    migrate_args,
    report_of,
    write_csv,
)

from kimt.core.errors import SettingsError
from kimt.core.options import run_request, server_config
from kimt.core.presets import PRESETS, limits, preset

GMAIL_SPECIAL = {"[Gmail]/All Mail": "\\All", "[Gmail]/Important": "\\Important",
                 "[Gmail]/Starred": "\\Flagged", "[Gmail]/Sent Mail": "\\Sent",
                 "[Gmail]/Drafts": "\\Drafts", "[Gmail]/Trash": "\\Trash",
                 "[Gmail]/Spam": "\\Junk"}
EXCHANGE_SPECIAL = {"Sent Items": "\\Sent", "Deleted Items": "\\Trash",
                    "Junk Email": "\\Junk", "Drafts": "\\Drafts"}
DATE = "02-Mar-2022 08:00:00 +0200"


def content(server, user, folder) -> Counter:
    return Counter((m["sha256"], tuple(m["flags"]), m["internaldate"])
                   for m in server.messages(user, folder))


def test_gmail_labels_become_folders_and_views_are_left_out(dovecot_factory, dst, tmp_path):
    src = dovecot_factory(special_use=GMAIL_SPECIAL)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    src.create_folder(USER, "Work/Projects")
    src.create_folder(USER, "Family")
    m = src.connect(USER)  # children alone: "[Gmail]" stays \Noselect, as on Gmail
    for folder in GMAIL_SPECIAL:
        assert m.create(f'"{folder}"')[0] == "OK"
    m.logout()
    assert "\\Noselect" in src.folders(USER)["[Gmail]"]["flags"]
    starred = make_message("Starred, three labels", body="a\r\n")
    put = {  # Gmail shows a message in every label folder and in All Mail
        "INBOX": [(starred, ["\\Flagged", "\\Seen"])],
        "Work": [(starred, ["\\Flagged", "\\Seen"])],
        "Family": [(starred, ["\\Flagged", "\\Seen"])],
        "[Gmail]/Starred": [(starred, ["\\Flagged", "\\Seen"])],
        "[Gmail]/Important": [(starred, ["\\Flagged", "\\Seen"])],
        "Work/Projects": [(make_message("Project", body="g\r\n"), ["\\Seen"])],
        "[Gmail]/Sent Mail": [(make_message("I sent", body="b\r\n"), ["\\Seen"])],
        "[Gmail]/Drafts": [(make_message("Draft", body="c\r\n"), ["\\Draft"])],
        "[Gmail]/Spam": [(make_message("Spam", body="d\r\n"), [])],
        "[Gmail]/Trash": [(make_message("Deleted", body="e\r\n"), ["\\Seen"])],
    }
    for folder, messages in put.items():
        for raw, flags in messages:
            src.append(USER, folder, raw, flags, DATE)
    every = {raw: flags for folder, messages in put.items() if folder not in (
        "[Gmail]/Spam", "[Gmail]/Trash", "[Gmail]/Starred", "[Gmail]/Important")
        for raw, flags in messages}
    every[make_message("Archived, no label", body="f\r\n")] = ["\\Seen"]
    for raw, flags in every.items():
        src.append(USER, "[Gmail]/All Mail", raw, flags, DATE)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])

    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--source-preset", "gmail"),
                check_rc=0)
    assert "8 copied, 0 already there, 0 skipped" in proc.stdout
    where = {"INBOX": "INBOX", "Work": "Work", "Family": "Family",
             "Work/Projects": "Work/Projects", "[Gmail]/Sent Mail": "Sent",
             "[Gmail]/Drafts": "Drafts", "[Gmail]/Spam": "Junk", "[Gmail]/Trash": "Trash"}
    for source, destination in where.items():  # message by message: bytes, flags, date
        assert content(dst, USER, destination) == content(src, USER, source), source
    starred_there = [m for name in ("INBOX", "Work", "Family")
                     for m in dst.messages(USER, name)]
    assert len(starred_there) == 3 and all("\\Flagged" in m["flags"] for m in starred_there)
    copied = {name for name, c in mailbox_content(dst, USER).items() if c}
    assert copied == set(where.values())  # nothing from All Mail, Important, Starred
    assert not any(name.startswith("[Gmail]") for name in dst.folders(USER))

    report = report_of(proc)
    assert "Server kinds: source Gmail / Google Workspace" in report
    for view in ("All Mail", "Important", "Starred"):
        assert (f"Folder not migrated: '[Gmail]/{view}': a Gmail view of mail already in the "
                "label folders (not copied twice)") in report
    assert "[Gmail]/Sent Mail: copied into 'Sent' as the Gmail preset say" in report
    assert "Limits: the source allows 2.4 GB a day per account" in report
    again = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--source-preset", "gmail"),
                 check_rc=0)
    assert "0 copied, 8 already there" in again.stdout


def test_exchange_folders_and_microsoft_365s_size_limit(dovecot_factory, tmp_path):
    src = dovecot_factory(special_use=EXCHANGE_SPECIAL)
    dst = dovecot_factory(special_use=DEFAULT_SPECIAL_USE, auto_create_special=True)
    src.add_user(USER, PASSWORD)
    dst.add_user(USER, "x")
    mail = {"INBOX": 2, "Sent Items": 1, "Deleted Items": 1, "Junk Email": 1, "Archive": 1,
            "Conversation History": 1, "Sync Issues/Conflicts": 1, "Calendar": 0,
            "Calendar/Birthdays": 0, "Contacts": 0, "Tasks": 0, "Journal": 0, "Notes": 0,
            "Sync Issues/Local Failures": 0, "Drafts": 0, "Outbox": 0}
    for folder, count in mail.items():
        if folder != "INBOX":
            src.create_folder(USER, folder)
        for i in range(count):
            src.append(USER, folder, make_message(f"{folder} {i}"), ["\\Seen"], DATE)
    big = make_message("Too big for Microsoft 365", size=35 * 2**20 + 1)
    src.append(USER, "INBOX", big, [], DATE)
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    source_pass = tmp_path / "source.pass"
    source_pass.write_text(ADMIN_PASSWORD + "\n")

    proc = kimt(*migrate_args(src, dst, users, tmp_path / "logs", "--source-preset",
                              "exchange", "--target-preset", "m365", "--source-auth", "master",
                              "--source-user", "admin", "--source-pass-file", str(source_pass)),
                check_rc=1)
    assert "6 copied, 0 already there, 1 skipped" in proc.stdout
    for source, destination in (("Sent Items", "Sent"), ("Deleted Items", "Trash"),
                                ("Junk Email", "Junk"), ("Archive", "Archive")):
        assert content(dst, USER, destination) == content(src, USER, source), source
    inbox = content(src, USER, "INBOX")
    assert sum(inbox.values()) == 3
    assert content(dst, USER, "INBOX") == Counter(
        {k: n for k, n in inbox.items() if k[0] != _sha(big)})
    made = set(dst.folders(USER))
    for left_out in ("Calendar", "Contacts", "Tasks", "Journal", "Notes",
                     "Conversation History", "Sync Issues"):
        assert left_out not in made and not any(f.startswith(left_out + "/") for f in made)

    report = report_of(proc)
    for folder in ("Calendar", "Calendar/Birthdays", "Contacts", "Tasks", "Journal", "Notes"):
        assert f"Folder not migrated: '{folder}': not mail: use a groupware migration" in report
    for folder in ("Conversation History", "Sync Issues/Conflicts",
                   "Sync Issues/Local Failures"):
        assert f"Folder not migrated: '{folder}': Outlook's own records, not mail" in report
    assert ("larger than the limit of 35.0 MB (Microsoft 365 takes messages up to 35 MB by "
            "default)") in report
    assert ("Limits: connections at most 12 to the source, 12 to the destination; "
            "4 messages/s") in report


def _sha(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


def test_the_admins_figures_win_over_a_presets():
    gmail, m365, generic = preset("gmail"), preset("m365"), preset("generic")
    found = limits(gmail, m365, source_master=False, destination_master=True)
    assert (found.source_connections, found.destination_connections) == (None, 12)
    assert found.messages_per_second == 4 and found.max_message_bytes == 35 * 2**20
    assert found.source_daily_bytes == 2500 * 2**20
    mine = limits(gmail, m365, destination_master=True, max_connections=3,
                  bytes_per_second=2e6, messages_per_second=20)
    assert (mine.destination_connections, mine.bytes_per_second,
            mine.messages_per_second) == (3, 2e6, 20)
    assert limits(generic, generic).describe() == []
    assert set(PRESETS) == {"generic", "gmail", "exchange", "m365"}
    with pytest.raises(SettingsError, match="unknown server kind 'yahoo'"):
        preset("yahoo")


def test_run_request_carries_the_limits_and_the_presets_folder_rules():
    src = server_config("source", "imap.gmail.com")
    dst = server_config("destination", "new.example.com", auth="master", master_user="a",
                        master_password="p")
    request = run_request(None, [], src, dst, source_kind="gmail", destination_kind="m365",
                          bytes_per_second=2_000_000)
    s = request.settings
    assert s.kinds == ("gmail", "m365")
    assert s.limits.bytes_per_second == 2_000_000 and s.limits.destination_connections == 12
    assert s.copy.max_message_bytes == 35 * 2**20
    assert s.folders.left_out(("[Gmail]", "Alle Nachrichten"), ("\\All",))
    with pytest.raises(SettingsError, match="at least 1"):
        run_request(None, [], src, dst, max_connections=0)
    with pytest.raises(SettingsError, match="rate limit must be more than 0"):
        run_request(None, [], src, dst, messages_per_second=0)


def test_bad_limits_name_their_option(tmp_path):
    users = write_csv(tmp_path / "users.csv", [(USER, PASSWORD)])
    base = ["migrate", "--users", str(users), "--source-host", "127.0.0.1:1",
            "--target-host", "127.0.0.1:2", "--target-auth", "user",
            "--log-dir", str(tmp_path / "logs")]
    for extra, words in ((["--max-bytes-per-second", "0"], "--max-bytes-per-second must be "
                                                          "more than 0, not 0"),
                         (["--max-messages-per-second", "-1"], "--max-messages-per-second "
                                                               "must be more than 0"),
                         (["--max-connections", "0"], "--max-connections must be at least 1"),
                         (["--source-preset", "yahoo"], "argument --source-preset: invalid "
                                                        "choice: 'yahoo'")):
        proc = kimt(*base, *extra, check_rc=2)
        assert words in proc.stderr and "Traceback" not in proc.stderr


def test_exchanges_combined_admin_login_is_sent_as_exchange_wants_it(tmp_path):
    """`--source-master-style combined`: LOGIN "DOMAIN\\admin\\alias" with the admin's
    password (the fake server keys its mailboxes by the login name exactly as sent)."""
    from fake_imap import FakeImap

    users = write_csv(tmp_path / "users.csv", [(USER, "not-used")])
    admin_pass = tmp_path / "admin.pass"
    admin_pass.write_text("Admin-Secret\n")
    wire_name = "example\\\\admin\\\\jdoe"  # quoted: each backslash escaped
    with FakeImap({wire_name: [make_message("for the admin's login")]}) as fake:
        proc = kimt("check", "--users", str(users), "--source-host", f"127.0.0.1:{fake.port}",
                    "--source-security", "none", "--source-auth", "master",
                    "--source-master-style", "combined", "--source-user", "EXAMPLE\\admin",
                    "--source-pass-file", str(admin_pass), "--source-login", "local",
                    check_rc=0)
    assert f"ok {USER}: 1 folder, 1 message" in proc.stdout
